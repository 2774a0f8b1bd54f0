"""Named page queries: every read a page makes, in one place. Pages name no table.

Built on dashboard.data: released tables come through `data.query_released` (read-only, cached,
allow-listed, scoped to the viewer), pipeline readers through `data.reading` (read with the released
tables, once per build) or `data.with_connection`. Table names come from pipelines.release.tables and
levels from pipelines.contract.levels. Reshaped reads (drivers, intentions) and scenario runs and
comparisons are cached on their arguments and the warehouse file's modification time, so a rebuild
or a new wave invalidates them. Nothing here draws or computes statistics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.filters import Filters
from pipelines import contract, scenarios
from pipelines.charts import KEY_METRICS
from pipelines.contract.levels import DIMENSIONS, LEVELS
from pipelines.models import assumptions, drivers, intentions
from pipelines.release import tables
from pipelines.store import warehouse

# Released tables the pages read (pipelines.release.tables is the catalogue).
GROUPS = tables.GROUPS
METRICS = tables.METRICS
BENCHMARKS = tables.BENCHMARKS
RISK = tables.UNIT_RISK
DRIVERS = tables.DRIVER_IMPORTANCE
LEAVE_PATHS = tables.LEAVE_PATHS
LEAVE_REASONS = tables.LEAVE_REASONS
TURNOVER_CHECK = tables.TURNOVER_CHECK
TURNOVER_CONVERSION = tables.TURNOVER_CONVERSION
CACHE_TTL = 600


def _stamp() -> float:
    """Changes whenever the warehouse file is written (a build, an upload, a saved scenario)."""
    try:
        return os.stat(data.db_path()).st_mtime
    except OSError:
        return 0.0


def ready(table: str) -> bool:
    """Has the build produced this released table yet?"""
    return data.has_table(table)


def risk_ready() -> bool:
    """Has the build released the attrition-risk table?"""
    return ready(RISK)


def drivers_ready() -> bool:
    """Has the build released the driver analysis?"""
    return ready(DRIVERS)


def intentions_ready() -> bool:
    """Has the build released both leave paths and reasons?"""
    return ready(LEAVE_PATHS) and ready(LEAVE_REASONS)


def intentions_k() -> int:
    """The floor for leave paths and reasons: max(k, setting, 10) (METHODS.md)."""
    values = data.settings_values()
    return max(int(values["min_group_size"]), int(values.get("intentions_min_group_size", 10)), 10)


def group_row(f: Filters) -> pd.DataFrame:
    """The rel_groups row of the selected group (respondents, headcount, response rate)."""
    return data.query_released(GROUPS, wave=f.wave, **f.selection())


def group_hidden(f: Filters) -> bool:
    """Is the selected group itself hidden in the released tables (fewer than k, or it protects a
    smaller group)? Pages then show nothing for it, scenarios included."""
    group = group_row(f)
    return group.empty or bool(group["suppressed"].fillna(True).astype(bool).iloc[0])


# ------------------------------------------------------------------------------------------
# Overview, trends, methodology
# ------------------------------------------------------------------------------------------
def overview_selection(f: Filters) -> pd.DataFrame:
    """Every released measure of the selected group in the chosen wave (tiles, findings, benchmarks)."""
    return data.query_released(METRICS, wave=f.wave, **f.selection())


def key_metric_units(f: Filters, by: str) -> pd.DataFrame:
    """The key measures of the units one level below the selection, broken down by `by` (the heatmap)."""
    return data.query_released(METRICS, wave=f.wave, metric=list(KEY_METRICS), **f.breakdown(by))


def trend_rows(scope: dict[str, Any]) -> pd.DataFrame:
    """The key measures of a group (`f.selection()`) or of its units (`f.breakdown(by)`), every
    wave, oldest first."""
    return data.query_released(METRICS, metric=list(KEY_METRICS), order_by=["wave"], **scope)


def benchmarks() -> pd.DataFrame:
    """The published reference figures (public; not survey data)."""
    return data.query_released(BENCHMARKS)


# ------------------------------------------------------------------------------------------
# Attrition risk
# ------------------------------------------------------------------------------------------
def risk_selection(f: Filters) -> pd.DataFrame:
    """The rel_unit_risk row of the selected group."""
    return data.query_released(RISK, wave=f.wave, **f.selection())


def risk_units(f: Filters, by: str) -> pd.DataFrame:
    """rel_unit_risk rows of the units one level below the selection, broken down by `by`."""
    return data.query_released(RISK, wave=f.wave, **f.breakdown(by))


def observed_itl(f: Filters, by: str) -> pd.DataFrame:
    """Stated ITL (raw, interval, shrunk) of the same units, from rel_metrics, to show beside the model."""
    return data.query_released(METRICS, wave=f.wave, metric="itl", **f.breakdown(by))


def risk_by_role(f: Filters) -> pd.DataFrame:
    """Expected departures and cost exposure per role inside the selection."""
    if f.role is not None:
        return risk_selection(f)
    return data.query_released(RISK, wave=f.wave, **f.breakdown("role"))


def departure_assumptions() -> pd.DataFrame:
    """The assumptions behind expected departures and cost: value, meaning and source."""
    values = data.settings_values()
    keys = [
        assumptions.P_LEAVE_ITL,
        assumptions.P_LEAVE_NO_ITL,
        *(assumptions.replacement_cost_key(r) for r in contract.ROLES),
    ]
    rows = []
    for item in assumptions.table():
        if item["key"] not in keys:
            continue
        value = values.get(item["key"], item["default"])
        shown = f"{100 * float(value):.0f}%" if item["key"] in keys[:2] else f"${float(value):,.0f}"
        rows.append({"Assumption": item["description"], "Value": shown, "Source": item["source"]})
    return pd.DataFrame(rows)


def model_quality(wave: str | None) -> dict[str, Any] | None:
    """Cross-validated quality of the risk model for a wave (AUROC, O/E, slope, verdict, curve, and
    last wave's model scored on this wave). Organisation-wide counts and calibration bins: shown only
    to viewers who see the whole organisation (issue 11, attack 10)."""
    if not data.scope().everything:
        return None
    frame = data.reading("model_diagnostics")  # every wave's, ordered by wave and model
    if not frame.empty:
        frame = frame[frame["model"] == "intent_to_leave"]
        if wave is not None:
            frame = frame[frame["wave"] == wave]
    if frame.empty:
        return None
    row = frame.iloc[-1].to_dict()
    curve = row.get("calibration_curve")
    row["curve"] = pd.DataFrame(json.loads(curve) if isinstance(curve, str) and curve else [])
    return row


# ------------------------------------------------------------------------------------------
# Attrition risk: the forecast checked against actual turnover (released tables only)
# ------------------------------------------------------------------------------------------
def turnover_ready() -> bool:
    """Has the build released the turnover check (a turnover file was uploaded and matched)?"""
    return ready(TURNOVER_CHECK)


def turnover_periods(f: Filters) -> list[str]:
    """Turnover periods released for the selected group, newest first."""
    rows = data.query_released(TURNOVER_CHECK, **f.selection())
    return sorted({str(p) for p in rows["wave"].dropna()}, reverse=True) if not rows.empty else []


def turnover_selection(f: Filters, period: str | None = None) -> pd.DataFrame:
    """rel_turnover_check rows of the selected group: every period (oldest first), or one."""
    return data.query_released(TURNOVER_CHECK, wave=period, order_by=["wave"], **f.selection())


def turnover_units(f: Filters, by: str, period: str) -> pd.DataFrame:
    """rel_turnover_check rows of the units one level below the selection, for one period."""
    return data.query_released(TURNOVER_CHECK, wave=period, **f.breakdown(by))


def turnover_conversion() -> pd.Series | None:
    """The conversion rates learnt from the organisation's turnover (one organisation row: prior,
    posterior, how far the data moved them), or None when not released or not in this scope."""
    frame = data.query_released(TURNOVER_CONVERSION)
    if frame.empty or bool(frame["suppressed"].fillna(True).astype(bool).iloc[0]):
        return None
    return frame.iloc[0]


# ------------------------------------------------------------------------------------------
# Drivers
# ------------------------------------------------------------------------------------------
def _drivers_wide(f: Filters) -> pd.DataFrame:
    return data.query_released(DRIVERS, wave=f.wave)


@st.cache_data(ttl=CACHE_TTL, max_entries=64, show_spinner=False)
def _drivers_prepared(db: str, stamp: float, wave: str | None, scope: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The wave's released driver table (as this scope sees it) with unit labels, and its long form
    (drivers.to_long): built once per build, wave and scope instead of on every rerun."""
    from pipelines.charts import unit_label

    wide = data.query_released(DRIVERS, wave=wave)
    if wide.empty:
        return wide, wide
    labelled = wide.assign(unit=[unit_label(r) for r in wide[list(DIMENSIONS)].to_dict("records")])
    return labelled, drivers.to_long(wide)


def _drivers(f: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    return _drivers_prepared(str(data.db_path()), _stamp(), f.wave, data.scope())


def _match_unit(frame: pd.DataFrame, unit: pd.Series | dict) -> pd.Series:
    mask = frame["level"] == unit["level"]
    for d in DIMENSIONS:
        value = unit[d]
        mask &= frame[d].isna() if pd.isna(value) else frame[d].astype(object) == value
    return mask


def drivers_organisation(f: Filters) -> pd.DataFrame:
    """Organisation-wide driver importance (one row per driver group) for the wave."""
    _, long = _drivers(f)
    if long.empty:
        return long
    return long[long["level"] == "organisation"].reset_index(drop=True)


def driver_units(f: Filters) -> pd.DataFrame:
    """Units the quadrant can show inside the selection: one row per unit (wide), visible or not,
    with a `unit` label. The selection itself comes first (unless it is the whole organisation),
    then sites, departments and roles."""
    frame, _ = _drivers(f)
    if frame.empty:
        return frame
    for dim in DIMENSIONS:
        value = getattr(f, dim)
        if value is not None:
            frame = frame[frame[dim].astype(object) == value]
    sel_level = f.selection()["level"]
    if sel_level == "organisation":  # the organisation against itself says nothing: offer its units
        frame = frame[frame["level"] != "organisation"]
    order = {level: i for i, level in enumerate(LEVELS)} | {sel_level: -1}  # the selection, then by level
    frame = frame.assign(_order=frame["level"].map(order).fillna(len(LEVELS))).sort_values(["_order", *DIMENSIONS])
    return frame.drop(columns="_order").reset_index(drop=True)


def drivers_for_unit(f: Filters, unit: pd.Series) -> pd.DataFrame:
    """One row per driver group for `unit` (a row of driver_units), with act_here (which compares
    the unit with the organisation row of the same wave)."""
    _, long = _drivers(f)
    return long[_match_unit(long, unit)].reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# Intentions and reasons
# ------------------------------------------------------------------------------------------
@st.cache_data(ttl=CACHE_TTL, max_entries=128, show_spinner=False)
def _intentions_prepared(
    db: str, stamp: float, table: str, wave: str | None, filters: tuple, scope: Any
) -> pd.DataFrame:
    """The long form of a released intentions table for a wave, breakdown and scope: reshaped once
    per build instead of on every rerun."""
    wide = data.query_released(table, wave=wave, **dict(filters))
    if wide.empty:
        return wide
    long = intentions.to_long(wide)
    long["suppressed"] = long["suppressed"].fillna(True).astype(bool)
    return long


def _intentions_long(table: str, f: Filters, by: str | None) -> pd.DataFrame:
    filters = f.breakdown(by) if by else f.selection()
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in filters.items()))
    return _intentions_prepared(str(data.db_path()), _stamp(), table, f.wave, frozen, data.scope())


def leave_paths(f: Filters, by: str | None = None) -> pd.DataFrame:
    return _intentions_long(LEAVE_PATHS, f, by)


def leave_reasons(f: Filters, by: str | None = None) -> pd.DataFrame:
    return _intentions_long(LEAVE_REASONS, f, by)


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def option_map() -> pd.DataFrame:
    """Which retention option answers which leave path or reason (static, from the pipeline)."""
    return intentions.option_map()


# ------------------------------------------------------------------------------------------
# Retention options (scenarios)
# ------------------------------------------------------------------------------------------
def lever_library() -> list[dict[str, Any]]:
    """The levers with eligibility, parameters (defaults from the settings), evidence and caveat."""
    frame = scenarios.lever_library(data.settings_values())
    out = []
    for rec in frame.to_dict(orient="records"):
        rec["parameters"] = json.loads(rec["parameters"])
        out.append(rec)
    return out


@st.cache_data(ttl=CACHE_TTL, max_entries=64, show_spinner=False)
def _run(
    db: str,
    stamp: float,
    levers_json: str,
    wave: str | None,
    site: str | None,
    department: str | None,
    role: str | None,
) -> pd.DataFrame:
    levers = json.loads(levers_json)
    return data.with_connection(scenarios.run_scenario, levers, wave=wave, site=site, department=department, role=role)


def run_scenario(levers: Sequence[dict[str, Any]], f: Filters) -> pd.DataFrame:
    """Results of a scenario for the selection (one row per lever, plus 'combined'). Cached: the
    same levers on the same warehouse give the same (seeded) answer."""
    levers_json = json.dumps(list(levers), sort_keys=True)
    return _run(str(data.db_path()), _stamp(), levers_json, f.wave, f.site, f.department, f.role)


def save_scenario(
    name: str, levers: Sequence[dict[str, Any]], f: Filters, results: pd.DataFrame, *, overwrite: bool = False
) -> None:
    """Store a scenario under a name (ValueError on a duplicate or empty name), then refresh reads.

    The one write these pages make: a short writable connection through the warehouse module, which
    waits while an ingest or a build holds the file."""
    scope = {"wave": f.wave, "site": f.site, "department": f.department, "role": f.role}
    with warehouse.connect(data.db_path()) as con:
        scenarios.save_scenario(con, name, list(levers), scope, results, created_by="dashboard", overwrite=overwrite)
    data.clear_cache()


def saved_scenarios() -> pd.DataFrame:
    """Saved scenarios, newest first (name, levers, scope, created_by, created_at)."""
    return data.reading("saved_scenarios")


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _compare(db: str, stamp: float, names: tuple[str, ...]) -> pd.DataFrame:
    return data.with_connection(scenarios.compare_scenarios, list(names))


def compare_scenarios(names: Sequence[str]) -> pd.DataFrame:
    """Saved scenarios side by side (pipelines.scenarios.compare_scenarios)."""
    return _compare(str(data.db_path()), _stamp(), tuple(names))


CAVEAT = scenarios.CAVEAT
