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
