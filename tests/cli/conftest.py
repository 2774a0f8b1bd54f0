"""One real warehouse for the CLI tests: the bundled sample, loaded and built by the CLI itself."""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.cli.main import main


@dataclass
class Run:
    code: int
    out: str
    err: str


def run(*argv: str) -> Run:
    """`python -m pipelines ARGV` in this process, with its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample health system (3 waves, a roster), built. Read-only for the tests: copy it to write."""
    path = tmp_path_factory.mktemp("cli") / "warehouse.duckdb"
    result = run("load-sample", "--db", path)
    assert result.code == 0, result.err
    return path


@pytest.fixture
def writable_db(sample_db: Path, tmp_path: Path) -> Path:
    """A copy of the sample warehouse a test may change."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_db, copy)
    return copy
