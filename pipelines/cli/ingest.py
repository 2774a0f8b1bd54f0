"""CLI: `ingest`, `ingest-headcount` and `uploads list|delete`."""

from __future__ import annotations

import argparse

from pipelines.cli import common, output
from pipelines.cli.common import EXIT_OK, EXIT_REJECTED, InputError, command
from pipelines.cli.main import add_db_argument
from pipelines.ingest import IngestResult, delete_upload, ingest, ingest_headcount, list_uploads

UPLOAD_COLUMNS = (
    output.Column("upload_id", "upload"),
    output.Column("kind"),
    output.Column("wave"),
    output.Column("rows_loaded", "loaded", kind="int"),
    output.Column("rows_rejected", "rejected", kind="int"),
    output.Column("uploaded_at", "uploaded at", kind="datetime"),
    output.Column("uploaded_by", "by"),
    output.Column("file_name", "file"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="load one survey file as (part of) one wave")
    p.add_argument("file", help="CSV, Qualtrics CSV, REDCap CSV or .xlsx export")
    p.add_argument("--wave", help="wave label, e.g. 2025 or 2025-spring (or read from a 'wave' column)")
    add_db_argument(p)
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "canonical", "qualtrics", "redcap", "xlsx"],
        help="source format (default: detect)",
    )
    p.add_argument("--mapping", metavar="FILE", help="JSON mapping file: source column -> contract field")
    p.add_argument("--dictionary", metavar="FILE", help="REDCap data dictionary CSV (labels, identifiers)")
    p.add_argument("--replace", action="store_true", help="replace the wave's data instead of adding to it")
    p.add_argument("--rejected-out", metavar="CSV", help="write rejected rows (row, reason, answers) here")
    p.add_argument("--max-rejected", type=float, metavar="SHARE", help="reject the file above this share of bad rows")
    p.add_argument("--by", dest="uploaded_by", help="who is loading (recorded in the upload history)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    p.set_defaults(func=_ingest)

    h = sub.add_parser("ingest-headcount", help="load a headcount roster (site, department, role, headcount)")
    h.add_argument("file")
    add_db_argument(h)
    h.add_argument("--by", dest="uploaded_by")
    h.add_argument("--json", action="store_true")
    h.set_defaults(func=_ingest_headcount)

    u = sub.add_parser("uploads", help="list or delete uploads")
    usub = u.add_subparsers(dest="action", required=True)
    ul = usub.add_parser("list", help="upload history")
    add_db_argument(ul)
    ul.add_argument("--json", action="store_true")
    ul.set_defaults(func=_uploads_list)
    ud = usub.add_parser("delete", help="remove an upload and all its rows")
    ud.add_argument("upload_id")
    add_db_argument(ud)
    ud.add_argument("--by", dest="actor")
    ud.add_argument("--json", action="store_true")
    ud.set_defaults(func=_uploads_delete)


def _print_report(result: IngestResult, as_json: bool) -> int:
    if as_json:
        output.write_json(result.to_json())
    else:
        print(format_report(result))
    if result.status == "loaded":
        return EXIT_OK
    reason = result.errors[0] if result.errors else "see the report above"
    return common.fail(f"{result.file_name} was rejected, nothing was stored: {reason}", EXIT_REJECTED)


def format_report(r: IngestResult) -> str:
    lines = []
    if r.status == "loaded":
        lines.append(f"Loaded {r.file_name} as upload {r.upload_id} (wave {r.wave}, format {r.detected_format}).")
    else:
        lines.append(f"REJECTED {r.file_name}: nothing was stored.")
    lines.append(f"  rows read {r.rows_read}, loaded {r.rows_loaded}, rejected {r.rows_rejected}")
    if r.replaced_uploads:
        lines.append(f"  replaced earlier uploads of wave {r.wave}: {', '.join(r.replaced_uploads)}")
    if r.dropped_detail:
        lines.append("  columns dropped (never stored):")
        for d in r.dropped_detail:
            lines.append(f"    - {d['column']}: {d['reason']}")
    if r.errors:
        lines.append("  errors:")
        lines.extend(f"    - {e}" for e in r.errors)
    if r.warnings:
        lines.append("  warnings:")
        lines.extend(f"    - {w}" for w in r.warnings)
    return "\n".join(lines)


@command
def _ingest(args) -> int:
    common.input_file(args.file)
    common.input_file(args.mapping, "mapping file")
    common.input_file(args.dictionary, "data dictionary")
    common.output_file(args.rejected_out, "--rejected-out")
    common.writable_warehouse(args.db)
    result = ingest(
        args.file,
        wave=args.wave,
        db=args.db,
        fmt=args.format,
        mapping=args.mapping,
        dictionary=args.dictionary,
        replace=args.replace,
        uploaded_by=args.uploaded_by or "cli",
        rejected_out=args.rejected_out,
        max_rejected_share=args.max_rejected,
    )
    return _print_report(result, args.json)


@command
def _ingest_headcount(args) -> int:
    common.input_file(args.file)
    common.writable_warehouse(args.db)
    return _print_report(ingest_headcount(args.file, db=args.db, uploaded_by=args.uploaded_by or "cli"), args.json)


@command
def _uploads_list(args) -> int:
    common.existing_warehouse(args.db)
    rows = list_uploads(args.db)
    if args.json:
        output.write_json(rows)
    else:
        output.print_table(rows, UPLOAD_COLUMNS, empty="No uploads yet.")
    return 0


@command
def _uploads_delete(args) -> int:
    common.existing_warehouse(args.db)
    try:
        info = delete_upload(args.upload_id, args.db, actor=args.actor or "cli")
    except KeyError:
        raise InputError(f"no upload {args.upload_id!r}; see `python -m pipelines uploads list`.") from None
    if args.json:
        output.write_json(info)
    else:
        print(f"Deleted upload {info['upload_id']} ({info['file_name']}): {info['rows_removed']} rows removed.")
    return 0
