"""`audit-log`: who did what, when."""

from __future__ import annotations

import argparse
import datetime as dt

from pipelines.cli import common, output
from pipelines.cli.common import command
from pipelines.store.audit import entries

COLUMNS = (
    output.Column("logged_at", "when", kind="datetime"),
    output.Column("actor", "who"),
    output.Column("action"),
    output.Column("object"),
    output.Column("outcome"),
    output.Column("detail", wrap=80),
)


# ------------------------------------------------------------------------------------------
# CLI: python -m pipelines audit-log
# ------------------------------------------------------------------------------------------
def register(sub) -> None:
    from pipelines.cli.main import add_db_argument

    p = sub.add_parser("audit-log", help="who did what, when: sign-ins, uploads, deletions, exports, settings")
    add_db_argument(p)
    p.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="only entries on or after this date")
    p.add_argument("--action", help="only this action (e.g. upload, export, 'settings change')")
    p.add_argument("--actor", help="only this user")
    p.add_argument("--json", action="store_true", help="JSON for machines")
    p.set_defaults(func=_cli)


def _date(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


@command
def _cli(args) -> int:
    with common.reading(args.db) as con:
        rows = entries(con, since=args.since, action=args.action, actor=args.actor)
    if args.json:
        output.write_json(rows)
    else:
        output.print_table(rows, COLUMNS, empty="No audit entries match.")
    return 0
