"""Load one survey file into the warehouse: all of it, validated and anonymised, or nothing.

The work happens in DuckDB. The file is read into an in-memory staging database (every cell as
text, columns renamed c0..cN so no source column name ever reaches SQL), converted and validated
with set-based SQL generated from the contract, and only then is the warehouse opened for writing,
for one short transaction that inserts the upload record and its rows. A process killed at any
point before COMMIT leaves the warehouse as it was; other processes are locked out only for the
final insert, not for the parsing.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from pipelines import contract
from pipelines.contract.safety import inert
from pipelines.ingest.mapping import (
    ColumnPlan,
    MappingFile,
    RedcapDictionary,
    load_mapping,
    load_redcap_dictionary,
    missing_required,
    plan_columns,
)
from pipelines.ingest.readers import InputError, SourceFile, open_source
from pipelines.store import settings, warehouse
from pipelines.store.audit import record as audit

MAX_EXAMPLES_PER_COLUMN = 5
# Test hook: seconds to sleep inside the load transaction, so a test can kill the process there.
_PAUSE_ENV = "CLINRET_TEST_PAUSE_BEFORE_COMMIT"


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


# ----------------------------------------------------------------------------------------------
# SQL building blocks. Everything spliced into SQL here is a contract constant or a generated
# column alias (c0..cN); values from the file are only ever data inside DuckDB tables.
# ----------------------------------------------------------------------------------------------
def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _install_macros(con: duckdb.DuckDBPyConnection) -> None:
    tokens = ", ".join(_lit(t) for t in sorted(contract.MISSING_TOKENS))
    con.execute(f"create or replace macro is_missing(x) as x is null or list_contains([{tokens}], lower(trim(x)))")
    con.execute(r"create or replace macro clean_text(x) as nullif(regexp_replace(trim(x), '\s+', ' ', 'g'), '')")
    con.execute("create or replace macro norm_label(x) as regexp_replace(lower(x), '[^a-z0-9]+', '', 'g')")
    con.execute(
        "create or replace macro band_label(x) as regexp_replace(regexp_replace(replace(replace(replace("
        "replace(replace(lower(x), '<', 'lessthan'), '>', 'morethan'), '+', 'plus'), 'under', 'lessthan'), "
        "'over', 'morethan'), '(years?|yrs?)', '', 'g'), '[^a-z0-9]+', '', 'g')"
    )
    con.execute(
        "create or replace macro to_num(x) as "
        "try_cast(replace(regexp_replace(trim(x), '\\s', '', 'g'), ',', '.') as double)"
    )
    con.execute(
        "create or replace macro is_selected(x) as not is_missing(x) and "
        "lower(trim(x)) not in ('0', 'false', 'no', 'unchecked', 'not selected')"
    )


def band_key(text: str) -> str:
    """Python twin of the band_label SQL macro."""
    import re

    x = str(text).lower().replace("<", "lessthan").replace(">", "morethan").replace("+", "plus")
    x = x.replace("under", "lessthan").replace("over", "morethan")
    x = re.sub(r"(years?|yrs?)", "", x)
    return re.sub(r"[^a-z0-9]+", "", x)


def _contract_value_map() -> dict[str, dict[str, str]]:
    """field -> {normalised answer: code} for every categorical field, from the contract."""
    maps: dict[str, dict[str, str]] = {}
    maps["role"] = dict(contract.ROLE_SYNONYMS)
    for r in contract.ROLES:
        maps["role"][contract.normalise_label(r)] = r
    maps["gender"] = dict(contract.GENDER_SYNONYMS)
    for name, bands in (("tenure_band", contract.TENURE_BANDS), ("age_band", contract.AGE_BANDS)):
        maps[name] = {band_key(b): b for b in bands}
    maps["tenure_band"].update(
        {"lessthan2": "<2", "02": "<2", "01": "<2", "morethan20": ">20", "20plus": ">20", "21plus": ">20"}
    )
    maps["age_band"].update(
        {
            "lessthan35": "<35",
            "under35": "<35",
            "3445": "<35",
            "65plus": "65+",
            "morethan65": "65+",
            "65andover": "65+",
            "65older": "65+",
            "65orolder": "65+",
        }
    )
    maps["age_band"].pop("3445")
    for item in contract.ITEM_NAMES:
        maps[item] = {k: str(v) for k, v in contract.scale_labels(item).items()}
    maps["intent_to_leave"] = {k: str(v) for k, v in contract.scale_labels("intent_to_leave").items()}
    maps["intent_to_reduce_fte"] = {contract.normalise_label(k): str(v).lower() for k, v in contract.YES_NO.items()}
    maps["leave_path"] = {}
    for code, label in contract.LEAVE_PATH_LABELS.items():
        maps["leave_path"][contract.normalise_label(code)] = code
        maps["leave_path"][contract.normalise_label(label)] = code
    maps["leave_path"].update(
        {
            "reducehours": "reduce_hours",
            "parttime": "reduce_hours",
            "break": "temporary_break",
            "sabbatical": "temporary_break",
            "leaveofabsence": "temporary_break",
            "otherorganization": "other_organisation",
            "anotherorganisation": "other_organisation",
            "anotherorganization": "other_organisation",
            "leavepatientcare": "leave_patient_care",
            "nonclinical": "leave_patient_care",
            "retirement": "retire",
            "clinicaladjacent": "clinical_adjacent_role",
            "stay": "stay",
            "nochange": "stay",
        }
    )
    maps["leave_reasons"] = {}
    for code, label in contract.LEAVE_REASON_LABELS.items():
        maps["leave_reasons"][contract.normalise_label(code)] = code
        maps["leave_reasons"][contract.normalise_label(label)] = code
    maps["leave_reasons"].update(
        {
            "ehr": "ehr_admin",
            "admin": "ehr_admin",
            "call": "call_schedule",
            "schedule": "call_schedule",
            "workload": "workload_staffing",
            "staffing": "workload_staffing",
            "family": "family_caregiving",
            "caregiving": "family_caregiving",
            "health": "own_health",
            "relocation": "geography",
            "career": "career_growth",
            "pay": "compensation",
            "salary": "compensation",
            "leadership": "leadership_culture",
            "culture": "leadership_culture",
        }
    )
    return maps


def _load_maps(con: duckdb.DuckDBPyConnection, plan: ColumnPlan) -> None:
    """One-row table `maps`: a MAP column per categorical field (user maps override the contract's)."""
    merged = _contract_value_map()
    for f, user in plan.values.items():
        target = merged.setdefault(f, {})
        for k, v in user.items():
            key = band_key(k) if f in ("age_band", "tenure_band") else k
            target[key] = v
    rows = [(f, k, v) for f, m in merged.items() for k, v in m.items()]
    for pos, labels in plan.column_labels.items():
        rows.extend((f"col{pos}", k, v) for k, v in labels.items())
    con.execute("create or replace table vmap (field varchar, k varchar, v varchar)")
    con.executemany("insert into vmap values (?, ?, ?)", rows)
    names = sorted({r[0] for r in rows})
    cols = ", ".join(
        f"coalesce(map_from_entries(list(struct_pack(k := k, v := v)) filter (where field = {_lit(n)})), "
        f"map([]::varchar[], []::varchar[])) as m_{n}"
        for n in names
    )
    con.execute(f"create or replace table maps as select {cols} from vmap")
    return names


def _band_case(value_sql: str, edges: tuple[tuple[float, float, str], ...]) -> str:
    whens = " ".join(f"when {value_sql} >= {lo} and {value_sql} < {hi} then {_lit(b)}" for lo, hi, b in edges)
    return f"(case {whens} end)"


def _source_expr(plan: ColumnPlan, f: str, map_names: list[str]) -> str:
    """The field's raw answer text (NULL when missing), first non-missing of its source columns."""
    parts = []
    for pos in plan.fields[f]:
        col = f"c{pos}"
        val = f"trim({col})"
        if f"col{pos}" in map_names:
            val = f"coalesce(m_col{pos}[trim({col})], trim({col}))"
        parts.append(f"case when is_missing({col}) then null else {val} end")
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _convert_expr(f: str, src: str, plan: ColumnPlan) -> str:
    fld = contract.FIELDS_BY_NAME[f]
    kind = fld.kind
    m = f"m_{f}"
    if kind == "text":
        return f"clean_text({src})"
    if kind in ("role", "gender"):
        return f"{m}[norm_label({src})]"
    if kind == "band":
        edges = contract.AGE_EDGES if f == "age_band" else contract.TENURE_EDGES
        return f"(case when to_num({src}) is not null then {_band_case(f'to_num({src})', edges)} else {m}[band_label({src})] end)"
    if kind == "fte":
        x = f"to_num(replace({src}, '%', ''))"
        scaled = (
            f"(case when contains({src}, '%') then {x} / 100 when {x} > 1 and {x} <= 100 then {x} / 100 else {x} end)"
        )
        return f"(case when {scaled} between 0 and 1 then round({scaled}, 3) end)"
    if kind == "integer":
        x = f"to_num({src})"
        return f"(case when {x} between {fld.minimum} and {fld.maximum} then cast(round({x}) as integer) end)"
    if kind == "number":
        x = f"to_num({src})"
        return f"(case when {x} between {fld.minimum} and {fld.maximum} then {x} end)"
    if kind in ("item", "itl"):
        x = f"to_num({src})"
        numeric = f"(case when {x} = round({x}) and {x} between 1 and 5 then cast({x} as integer) end)"
        if f in plan.reverse:
            numeric = f"(6 - {numeric})"
        return f"cast(coalesce(try_cast({m}[norm_label({src})] as integer), {numeric}) as tinyint)"
    if kind == "yesno":
        return f"try_cast({m}[norm_label({src})] as boolean)"
    if kind == "path":
        return f"{m}[norm_label({src})]"
    raise AssertionError(kind)


def _reasons_text_exprs(raw: str) -> tuple[str, str]:
    """(known reason codes, unknown tokens) of a free-form reasons cell `raw` ("burnout; EHR")."""
    toks = f"string_split_regex(coalesce({raw}, ''), '[;|,]')"
    known = f"list_filter(list_transform({toks}, lambda t: m_leave_reasons[norm_label(t)]), lambda t: t is not null)"
    unknown = f"list_filter({toks}, lambda t: norm_label(t) <> '' and m_leave_reasons[norm_label(t)] is null)"
    return known, unknown


def _reasons_checkboxes(plan: ColumnPlan, alias: str) -> str | None:
    """Codes ticked in checkbox-style columns (REDCap field___code, mapping field:code)."""
    checks = [
        f"case when is_selected({alias}.c{pos}) then {_lit(code)} end"
        for pos, f, code in plan.checkboxes
        if f == "leave_reasons"
    ]
    return f"list_filter([{', '.join(checks)}], lambda t: t is not null)" if checks else None


# ----------------------------------------------------------------------------------------------
# Staging
# ----------------------------------------------------------------------------------------------
STAGING_MEMORY_LIMIT = os.environ.get("CLINRET_INGEST_MEMORY", "600MB")


def _staging_connection() -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB for parsing and validation; spills to a temp directory beyond its limit."""
    import tempfile

    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": STAGING_MEMORY_LIMIT,
            "temp_directory": str(Path(tempfile.gettempdir()) / "clinret-spill"),
        }
    )
    con.execute("set enable_progress_bar = false")
    return con


def _stage(con: duckdb.DuckDBPyConnection, source: SourceFile, constants=()) -> int:
    names = [f"c{i}" for i in range(len(source.columns) - len(constants))]
    columns_spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"

    def run(parallel: bool) -> None:
        con.execute(
            "create or replace table stage as select row_number() over () as _row, * from read_csv(?, "
            f"header = false, columns = {columns_spec}, delim = ?, quote = '\"', escape = '\"', "
            f"null_padding = true, comment = '', auto_detect = false, parallel = {str(parallel).lower()}, "
            "encoding = 'utf-8')",
            [str(source.path), source.delimiter],
        )

    try:
        try:
            run(True)
        except duckdb.Error as exc:
            if "parallel" not in str(exc).lower():
                raise
            run(False)
    except duckdb.Error as exc:
        raise InputError(_csv_error_message(source, exc)) from None
    con.execute("delete from stage where _row <= ?", [source.header_rows])
    not_blank = " or ".join(f"nullif(trim(c{i}), '') is not null" for i in range(len(names))) or "false"
    con.execute(f"delete from stage where not ({not_blank})")
    for pos, _field, value in constants:
        con.execute(f"alter table stage add column c{pos} varchar")
        con.execute(f"update stage set c{pos} = ?", [value])
    return con.execute("select count(*) from stage").fetchone()[0]


def _csv_error_message(source: SourceFile, exc: Exception) -> str:
    text = str(exc)
    line = ""
    for token in text.split():
        if token.rstrip(":").isdigit() and "Line" in text:
            line = token.rstrip(":")
            break
    where = f" near line {line}" if line else ""
    if "Expected Number of Columns" in text or "too many columns" in text.lower() or "columns" in text.lower():
        return (
            f"{source.original_name}: a row{where} has more cells than the header has columns "
            f"({len(source.columns)}). Check for an unquoted delimiter ('{source.delimiter}') inside a value."
        )
    return f"{source.original_name}: the file could not be read as CSV{where}: {text.splitlines()[0]}"


# ----------------------------------------------------------------------------------------------
# The ingest
# ----------------------------------------------------------------------------------------------
def ingest(
    path: str | Path,
    *,
    wave: str | None = None,
    db: str | Path | None = None,
    fmt: str = "auto",
    mapping: str | Path | MappingFile | None = None,
    dictionary: str | Path | None = None,
    replace: bool = False,
    uploaded_by: str | None = None,
    original_name: str | None = None,
    rejected_out: str | Path | None = None,
    max_rejected_share: float | None = None,
    progress=None,
    dry_run: bool = False,
) -> IngestResult:
    """Validate, anonymise and load one survey file as (part of) one wave.

    Returns an IngestResult; status "rejected" means nothing was stored. With dry_run, nothing
    is stored either way: status is "valid" or "rejected" and `preview` holds the first rows as
    they would be stored (what the Upload page shows before the officer confirms). The warehouse file `db`
    is opened for writing only for the final insert.
    """
    name = original_name or Path(path).name
    report = IngestResult("rejected", None, wave, name, fmt)
    step = progress or (lambda fraction, text: None)
    try:
        source = open_source(path, name, fmt)
    except InputError as exc:
        report.errors.append(str(exc))
        return report
    report.detected_format = source.detected_format
    report.columns = list(source.columns)
    mem = _staging_connection()
    try:
        step(0.05, "Checking for an earlier upload of the same file")
        duplicate = _find_duplicate(source.sha256, db)
        if duplicate and not (replace and duplicate["wave"] == wave):
            report.errors.append(
                f"{name}: this exact file was already loaded as upload {duplicate['upload_id']} "
                f"({duplicate['file_name']}, wave {duplicate['wave']}, {duplicate['uploaded_at']:%Y-%m-%d %H:%M}). "
                "Delete that upload first if you mean to load it again."
            )
            return report
        mapping_file = load_mapping(mapping) if isinstance(mapping, (str, Path)) else mapping
        redcap = load_redcap_dictionary(dictionary) if dictionary else None
        plan = plan_columns(
            source.columns,
            question_texts=source.question_texts,
            import_ids=source.import_ids,
            mapping=mapping_file,
            dictionary=redcap,
        )
        for _, f, _ in plan.constants:
            source.columns.append(f"(constant {f} from the mapping file)")
        report.mapped_columns = plan.describe(source.columns)
        report.dropped_detail = [asdict(d) for d in plan.dropped]
        report.dropped_columns = [d.column for d in plan.dropped if d.category != "empty"]
        absent = missing_required(plan)
        if absent:
            report.errors.append(
                f"{name}: no column could be matched to {', '.join(absent)}. Rename the column(s) to the "
                "contract name or map them with a mapping file (--mapping)."
            )
            return report
        step(0.15, "Reading the file")
        _install_macros(mem)
        report.rows_read = _stage(mem, source, plan.constants)
        if report.rows_read == 0:
            report.errors.append(f"{name}: the file has a header but no responses.")
            return report
        step(0.45, "Validating every value")
        wave = _resolve_wave(mem, plan, wave, report)
        report.wave = wave
        if wave is None:
            return report
        _convert(mem, source, plan, redcap, report)
        limit = max_rejected_share
        if limit is None:
            limit = _setting(db, "max_rejected_share")
        report.rows_rejected = mem.execute("select count(*) from clean where _reject is not null").fetchone()[0]
        report.rows_loaded = report.rows_read - report.rows_rejected
        if rejected_out and report.rows_rejected:
            write_rejected_rows(mem, source, plan, rejected_out)
        share = report.rows_rejected / report.rows_read
        if share > limit or report.rows_loaded == 0:
            report.errors.insert(
                0,
                f"{name}: {report.rows_rejected} of {report.rows_read} rows ({share:.1%}) were rejected, "
                f"more than the {limit:.0%} allowed; nothing was loaded. Fix the rows listed below and upload again.",
            )
            report.rows_loaded = 0
            return report
        if dry_run:
            cur = mem.execute(
                f"select {', '.join(contract.FIELD_NAMES)} from clean where _reject is null order by _row limit 20"
            )
            names = [d[0] for d in cur.description]
            report.preview = [dict(zip(names, r)) for r in cur.fetchall()]
            report.status = "valid"
            return report
        step(0.75, "Saving to the warehouse")
        _load(mem, source, report, db=db, replace=replace, uploaded_by=uploaded_by)
        step(1.0, "Done")
        return report
    except InputError as exc:
        report.errors.append(str(exc))
        report.rows_loaded = 0
        return report
    finally:
        mem.close()
        source.cleanup()


def _setting(db, key):
    with warehouse.connect(db, read_only=True) as wcon:
        return settings.get(wcon, key)


def _find_duplicate(sha: str, db) -> dict | None:
    def lookup(c):
        row = c.execute(
            "select upload_id, file_name, wave, uploaded_at from uploads where sha256 = ? and kind = 'responses'",
            [sha],
        ).fetchone()
        return dict(zip(("upload_id", "file_name", "wave", "uploaded_at"), row)) if row else None

    with warehouse.connect(db, read_only=True) as wcon:
        return lookup(wcon)


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


def _convert(mem, source: SourceFile, plan: ColumnPlan, redcap: RedcapDictionary | None, report: IngestResult) -> None:
    """Convert and validate every mapped field; leaves `clean` (typed rows + `_reject`) and the view
    `clean_full` (the same with each field's raw answer text, for messages and rejected rows).

    Survey columns hold few distinct answers, so each field's text is cleaned, looked up and
    range-checked once per distinct value (table dv_<field>) and joined back to the rows, instead of
    running the string work on every one of a million cells.
    """
    map_names = _load_maps(mem, plan)
    selects, raws, joins = ["s._row"], ["s._row"], []
    for i, f in enumerate(contract.FIELD_NAMES):
        if f not in plan.fields:
            if f != "leave_reasons":
                selects.append(f"null::{contract.FIELDS_BY_NAME[f].sql_type} as {f}")
            continue
        keys = [f"c{p}" for p in plan.fields[f]]
        src = _source_expr(plan, f, map_names)
        if f == "leave_reasons":
            known, unknown = _reasons_text_exprs("raw")
            value = f"{known} as val, {unknown} as unknown"
        else:
            value = f"{_convert_expr(f, 'raw', plan)} as val"
        mem.execute(
            f"create or replace table dv_{f} as select g.*, {value} from ("
            f"select d.*, {src} as raw from (select {', '.join(keys)}, count(*) as cnt from stage group by all) d, maps"
            ") g, maps"
        )
        alias = f"j{i}"
        on = " and ".join(f"s.{k} is not distinct from {alias}.{k}" for k in keys)
        joins.append(f"left join dv_{f} {alias} on {on}")
        raws.append(f"{alias}.raw as raw__{f}")
        if f != "leave_reasons":
            selects.append(f"{alias}.val as {f}")
        else:
            raws.append(f"{alias}.unknown as unknown__leave_reasons")
    # leave_reasons: text answers and ticked checkbox columns together
    pieces = [f"j{contract.FIELD_NAMES.index('leave_reasons')}.val"] if "leave_reasons" in plan.fields else []
    if (ticked := _reasons_checkboxes(plan, "s")) is not None:
        pieces.append(ticked)
    if pieces:
        combined = pieces[0] if len(pieces) == 1 else f"list_concat({', '.join(f'coalesce({p}, [])' for p in pieces)})"
        selects.append(f"nullif(list_sort(list_distinct({combined})), []::varchar[]) as leave_reasons")
    else:
        selects.append("null::varchar[] as leave_reasons")
    reject = " ".join(f"when {f} is null then {_lit(f)}" for f in contract.REQUIRED_FIELDS)
    mem.execute(
        f"create or replace table clean as select *, case {reject} end as _reject from "
        f"(select {', '.join(selects)} from stage s {' '.join(joins)})"
    )
    mem.execute(
        f"create or replace view clean_full as select c.*, r.* exclude (_row) from clean c join "
        f"(select {', '.join(raws)} from stage s {' '.join(joins)}) r on c._row = r._row"
    )
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
    _merge_case_variants(mem)


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


def _merge_case_variants(mem) -> None:
    """`North Campus` and `north campus ` are one site: use the most common spelling in the file."""
    for f in ("site", "department"):
        mem.execute(
            f"""create or replace table spelling_{f} as
            select lower({f}) as k, arg_max({f}, n) as display from
              (select {f}, count(*) as n from clean where {f} is not null group by {f}) group by lower({f})"""
        )
        mem.execute(
            f"update clean set {f} = s.display from spelling_{f} s where lower(clean.{f}) = s.k and clean.{f} <> s.display"
        )


def _load(mem, source: SourceFile, report: IngestResult, *, db, replace: bool, uploaded_by) -> None:
    """Attach the warehouse and insert the upload and its clean rows in one transaction."""
    upload_id = "u-" + uuid.uuid4().hex[:12]
    field_list = ", ".join(contract.FIELD_NAMES)
    path = warehouse.resolve_db(db)
    with warehouse.connect(path):  # create and migrate if needed
        pass
    _attach_with_retry(mem, path)
    try:
        # Spellings already in the warehouse win over the file's (`north campus` joins `North Campus`).
        for f in ("site", "department"):
            mem.execute(
                f"""update clean set {f} = e.display from
                (select lower({f}) k, min({f}) display from wh.responses group by lower({f})) e
                where lower(clean.{f}) = e.k and clean.{f} <> e.display"""
            )
        mem.execute("begin transaction")
        try:
            dup = mem.execute(
                "select upload_id, wave from wh.uploads where sha256 = ? and kind = 'responses'", [source.sha256]
            ).fetchone()
            if dup and not (replace and dup[1] == report.wave):
                raise InputError(f"{report.file_name}: this exact file was loaded as upload {dup[0]} meanwhile.")
            if replace:
                report.replaced_uploads = [
                    r[0]
                    for r in mem.execute(
                        "select upload_id from wh.uploads where wave = ? and kind = 'responses' order by 1",
                        [report.wave],
                    ).fetchall()
                ]
                mem.execute("delete from wh.responses where wave = ?", [report.wave])
                mem.execute("delete from wh.uploads where wave = ? and kind = 'responses'", [report.wave])
            mem.execute(
                "insert into wh.uploads values (?, 'responses', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    upload_id,
                    report.file_name,
                    source.sha256,
                    report.detected_format,
                    report.wave,
                    uploaded_by,
                    dt.datetime.now(),
                    report.rows_read,
                    report.rows_loaded,
                    report.rows_rejected,
                    report.dropped_columns,
                    len(report.warnings),
                ],
            )
            mem.execute(
                f"insert into wh.responses (response_key, upload_id, wave, {field_list}) "
                f"select gen_random_uuid()::varchar, ?, ?, {field_list} from clean "
                "where _reject is null order by _row",
                [upload_id, report.wave],
            )
            audit(
                mem,
                uploaded_by,
                "replace wave" if replace else "upload",
                upload_id,
                {"file": report.file_name, "wave": report.wave, "rows": report.rows_loaded},
                prefix="wh.",
            )
            pause = float(os.environ.get(_PAUSE_ENV, "0") or 0)
            if pause:
                print("PAUSED-IN-TRANSACTION", flush=True)
                time.sleep(pause)
            mem.execute("commit")
        except BaseException:
            mem.execute("rollback")
            raise
        report.upload_id = upload_id
        report.status = "loaded"
    finally:
        mem.execute("detach wh")


def _attach_with_retry(mem, path: Path) -> None:
    deadline = time.monotonic() + warehouse.LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            mem.execute("attach ? as wh", [str(path)])
            return
        except duckdb.Error as exc:
            if not warehouse.is_busy_error(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 1.6, 1.0)


def write_rejected_rows(mem, source: SourceFile, plan: ColumnPlan, out: str | Path) -> Path:
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


# ----------------------------------------------------------------------------------------------
# Headcount roster and upload management
# ----------------------------------------------------------------------------------------------
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
        keys = [contract.normalise_name(c) for c in source.columns]
        aliases = {
            "headcount": ("headcount", "head_count", "staff", "fte_count", "count", "n"),
            "replacement_cost": ("replacement_cost", "cost", "turnover_cost"),
        }
        pos: dict[str, int] = {}
        for f, _, _ in contract.HEADCOUNT_FIELDS:
            names = {contract.normalise_name(a) for a in aliases.get(f, (f,))}
            if f in contract.FIELDS_BY_NAME:
                names |= {contract.normalise_name(s) for s in contract.FIELDS_BY_NAME[f].synonyms}
            if f == "wave":
                names |= {contract.normalise_name(w) for w in contract.WAVE_COLUMN_SYNONYMS}
            for i, k in enumerate(keys):
                if k in names and f not in pos:
                    pos[f] = i
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
        path_db = warehouse.resolve_db(db)
        with warehouse.connect(path_db):
            pass
        _attach_with_retry(mem, path_db)
        try:
            mem.execute("begin transaction")
            try:
                mem.execute(
                    "delete from wh.headcount where coalesce(wave, '') in (select distinct coalesce(wave, '') from roster)"
                )
                mem.execute(
                    "insert into wh.headcount select ?, wave, site, department, role, cast(headcount as integer), "
                    "replacement_cost from roster order by _row",
                    [upload_id],
                )
                mem.execute(
                    "insert into wh.uploads values (?, 'headcount', ?, ?, 'headcount', null, ?, ?, ?, ?, 0, [], 0)",
                    [
                        upload_id,
                        name,
                        source.sha256,
                        uploaded_by,
                        dt.datetime.now(),
                        report.rows_read,
                        report.rows_loaded,
                    ],
                )
                audit(
                    mem,
                    uploaded_by,
                    "upload headcount",
                    upload_id,
                    {"file": name, "rows": report.rows_loaded},
                    prefix="wh.",
                )
                mem.execute("commit")
            except BaseException:
                mem.execute("rollback")
                raise
        finally:
            mem.execute("detach wh")
        report.upload_id = upload_id
        report.status = "loaded"
        return report
    finally:
        mem.close()
        source.cleanup()


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
    with warehouse.connect(db) as con:
        con.execute("begin transaction")
        try:
            row = con.execute("select kind, wave, file_name from uploads where upload_id = ?", [upload_id]).fetchone()
            if row is None:
                raise KeyError(upload_id)
            kind, wave, file_name = row
            table = "responses" if kind == "responses" else "headcount"
            removed = con.execute(f"select count(*) from {table} where upload_id = ?", [upload_id]).fetchone()[0]
            con.execute(f"delete from {table} where upload_id = ?", [upload_id])
            con.execute("delete from uploads where upload_id = ?", [upload_id])
            audit(con, actor, "delete upload", upload_id, {"file": file_name, "wave": wave, "rows": removed})
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return {"upload_id": upload_id, "kind": kind, "wave": wave, "file_name": file_name, "rows_removed": removed}
