"""The headcount roster: how many people each unit (site, department, role) has, and what a
departure there costs. Loaded by `ingest-headcount`, never by the survey ingest (which refuses a
file that looks like a roster).
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

# Column names a roster's headcount and replacement cost go by (other fields use the contract's synonyms).
_ALIASES = {
    "headcount": ("headcount", "head_count", "staff", "fte_count", "count", "n"),
    "replacement_cost": ("replacement_cost", "cost", "turnover_cost"),
}


def _roster_columns(columns: list[str]) -> dict[str, int]:
    """Roster field -> position of the first source column that names it."""
    keys = [contract.normalise_name(c) for c in columns]
    pos: dict[str, int] = {}
    for f, _, _ in contract.HEADCOUNT_FIELDS:
        names = {contract.normalise_name(a) for a in _ALIASES.get(f, (f,))}
        if f in contract.FIELDS_BY_NAME:
            names |= {contract.normalise_name(s) for s in contract.FIELDS_BY_NAME[f].synonyms}
        if f == "wave":
            names |= {contract.normalise_name(w) for w in contract.WAVE_COLUMN_SYNONYMS}
        for i, k in enumerate(keys):
            if k in names and f not in pos:
                pos[f] = i
    return pos


def looks_like_roster(columns: list[str], plan: ColumnPlan) -> bool:
    """A file given to the survey ingest is a roster when it has every column a roster needs and
    no survey answer: nothing maps beyond the unit (site, department, role)."""
    found = _roster_columns(columns)
    required = [f for f, _, req in contract.HEADCOUNT_FIELDS if req]
    return all(f in found for f in required) and plan.mapped_fields() <= set(contract.DIMENSIONS)


def ingest_headcount(
    path: str | Path, *, db=None, uploaded_by: str | None = None, original_name: str | None = None
) -> IngestResult:
    """Load a roster (site, department, role, headcount[, replacement_cost][, wave]).

    A roster must be exact, so any invalid row rejects the whole file. A new roster replaces the
    current one for the waves it covers (rows without a wave cover every wave).
    """
    name = original_name or Path(path).name
    report = IngestResult("rejected", None, None, name, "headcount")
    try:
        source = open_source(path, name)
    except InputError as exc:
        report.errors.append(str(exc))
        return report
    mem = _staging_connection()
    try:
        _install_macros(mem)
        pos = _roster_columns(source.columns)
        missing = [f for f, _, req in contract.HEADCOUNT_FIELDS if req and f not in pos]
        if missing:
            report.errors.append(f"{name}: a headcount roster needs columns {', '.join(missing)}; not found.")
            return report
        report.rows_read = _stage(mem, source)
        if not report.rows_read:
            report.errors.append(f"{name}: the roster has no rows.")
            return report
        plan = ColumnPlan()
        _load_maps(mem, plan)
        wave_sql = f"clean_text(c{pos['wave']})" if "wave" in pos else "null::varchar"
        cost_sql = f"to_num(c{pos['replacement_cost']})" if "replacement_cost" in pos else "null::double"
        mem.execute(
            f"""create table roster as select _row,
                {wave_sql} as wave,
                clean_text(c{pos["site"]}) as site,
                clean_text(c{pos["department"]}) as department,
                m_role[norm_label(c{pos["role"]})] as role, c{pos["role"]} as raw_role,
                to_num(c{pos["headcount"]}) as headcount, c{pos["headcount"]} as raw_headcount,
                {cost_sql} as replacement_cost
            from stage, maps"""
        )
        problems = mem.execute(
            """select _row, site, department, role, raw_role, headcount, raw_headcount, replacement_cost from roster
               where site is null or department is null or role is null or headcount is null
                  or headcount < 0 or headcount <> round(headcount) or replacement_cost < 0 order by _row"""
        ).fetchall()
        for row, site, dept, role, raw_role, hc, raw_hc, _cost in problems[:50]:
            if site is None or dept is None:
                report.errors.append(f"Row {row}: site and department are required.")
            elif role is None:
                report.errors.append(f"Row {row}: role '{raw_role}' is not a recognised role.")
            elif hc is None or hc < 0 or hc != round(hc):
                report.errors.append(f"Row {row}: headcount '{raw_hc}' is not a whole number of people.")
            else:
                report.errors.append(f"Row {row}: replacement cost cannot be negative.")
        dupes = mem.execute(
            "select coalesce(wave, 'all waves'), site, department, role, count(*) from roster "
            "group by all having count(*) > 1 limit 10"
        ).fetchall()
        for wave, site, dept, role, n in dupes:
            report.errors.append(f"{site} / {dept} / {role} ({wave}) appears {n} times; give one row per unit.")
        report.rows_rejected = len(problems)
        if report.errors:
            report.errors.insert(0, f"{name}: the roster was not loaded; nothing changed.")
            return report
        report.rows_loaded = report.rows_read
        upload_id = "h-" + uuid.uuid4().hex[:12]
        with _attached_warehouse(mem, db), transaction(mem):
            mem.execute(
                "delete from wh.headcount where coalesce(wave, '') in (select distinct coalesce(wave, '') from roster)"
            )
            mem.execute(
                "insert into wh.headcount select ?, wave, site, department, role, cast(headcount as integer), "
                "replacement_cost from roster order by _row",
                [upload_id],
            )
            record_upload(
                mem,
                upload_id=upload_id,
                kind="headcount",
                name=name,
                sha256=source.sha256,
                wave=None,
                uploaded_by=uploaded_by,
                rows_read=report.rows_read,
                rows_loaded=report.rows_loaded,
                detail={"file": name, "rows": report.rows_loaded},
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
