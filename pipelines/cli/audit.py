"""`audit-log`: who did what, when."""

from __future__ import annotations

import datetime as dt
import json

from pipelines.store.audit import entries


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
        import argparse

        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


def _cli(args) -> int:
    from pipelines.store import warehouse

    with warehouse.connect(args.db, read_only=True) as con:
        rows = entries(con, since=args.since, action=args.action, actor=args.actor)
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    if not rows:
        print("No audit entries match.")
        return 0
    print(f"{'when':<19}  {'who':<28} {'action':<18} {'object':<18} outcome  detail")
    for r in rows:
        print(
            f"{r['logged_at']:%Y-%m-%d %H:%M:%S}  {str(r['actor'] or '-'):<28} {r['action']:<18} "
            f"{str(r['object'] or '-'):<18} {r['outcome']:<8} {r['detail']}"
        )
    return 0
