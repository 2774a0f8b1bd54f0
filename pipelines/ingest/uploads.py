"""The upload history: list what was loaded, and delete an upload with every row it brought."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipelines.store import warehouse
from pipelines.store.audit import record as audit


def record_upload(
    mem,
    *,
    upload_id: str,
    kind: str,
    name: str,
    sha256: str,
    wave: str | None,
    uploaded_by: str | None,
    rows_read: int,
    rows_loaded: int,
    detail: dict[str, Any],
) -> None:
    """The uploads row and the audit entry of a roster or turnover file, inside the caller's
    transaction on the staging connection that has the warehouse attached as `wh`."""
    mem.execute(
        "insert into wh.uploads values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, [], 0)",
        [upload_id, kind, name, sha256, kind, wave, uploaded_by, dt.datetime.now(), rows_read, rows_loaded],
    )
    audit(mem, uploaded_by, f"upload {kind}", upload_id, detail, prefix="wh.")


def list_uploads(db=None) -> list[dict]:
    with warehouse.connect(db, read_only=True) as con:
        cur = con.execute(
            "select upload_id, kind, wave, file_name, detected_format, uploaded_by, uploaded_at, rows_read, "
            "rows_loaded, rows_rejected, dropped_columns, warnings, sha256 from uploads order by uploaded_at, upload_id"
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def delete_upload(upload_id: str, db=None, actor: str | None = None) -> dict:
    """Remove an upload and every row it brought, in one transaction. Raises KeyError if unknown."""
    with warehouse.connect(db) as con, warehouse.transaction(con):
        row = con.execute("select kind, wave, file_name from uploads where upload_id = ?", [upload_id]).fetchone()
        if row is None:
            raise KeyError(upload_id)
        kind, wave, file_name = row
        table = {"responses": "responses", "headcount": "headcount", "turnover": "turnover"}[kind]
        removed = con.execute(f"select count(*) from {table} where upload_id = ?", [upload_id]).fetchone()[0]
        con.execute(f"delete from {table} where upload_id = ?", [upload_id])
        con.execute("delete from uploads where upload_id = ?", [upload_id])
        audit(con, actor, "delete upload", upload_id, {"file": file_name, "wave": wave, "rows": removed})
    return {"upload_id": upload_id, "kind": kind, "wave": wave, "file_name": file_name, "rows_removed": removed}
