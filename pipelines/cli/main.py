"""Command-line entry point. Each feature module registers its own subcommands.

Exit codes: 0 success, 2 input rejected (nothing stored), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that define `register(subparsers)`; each adds its subcommands. Add one line per module.
COMMAND_MODULES = (
    "pipelines.cli.sample",
    "pipelines.cli.ingest",
    "pipelines.cli.first_run",
    "pipelines.cli.docs",
    "pipelines.cli.analytics",
    "pipelines.cli.models",
    "pipelines.cli.reports",
    "pipelines.cli.audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a readable message, exit 1
        print(f"error: {exc}", file=sys.stderr)
        return 1
