"""CLI: `ingest-turnover FILE [--db PATH] [--by NAME] [--json]`: actual separations per unit and period."""

from __future__ import annotations

import argparse

from pipelines.cli import common
from pipelines.cli.common import command
from pipelines.cli.ingest import _print_report
from pipelines.cli.main import add_db_argument
from pipelines.ingest.turnover import ingest_turnover


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest-turnover",
        help="load actual turnover (site, department, role, period, headcount_at_start, leavers)",
        description="Load aggregate separations per unit and period from CSV or XLSX (docs/turnover.md). "
        "Any invalid row rejects the whole file; nothing is stored. A new file replaces the periods it covers.",
    )
    p.add_argument("file", help="CSV or .xlsx: site, department, role, period, headcount_at_start, leavers "
                   "[, voluntary_leavers, involuntary_leavers, period_months]")  # fmt: skip
    add_db_argument(p)
    p.add_argument("--by", dest="uploaded_by", help="who is loading (recorded in the upload history)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    p.set_defaults(func=_ingest_turnover)


@command
def _ingest_turnover(args) -> int:
    common.input_file(args.file)
    common.writable_warehouse(args.db)
    result = ingest_turnover(args.file, db=args.db, uploaded_by=args.uploaded_by or "cli")
    return _print_report(result, args.json)
