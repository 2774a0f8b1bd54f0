"""What an ingest reports, and the set-based checks that write its messages.

`IngestResult` is the outcome of one ingest (survey or roster): status, counts, the column plan and
every error and warning. The checks read the staging tables that convert.py leaves (`clean`,
`clean_full`, the per-value tables dv_<field>) and name the row, the column and the value, a few
examples per column and a count of the rest.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipelines import contract
from pipelines.contract.safety import inert
from pipelines.ingest.convert import _lit
from pipelines.ingest.mapping import ColumnPlan
from pipelines.ingest.readers import SourceFile

MAX_EXAMPLES_PER_COLUMN = 5


@dataclass
class IngestResult:
    status: str  # loaded | rejected
    upload_id: str | None
    wave: str | None
    file_name: str
    detected_format: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    dropped_columns: list[str] = field(default_factory=list)
    dropped_detail: list[dict] = field(default_factory=list)
    mapped_columns: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    replaced_uploads: list[str] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)  # first converted rows (dry runs only)
    columns: list[str] = field(default_factory=list)  # the file's column names

    def to_json(self) -> dict:
        keys = (
            "status",
            "upload_id",
            "wave",
            "rows_read",
            "rows_loaded",
            "rows_rejected",
            "dropped_columns",
            "warnings",
            "errors",
        )
        full = asdict(self)
        out = {k: full[k] for k in keys}
        out.update(
            file_name=self.file_name,
            detected_format=self.detected_format,
            dropped_detail=self.dropped_detail,
            replaced_uploads=self.replaced_uploads,
        )
        return out


def _resolve_wave(mem, plan: ColumnPlan, wave: str | None, report: IngestResult) -> str | None:
    if plan.wave_column is None:
        if not wave:
            report.errors.append(f"{report.file_name}: say which wave this file is (--wave), e.g. 2025 or 2025-spring.")
            return None
        return wave.strip()
    col = f"c{plan.wave_column}"
    values = [
        r[0]
        for r in mem.execute(
            f"select distinct clean_text({col}) from stage where clean_text({col}) is not null order by 1 limit 3"
        ).fetchall()
    ]
    if wave:
        if values and values != [wave]:
            report.warnings.append(
                f"The file's wave column says {', '.join(values)}; the wave given at upload ({wave}) is used."
            )
        return wave.strip()
    if len(values) == 1:
        return values[0]
    if not values:
        report.errors.append(f"{report.file_name}: the wave column is empty; say which wave this file is (--wave).")
    else:
        report.errors.append(
            f"{report.file_name}: the wave column holds several waves ({', '.join(values)}…); one upload is one wave. "
            "Split the file or give --wave."
        )
    return None


def _report_problems(mem, source: SourceFile, plan: ColumnPlan, report: IngestResult) -> None:
    """Errors for the rejected rows (a required field missing or unusable) and warnings for answers
    that were given but could not be used (stored as missing), from the tables `_convert` left."""
    positions = {f: plan.fields.get(f, []) for f in contract.FIELD_NAMES}
    rejected_by = dict(
        mem.execute("select _reject, count(*) from clean where _reject is not null group by 1").fetchall()
    )
    for f in contract.REQUIRED_FIELDS:
        if not rejected_by.get(f):
            continue
        count, rows = _examples(mem, f"_reject = {_lit(f)}", f"raw__{f}")
        for row, raw in rows:
            col = source.columns[positions[f][0]]
            if raw is None:
                report.errors.append(f"Row {row}: {f} is empty (column '{col}'); the row was rejected.")
            elif f == "role":
                report.errors.append(
                    f"Row {row}: role '{raw}' in column '{col}' is not a recognised role "
                    "(physician, APP, nurse, resident, other clinical); the row was rejected."
                )
            else:
                report.errors.append(f"Row {row}: {f} '{raw}' in column '{col}' is not usable; the row was rejected.")
        if count > len(rows):
            report.errors.append(f"…and {count - len(rows)} more rows rejected for {f}.")
    # Warnings: answers that were given but could not be used (checked on the distinct values first).
    for f in contract.FIELD_NAMES:
        if f in contract.REQUIRED_FIELDS or f not in plan.fields:
            continue
        bad = "len(unknown) > 0" if f == "leave_reasons" else "raw is not null and val is null"
        if not mem.execute(f"select count(*) from dv_{f} where {bad}").fetchone()[0]:
            continue
        if f == "leave_reasons":
            count, rows = _examples(
                mem,
                "_reject is null and len(unknown__leave_reasons) > 0",
                "array_to_string(unknown__leave_reasons, '; ')",
            )
            for row, raw in rows:
                report.warnings.append(f"Row {row} (leave_reasons): '{raw}' is not a known reason; ignored.")
            if count > len(rows):
                report.warnings.append(f"leave_reasons: {count - len(rows)} more rows with unknown reasons; ignored.")
            continue
        count, rows = _examples(mem, f"_reject is null and raw__{f} is not null and {f} is null", f"raw__{f}")
        col = source.columns[positions[f][0]]
        label = f"column '{col}'" if col == f else f"column '{col}' ({f})"
        for row, raw in rows:
            report.warnings.append(f"Row {row}, {label}: '{raw}' is {_expectation(f)}; stored as missing.")
        if count > len(rows):
            report.warnings.append(
                f"Column '{col}' ({f}): {count - len(rows)} more rows with values that are not valid; stored as missing."
            )
    for pos, kind in plan.exact_numeric.items():
        report.warnings.append(
            f"Column '{source.columns[pos]}' held exact {kind} values; they were converted to bands and not stored."
        )


def _examples(mem, where: str, raw_expr: str) -> tuple[int, list[tuple[int, str]]]:
    count = mem.execute(f"select count(*) from clean_full where {where}").fetchone()[0]
    if not count:
        return 0, []
    rows = mem.execute(
        f"select _row, {raw_expr} from clean_full where {where} order by _row limit {MAX_EXAMPLES_PER_COLUMN}"
    ).fetchall()
    return count, rows


def _expectation(f: str) -> str:
    fld = contract.FIELDS_BY_NAME[f]
    if fld.kind in ("item",):
        return "not an answer on the 1–5 scale (a code 1–5 or one of its labels)"
    if fld.kind == "itl":
        return "not an answer on the 1–5 intent-to-leave scale (none, slight, moderate, likely, definitely)"
    if fld.kind == "fte":
        return "not a clinical FTE between 0 and 1 (or 0–100%)"
    if fld.kind in ("integer", "number"):
        return f"not a number between {fld.minimum:g} and {fld.maximum:g}"
    if fld.kind == "yesno":
        return "not yes or no"
    if fld.values:
        return "not one of " + ", ".join(fld.values)
    return "not valid"


def write_rejected_rows(mem, out: str | Path) -> Path:
    """The rejected rows with their row number, reason and the answers in contract columns only
    (identifier columns are never written back out)."""
    out = Path(out)
    raw_cols = [r[0] for r in mem.execute("describe clean_full").fetchall() if r[0].startswith("raw__")]
    rows = mem.execute(
        f"select _row, _reject, {', '.join(raw_cols)} from clean_full where _reject is not null order by _row"
    ).fetchall()
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "reason", *(c.removeprefix("raw__") for c in raw_cols)])
        for r in rows:
            reason = f"{r[1]} is empty or not valid"
            w.writerow([r[0], reason, *(inert(v) for v in r[2:])])
    return out
