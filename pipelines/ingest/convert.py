"""From answer text to contract values, in SQL: the macros, the value synonyms and the conversion.

Everything spliced into SQL here is a contract constant or a generated column alias (c0..cN);
values from the file are only ever data inside DuckDB tables.
"""

from __future__ import annotations

import re

import duckdb

from pipelines import contract
from pipelines.ingest.mapping import ColumnPlan


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


def _load_maps(con: duckdb.DuckDBPyConnection, plan: ColumnPlan) -> list[str]:
    """One-row table `maps`: a MAP column per categorical field (user maps override the contract's).
    Returns the map names (fields, and col<N> for per-column pre-translations)."""
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


def _convert(mem, plan: ColumnPlan) -> None:
    """Convert every mapped field of `stage`; leaves `clean` (typed rows + `_reject`, the first required
    field that is missing) and the view `clean_full` (the same with each field's raw answer text, for
    messages and rejected rows).

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
