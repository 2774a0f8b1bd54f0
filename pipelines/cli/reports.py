"""`python -m pipelines export`: the PDF board report, Excel workbook, PowerPoint deck or CSV extracts.

    python -m pipelines export --format pdf|xlsx|pptx|csv --out PATH [--db PATH] [--wave LABEL]
                               [--site S] [--department D] [--actor NAME]

csv: --out is a directory (one CSV per released table plus manifest.json). Every export is built only
from released tables, limited to the scope, and written to the audit log. Exit codes: 0 written,
2 scope not in the released tables, 1 anything else.
"""

from __future__ import annotations

import argparse
import sys

from pipelines.cli import common
from pipelines.cli.common import InputError, command
from pipelines.cli.main import add_db_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a PDF report, Excel workbook, PowerPoint deck or CSV extracts",
        description="Export the released tables of one scope (wave, optionally a site or a site's department).",
    )
    p.add_argument("--format", required=True, choices=["pdf", "xlsx", "pptx", "csv"], dest="fmt")
    p.add_argument("--out", required=True, metavar="PATH", help="output file (csv: output directory)")
    add_db_argument(p)
    p.add_argument("--wave", metavar="LABEL", help="survey wave (default: the latest released wave)")
    p.add_argument("--site", metavar="S", help="limit the export to this site")
    p.add_argument("--department", metavar="D", help="limit the export to this department (of --site)")
    p.add_argument("--actor", metavar="NAME", help="who is exporting, for the audit log (default: cli:<user>)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_export)


@command
def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.reports import ScopeError, export

    # Checked before anything is read, written or audited.
    if args.fmt == "csv":
        common.output_directory(args.out, "--out")
    else:
        common.output_file(args.out, "--out")
    common.existing_warehouse(args.db)

    def progress(fraction: float, message: str) -> None:
        if not args.quiet:
            print(f"[{100 * fraction:3.0f}%] {message}", file=sys.stderr)

    try:
        path = export(
            args.fmt,
            args.out,
            args.db,
            wave=args.wave,
            site=args.site,
            department=args.department,
            actor=args.actor,
            progress=progress,
        )
    except ScopeError as exc:
        raise InputError(str(exc)) from exc
    print(f"wrote {path}")
    return 0
