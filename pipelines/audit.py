"""The audit log: who did what, when, to which object, with what outcome.

Actions: sign-in, upload, upload headcount, delete upload, replace wave, export, settings change,
build. Every writer in `pipelines/` records its action here, inside its own transaction where it
has one, so the log and the change it records commit together.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb


def record(
    con: duckdb.DuckDBPyConnection,
    actor: str | None,
    action: str,
    obj: str | None,
    detail: dict | None = None,
    outcome: str = "ok",
    prefix: str = "",
) -> None:
    """Append one entry. `prefix` is "wh." when the warehouse is attached under that name."""
    con.execute(
        f"insert into {prefix}audit_log values (current_timestamp, ?, ?, ?, ?, ?)",
        [actor, action, obj, outcome, json.dumps(detail or {}, default=str)],
    )


def entries(
    con: duckdb.DuckDBPyConnection,
    since: dt.datetime | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int = 10_000,
) -> list[dict]:
    """Entries newest first, optionally filtered."""
    clauses, params = [], []
    if since is not None:
        clauses.append("logged_at >= ?")
        params.append(since)
    if action:
        clauses.append("action = ?")
        params.append(action)
    if actor:
        clauses.append("actor = ?")
        params.append(actor)
    where = f"where {' and '.join(clauses)}" if clauses else ""
    cur = con.execute(
        f"select logged_at, actor, action, object, outcome, detail from audit_log {where} "
        f"order by logged_at desc limit {int(limit)}",
        params,
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


# ------------------------------------------------------------------------------------------
# CLI: python -m pipelines audit-log
# ------------------------------------------------------------------------------------------
def register(sub) -> None:
    from pipelines.cli import add_db_argument

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
    from pipelines import warehouse

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
