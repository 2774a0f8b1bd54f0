"""Command-line entry point. Each command-group module registers its own subcommands.

Every error is one line `error: <message>` on stderr (pipelines/cli/common.py). Exit codes:
0 success, 2 input rejected (nothing stored), 1 internal error. Tables and JSON are printed
through pipelines/cli/output.py.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import NoReturn

# Modules that define `register(subparsers)`; each adds its subcommands. Add one line per module.
COMMAND_MODULES = (
    "pipelines.cli.sample",
    "pipelines.cli.ingest",
    "pipelines.cli.first_run",
    "pipelines.cli.docs",
    "pipelines.cli.analytics",
    "pipelines.cli.risk",
    "pipelines.cli.drivers",
    "pipelines.cli.scenario",
    "pipelines.cli.reports",
    "pipelines.cli.audit",
    "pipelines.cli.turnover",
)


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's error form: the usage, then `error: <message>`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m pipelines",
        description="Clinician retention analytics: warehouse, ingest, analytics and exports.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="PATH",
        help="warehouse file (default: $CLINRET_DB or data/warehouse.duckdb)",
    )


def main(argv: list[str] | None = None) -> int:
    from pipelines.cli.common import EXIT_INTERNAL, EXIT_REJECTED, InputError, fail

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_REJECTED
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head` closed the pipe: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_INTERNAL
    except InputError as exc:
        return fail(str(exc), EXIT_REJECTED)
    except Exception as exc:  # the last line of defence: a readable message, exit 1
        return fail(str(exc) or type(exc).__name__, EXIT_INTERNAL)
