"""CSV extracts: one CSV per released table in scope (with its `n` and `suppressed` columns, exactly as
released), plus manifest.json (tables, scope, wave, threshold, generated at).

Suppressed rows keep their empty figures (a hidden cell has no number to write); text cells are made
inert against formula injection (tabular.inert); numbers stay numbers.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.release.tables import describe
from pipelines.reports.data import ReportData
from pipelines.reports.tabular import safe_frame


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    out = safe_frame(frame)
    for col in ("n", "suppressed"):
        if col not in out.columns:
            out[col] = pd.NA  # every extract carries both columns, even a public reference table
    buf = io.StringIO()
    out.to_csv(buf, index=False, lineterminator="\n", date_format="%Y-%m-%dT%H:%M:%S")
    return buf.getvalue().encode("utf-8")


def manifest(data: ReportData, files: dict[str, str]) -> dict[str, Any]:
    s = data.scope
    return {
        "generated_at": data.generated_at.isoformat(),
        "released_tables_built_at": data.built_at.isoformat() if data.built_at is not None else None,
        "scope": {"level": s.level, "site": s.site, "department": s.department},
        "wave": data.wave,
        "waves_included": list(data.waves),
        "threshold": {"min_group_size": data.k, "intentions_min_group_size": data.intentions_k},
        "tables": [
            {
                "name": name,
                "file": files[name],
                "kind": data.kinds.get(name, ""),
                "rows": int(len(frame)),
                "suppressed_rows": int(frame["suppressed"].fillna(True).astype(bool).sum())
                if "suppressed" in frame
                else 0,
                "description": describe(name),
            }
            for name, frame in data.tables.items()
        ],
        "left_out": data.left_out,
        "notes": (
            "Only released (confidentiality-checked) rows inside the scope. A suppressed row carries no figure. "
            "Text cells starting with = + - @ tab or CR are prefixed with ' so spreadsheets treat them as text."
        ),
    }


def files(data: ReportData) -> dict[str, bytes]:
    """{file name: bytes} of every CSV plus manifest.json."""
    out: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for name, frame in data.tables.items():
        fname = f"{name}.csv"
        names[name] = fname
        out[fname] = _csv_bytes(frame)
    out["manifest.json"] = json.dumps(manifest(data, names), indent=2, default=str).encode("utf-8")
    return out


def write_dir(data: ReportData, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fname, content in files(data).items():
        (out / fname).write_bytes(content)
    return out


def zip_bytes(data: ReportData) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for fname, content in files(data).items():
            zf.writestr(fname, content)
    return buf.getvalue()
