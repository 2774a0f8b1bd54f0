"""`load-sample`: load the bundled synthetic health system and build."""

from __future__ import annotations

import argparse

from pipelines.cli import common
from pipelines.cli.common import command
from pipelines.ingest.first_run import load_sample, needs_sample


def register(sub: argparse._SubParsersAction) -> None:
    from pipelines.cli.main import add_db_argument

    p = sub.add_parser("load-sample", help="load the bundled synthetic health system and build")
    add_db_argument(p)
    p.add_argument("--force", action="store_true", help="load even if the warehouse already has uploads")
    p.set_defaults(func=_cli)


@command
def _cli(args) -> int:
    common.writable_warehouse(args.db)
    if not args.force and not needs_sample(args.db):
        print("The warehouse already has uploads; use --force to add the sample anyway.")
        return 0
    for line in load_sample(args.db, actor="cli"):
        print(line)
    return 0
