"""One entry point for every export, shared by the CLI and the dashboard's Reports page.

    from pipelines.reports import build_export
    content, filename, mime = build_export("pdf", db=None, wave="2026", site="Riverside", actor="cmo@x.org")

Reads the released tables on a short read-only connection, builds the file, then records an audit
entry (who, format, scope, file) on a short writable connection. A failed export is audited too.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipelines.reports import data as report_data
from pipelines.store import audit, warehouse

FORMATS: dict[str, tuple[str, str]] = {
    "pdf": (".pdf", "application/pdf"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pptx": (".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    "csv": (".zip", "application/zip"),  # the page downloads the CSV extracts as one zip
}
Progress = Callable[[float, str], None] | None


def default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name available (containers)
        return "cli"


def load(db: str | os.PathLike | None = None, *, wave=None, site=None, department=None) -> report_data.ReportData:
    """The scoped released tables (see pipelines.reports.data)."""
    with warehouse.connect(db, read_only=True) as con:
        return report_data.load(con, wave=wave, site=site, department=department)


def render(fmt: str, data: report_data.ReportData, progress: Progress = None) -> bytes:
    """The export's bytes (csv: a zip of the CSV files and manifest.json)."""
    if fmt == "pdf":
        from pipelines.reports.pdf import build_pdf

        return build_pdf(data, progress)
    if fmt == "xlsx":
        from pipelines.reports.xlsx import build_xlsx

        return build_xlsx(data, progress)
    if fmt == "pptx":
        from pipelines.reports.pptx import build_pptx

        return build_pptx(data, progress)
    if fmt == "csv":
        from pipelines.reports.csv_export import zip_bytes

        return zip_bytes(data)
    raise ValueError(f"Unknown export format {fmt!r}; choose from {', '.join(FORMATS)}.")


def _audit(db, actor: str | None, fmt: str, filename: str, scope: dict[str, Any], outcome: str, extra: dict) -> None:
    detail = {"format": fmt, "scope": scope, **extra}
    with warehouse.connect(db) as con:
        audit.record(con, actor or default_actor(), "export", filename, detail, outcome=outcome)


def build_export(
    fmt: str,
    db: str | os.PathLike | None = None,
    wave: str | None = None,
    site: str | None = None,
    department: str | None = None,
    actor: str | None = None,
    progress: Progress = None,
) -> tuple[bytes, str, str]:
    """(content bytes, file name, MIME type) of a pdf | xlsx | pptx | csv (zip) export of one scope.

    Audited (action "export") with the actor, format, scope, tables and size. Raises
    report_data.ScopeError for a scope that is not released, ValueError for an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; choose from {', '.join(FORMATS)}.")
    requested = {"wave": wave, "site": site, "department": department}
    if progress:
        progress(0.02, "Reading the released tables")
    try:
        data = load(db, wave=wave, site=site, department=department)
        content = render(fmt, data, progress)
    except Exception as exc:
        with contextlib.suppress(Exception):  # the export's own error is the one to report
            _audit(db, actor, fmt, "", requested, "error", {"error": str(exc)[:500]})
        raise
    suffix, mime = FORMATS[fmt]
    filename = data.slug() + suffix
    _audit(
        db,
        actor,
        fmt,
        filename,
        data.as_dict(),
        "ok",
        {
            "tables": {name: len(frame) for name, frame in data.tables.items()},
            "bytes": len(content),
            "threshold": data.k,
            "generated_at": data.generated_at.isoformat(),
        },
    )
    if progress:
        progress(1.0, "Done")
    return content, filename, mime


def export(
    fmt: str,
    out: str | os.PathLike,
    db: str | os.PathLike | None = None,
    *,
    wave: str | None = None,
    site: str | None = None,
    department: str | None = None,
    actor: str | None = None,
    progress: Progress = None,
) -> Path:
    """Write an export to `out` (csv: `out` is a directory of CSV files plus manifest.json)."""
    out = Path(out)
    if fmt == "csv":
        import io
        import zipfile

        content, _, _ = build_export(fmt, db, wave, site, department, actor, progress)
        out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            for name in zf.namelist():
                (out / Path(name).name).write_bytes(zf.read(name))
        return out
    content, _, _ = build_export(fmt, db, wave, site, department, actor, progress)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    return out
