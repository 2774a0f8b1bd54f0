"""Docs stay true: the generated contract page is current and every CLI command is documented."""

from __future__ import annotations

from pipelines.cli import main as cli
from pipelines.contract import docs
from tests.conftest import ROOT


def test_data_contract_page_is_generated_from_the_code():
    assert docs.DOC.read_text(encoding="utf-8") == docs.render(), "run `python -m pipelines docs`"


def test_every_cli_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    missing = [name for name in commands if f"python -m pipelines {name}" not in readme]
    assert not missing, f"document these commands in README.md: {missing}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in readme and "make test" in ci
