"""Actual turnover: aggregate separations per unit and period, uploaded by HR or a wellness officer.

One row per site x department x role x period with the headcount at the start of the period and the
number who left during it (optionally split into voluntary and involuntary leavers, and the length of
the period in months; without it a period is taken to be two years, the horizon of the intent-to-leave
question and of the conversion rates P(leave | ITL), P(leave | no ITL)).

Same guarantees as the roster: the file is parsed and checked in an in-memory staging database; any
invalid row rejects the whole file and nothing is stored; every message names the file, the row, the
column and the reason; the insert, the upload record and the audit entry are one transaction. A new
upload replaces the stored rows of the periods it covers. A unit's leaver count is as sensitive as a
survey cell: it is never shown except through `pipelines.release.privacy.release`
(see pipelines/models/turnover.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from pipelines import contract
from pipelines.ingest.convert import _install_macros, _load_maps
from pipelines.ingest.mapping import ColumnPlan
from pipelines.ingest.readers import InputError, open_source
from pipelines.ingest.staging import _attached_warehouse, _stage, _staging_connection
from pipelines.ingest.uploads import record_upload
from pipelines.ingest.validate import IngestResult
from pipelines.store.warehouse import transaction

KIND = "turnover"
MAX_MESSAGES = 50
DEFAULT_MONTHS = 24.0

# field -> (required, accepted column names; compared after contract.normalise_name)
FIELDS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "site": (True, ("site", "location", "facility", "hospital")),
    "department": (True, ("department", "dept", "service", "division", "unit")),
    "role": (True, ("role", "job_role", "staff_type", "profession")),
    "period": (True, ("period", "wave", "survey_wave", "wave_label", "year", "fiscal_year")),
    "headcount_at_start": (
        True,
        ("headcount_at_start", "headcount_start", "start_headcount", "headcount", "head_count", "staff_at_start"),
    ),
    "leavers": (True, ("leavers", "separations", "departures", "leavers_total", "total_leavers", "exits")),
    "voluntary_leavers": (False, ("voluntary_leavers", "voluntary", "voluntary_separations", "resignations")),
    "involuntary_leavers": (False, ("involuntary_leavers", "involuntary", "involuntary_separations", "dismissals")),
    "period_months": (False, ("period_months", "months", "period_length_months")),
}
COUNT_FIELDS = ("headcount_at_start", "leavers", "voluntary_leavers", "involuntary_leavers")


def turnover_columns(columns: list[str]) -> dict[str, int]:
    """Turnover field -> position of the first source column that names it."""
    keys = [contract.normalise_name(c) for c in columns]
    pos: dict[str, int] = {}
    taken: set[int] = set()
    for f, (_req, names) in FIELDS.items():
        wanted = {contract.normalise_name(n) for n in names}
        for i, k in enumerate(keys):
            if k in wanted and i not in taken:
                pos[f] = i
                taken.add(i)
                break
    return pos


def _messages(mem, name: str, columns: list[str], pos: dict[str, int]) -> tuple[list[str], int]:
    """Every problem as 'file, row R, column C: reason' (at most MAX_MESSAGES), and the bad-row count."""
    col = {f: columns[i] for f, i in pos.items()}
    checks: list[tuple[str, str, str]] = [  # (field, SQL condition, reason expression)
        ("site", "site is null", "'a site is required'"),
        ("department", "department is null", "'a department is required'"),
        ("role", "raw_role is null", "'a role is required'"),
        (
            "role",
            "raw_role is not null and role is null",
            "'role ''' || raw_role || ''' is not a recognised role (" + ", ".join(contract.ROLES) + ")'",
        ),
        ("period", "period is null", "'a period (a wave label or a year) is required'"),
    ]
    for f in COUNT_FIELDS:
        if f not in pos:
            continue
        raw, val = f"raw_{f}", f
        required = FIELDS[f][0]
        if required:
            checks.append((f, f"{raw} is null", "'a number is required'"))
        checks += [
            (f, f"{raw} is not null and {val} is null", f"'''' || {raw} || ''' is not a number'"),
            (f, f"{val} < 0", f"'''' || {raw} || ''' is negative; a count cannot be below 0'"),
            (
                f,
                f"{val} >= 0 and {val} <> round({val})",
                f"'''' || {raw} || ''' is not a whole number of people'",
            ),
        ]
    checks.append(
        (
            "leavers",
            "leavers > headcount_at_start and headcount_at_start >= 0 and leavers = round(leavers) "
            "and headcount_at_start = round(headcount_at_start)",
            "'' || cast(leavers as bigint) || ' leavers is more than the headcount at start ('"
            " || cast(headcount_at_start as bigint) || ')'",
        )
    )
    if "voluntary_leavers" in pos or "involuntary_leavers" in pos:
        field = "voluntary_leavers" if "voluntary_leavers" in pos else "involuntary_leavers"
        checks.append(
            (
                field,
                "coalesce(voluntary_leavers, 0) + coalesce(involuntary_leavers, 0) > leavers and leavers >= 0 "
                "and coalesce(voluntary_leavers, 0) >= 0 and coalesce(involuntary_leavers, 0) >= 0",
                "'voluntary (' || coalesce(cast(voluntary_leavers as bigint), 0) || ') plus involuntary ('"
                " || coalesce(cast(involuntary_leavers as bigint), 0) || ') leavers is more than the leavers ('"
                " || cast(leavers as bigint) || ')'",
            )
        )
    if "period_months" in pos:
        checks += [
            (
                "period_months",
                "raw_period_months is not null and (period_months is null or period_months <= 0 "
                "or period_months > 120)",
                "'''' || raw_period_months || ''' is not a period length in months (above 0, at most 120)'",
            )
        ]
    selects = [
        f"select _row, {i} as k, {_sql_text(col.get(f, f))} as col, {reason} as reason from turnover_stage where {cond}"
        for i, (f, cond, reason) in enumerate(checks)
    ]
    rows = mem.execute(" union all ".join(selects) + " order by _row, k").fetchall()
    out = [f"{name}, row {row}, column {column}: {reason}." for row, _k, column, reason in rows[:MAX_MESSAGES]]
    if len(rows) > MAX_MESSAGES:
        out.append(f"{name}: {len(rows) - MAX_MESSAGES} more problems not listed.")
    bad_rows = {r[0] for r in rows}
    dupes = mem.execute(
        """select list(_row order by _row), any_value(site), any_value(department), role, period
           from turnover_stage where site is not null and department is not null and role is not null
                and period is not null
           group by lower(site), lower(department), role, period having count(*) > 1
           order by min(_row) limit 10"""
    ).fetchall()
    for rows_, site, dept, role, period in dupes:
        listed = ", ".join(map(str, rows_))
        out.append(
            f"{name}, rows {listed}, columns site/department/role/period: {site} / {dept} / {role} "
            f"({period}) appears {len(rows_)} times; give one row per unit and period."
        )
        bad_rows |= set(rows_)
    return out, len(bad_rows)


def _sql_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def ingest_turnover(
    path: str | Path, *, db=None, uploaded_by: str | None = None, original_name: str | None = None
) -> IngestResult:
    """Load aggregate separations (site, department, role, period, headcount_at_start, leavers
    [, voluntary_leavers][, involuntary_leavers][, period_months]) from CSV or XLSX, all or nothing.

    Returns an IngestResult (`detected_format` "turnover"); on rejection `errors` says why and the
    warehouse is untouched (not even created). A loaded file replaces the stored rows of its periods.
    """
    name = original_name or Path(path).name
    report = IngestResult("rejected", None, None, name, KIND)
    try:
        source = open_source(path, name)
    except InputError as exc:
        report.errors.append(str(exc))
        return report
    mem = _staging_connection()
    try:
        _install_macros(mem)
        report.columns = list(source.columns)
        pos = turnover_columns(source.columns)
        missing = [f for f, (req, _) in FIELDS.items() if req and f not in pos]
        if missing:
            report.errors.append(
                f"{name}: a turnover file needs columns {', '.join(missing)}; not found "
                f"(columns in the file: {', '.join(map(str, source.columns))})."
            )
            return report
        report.rows_read = _stage(mem, source)
        if not report.rows_read:
            report.errors.append(f"{name}: the turnover file has no rows.")
            return report
        _load_maps(mem, ColumnPlan())

        def num(f: str) -> str:
            return f"to_num(c{pos[f]})" if f in pos else "null::double"

        def raw(f: str) -> str:
            return f"clean_text(c{pos[f]})" if f in pos else "null::varchar"

        mem.execute(
            f"""create table turnover_stage as select _row,
                clean_text(c{pos["period"]}) as period,
                clean_text(c{pos["site"]}) as site,
                clean_text(c{pos["department"]}) as department,
                m_role[norm_label(c{pos["role"]})] as role, clean_text(c{pos["role"]}) as raw_role,
                {", ".join(f"{num(f)} as {f}, {raw(f)} as raw_{f}" for f in (*COUNT_FIELDS, "period_months"))}
            from stage, maps"""
        )
        errors, bad_rows = _messages(mem, name, source.columns, pos)
        report.rows_rejected = min(bad_rows, report.rows_read)
        if errors:
            report.errors = [f"{name}: the turnover file was not loaded; nothing changed.", *errors]
            return report
        periods = [r[0] for r in mem.execute("select distinct period from turnover_stage order by 1").fetchall()]
        report.wave = ", ".join(periods)
        report.rows_loaded = report.rows_read
        upload_id = "t-" + uuid.uuid4().hex[:12]
        with _attached_warehouse(mem, db), transaction(mem):
            replaced = mem.execute(
                "select distinct upload_id from wh.turnover where period in (select period from turnover_stage) "
                "order by 1"
            ).fetchall()
            report.replaced_uploads = [r[0] for r in replaced]
            mem.execute("delete from wh.turnover where period in (select period from turnover_stage)")
            mem.execute(
                """insert into wh.turnover select ?, period, site, department, role,
                       cast(headcount_at_start as integer), cast(leavers as integer),
                       cast(voluntary_leavers as integer), cast(involuntary_leavers as integer), period_months
                   from turnover_stage order by _row""",
                [upload_id],
            )
            record_upload(
                mem,
                upload_id=upload_id,
                kind=KIND,
                name=name,
                sha256=source.sha256,
                wave=report.wave,
                uploaded_by=uploaded_by,
                rows_read=report.rows_read,
                rows_loaded=report.rows_loaded,
                detail={
                    "file": name,
                    "rows": report.rows_loaded,
                    "periods": periods,
                    "replaced": report.replaced_uploads,
                },
            )
        report.upload_id = upload_id
        report.status = "loaded"
        return report
    except InputError as exc:  # a malformed file (bad quoting, ragged rows): rejected, nothing stored
        report.errors.append(str(exc))
        report.rows_loaded = 0
        return report
    finally:
        mem.close()
        source.cleanup()
