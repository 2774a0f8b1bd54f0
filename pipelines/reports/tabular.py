"""Shared by the workbook and the CSV extracts: formula-injection safety, column kinds, definitions.

Formula injection (METHODS.md): a text cell beginning with `=`, `+`, `-`, `@`, tab or carriage return
is written with a leading `'`, so a spreadsheet shows it as text and never runs it. Numbers are
written as numbers (a negative number is not text, so it is not touched).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from pipelines.contract.safety import FORMULA_START, inert, safe_frame  # noqa: F401 (re-exported)


def cell_value(value: Any) -> Any:
    """A Python value ready for a sheet/CSV cell: None for missing, numbers as numbers, text inert."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) or math.isinf(float(value)) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    return inert(str(value))


# ------------------------------------------------------------------------------------------
# Column kinds (number formats)
# ------------------------------------------------------------------------------------------
MONEY_PREFIXES = ("cost_exposure", "cost_avoided", "programme_cost", "net", "replacement_cost")
COUNT_COLUMNS = {"n", "answered", "headcount", "n_itl_answered", "n_eligible"}
LONG_VALUE_COLUMNS = ("value", "lo", "hi", "shrunk", "change", "change_lo", "change_hi")


def column_kind(table: str, column: str) -> str:
    """The number format of a column's numeric cells: 'rate' (0.0%), 'money' ($#,##0), 'count'
    (#,##0), 'int', 'decimal' (0.0), 'fine' (0.0000) or 'stat' (rel_metrics' long value columns,
    where each row's `stat` decides: a rate or a plain number)."""
    if table == "rel_metrics" and column in LONG_VALUE_COLUMNS:
        return "stat"
    base = column
    for suffix in ("_lo", "_hi"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if column in COUNT_COLUMNS or column.endswith(("_count", "_answered")) or base == "eligible_headcount":
        return "count"
    if base.startswith(MONEY_PREFIXES) and not base.endswith("_source"):
        return "money"
    if (
        base in ("response_rate", "predicted_itl_rate", "value")
        or base.startswith(("path_", "reason_"))
        or base.endswith(("_unfavourable", "_share", "_rate"))
        or base == "roi"
    ):
        return "rate"
    if base.endswith(("_importance", "r2_full")) or base == "r2_full":
        return "fine"
    if base in ("year",):
        return "int"
    if base.endswith(("_rank",)):
        return "int"
    return "decimal"


# ------------------------------------------------------------------------------------------
# Definitions (README sheet, CSV manifest)
# ------------------------------------------------------------------------------------------
# Table descriptions: pipelines.release.tables.describe (the one catalogue of released tables).
COLUMN_DEFINITIONS: dict[str, str] = {
    "wave": "Survey wave.",
    "site": "Site (empty = all sites).",
    "department": "Department within the site (empty = all departments).",
    "role": "Role (empty = all roles).",
    "level": "Which breakdown the row belongs to (organisation, site, department, role, site_role, department_role).",
    "n": "Respondents in the group (empty when the group is hidden).",
    "suppressed": "TRUE when the row is hidden to protect confidentiality: it then carries no figure.",
    "display": "The text the dashboard shows for the cell (a value, a band such as ≤20%, or 'hidden').",
    "metric": "Measure code (definitions below).",
    "stat": "What `value` is: rate (share, 0-100%), mean, median or p75 (75th centile).",
    "answered": "People who answered this measure (its denominator).",
    "value": "The measure's value for the group.",
    "lo": "Lower end of the 95% interval (Wilson for rates).",
    "hi": "Upper end of the 95% interval.",
    "shrunk": "Rate adjusted for small-unit noise (empirical Bayes), used to rank units.",
    "change": "Change since the previous wave (percentage points for rates).",
    "change_lo": "Lower end of the 95% interval of the change (Newcombe).",
    "change_hi": "Upper end of the 95% interval of the change.",
    "exceeds_noise": "TRUE when the change's 95% interval excludes zero.",
    "headcount": "Roster headcount (or respondents when there is no roster).",
    "response_rate": "Respondents / roster headcount.",
    "predicted_itl_rate": "Model-estimated share stating intent to leave (mean predicted probability).",
    "expected_departures": "Expected departures within two years: headcount x [p x P(leave|ITL) + (1-p) x P(leave|no ITL)].",
    "cost_exposure": "Expected departures x replacement cost by role.",
    "headcount_source": "Where headcount came from: roster, or respondents standing in for it.",
    "n_itl_answered": "Respondents who answered intent to leave.",
    "weights_source": "own = the unit's own driver analysis; organisation = borrowed (unit under 25 respondents).",
    "r2_full": "McFadden pseudo-R² of the full driver model (what the drivers explain together).",
    "scenario": "Name of the saved scenario.",
    "lever": "Retention option code (combined = all options of the scenario together).",
    "eligible_headcount": "People the option would be offered to, scaled to headcount.",
    "itl_change_pp": "Change in intent to leave across the scope, percentage points.",
    "itl_change_eligible_pp": "Change in intent to leave among the eligible, percentage points.",
    "departures_avoided": "Departures avoided over the planning horizon.",
    "cost_avoided": "Departures avoided x replacement cost.",
    "programme_cost": "Programme cost over the horizon.",
    "net": "Cost avoided minus programme cost.",
    "roi": "Return on investment: net / programme cost.",
    "break_even_cost_per_person": "Programme cost per eligible person per year at which the option breaks even on "
    "replacement costs avoided alone.",
    "risk_ratio": "Ratio of the estimated intent-to-leave rate with the option to the rate without it, among the eligible.",
    "e_value": "E-value: how strongly (as a risk ratio) an unmeasured factor would have to be linked with both the "
    "option and intent to leave to explain the estimate away.",
    "e_value_ci": "E-value of the interval's end nearest no effect (1 = the interval already includes no effect).",
    "expected_departures_sampling": "Expected departures' interval from sampling alone (without the conversion "
    "assumptions' uncertainty).",
}


def describe_column(column: str) -> str:
    """A definition for any released column, including the generated wide ones."""
    if column in COLUMN_DEFINITIONS:
        return COLUMN_DEFINITIONS[column]
    for suffix, words in (("_lo", "lower end of the 95% interval of "), ("_hi", "upper end of the 95% interval of ")):
        if column.endswith(suffix) and column[: -len(suffix)] in COLUMN_DEFINITIONS:
            return words.capitalize() + column[: -len(suffix)] + "."
    from pipelines import contract

    if column.startswith("path_"):
        code = column.removeprefix("path_").removesuffix("_count").removesuffix("_display")
        label = contract.LEAVE_PATH_LABELS.get(code, code)
        kind = "count" if column.endswith("_count") else "shown text" if column.endswith("_display") else "share"
        return f"Leave path “{label}”: {kind} of those who answered."
    if column.startswith("reason_"):
        code = column.removeprefix("reason_").removesuffix("_count").removesuffix("_display")
        label = contract.LEAVE_REASON_LABELS.get(code, code)
        kind = "count" if column.endswith("_count") else "shown text" if column.endswith("_display") else "share"
        return f"Reason “{label}”: {kind} of those who answered (several reasons allowed)."
    from pipelines.models.drivers import DRIVER_GROUPS

    for g in DRIVER_GROUPS:
        if column.startswith(g.key + "_"):
            field = column.removeprefix(g.key + "_")
            words = {
                "importance": "general-dominance importance (pseudo-R² points)",
                "importance_lo": "importance, lower end of the 95% interval",
                "importance_hi": "importance, upper end of the 95% interval",
                "share": "share of what the drivers explain",
                "sign": "+1 worse conditions go with more intent to leave, -1 the reverse",
                "rank": "rank among the drivers (1 = most important)",
                "unfavourable": "the unit's unfavourable share of answers",
                "unfavourable_answered": "answers behind the unfavourable share",
                "unfavourable_display": "unfavourable share as shown",
            }.get(field, field)
            return f"Driver “{g.label}”: {words}."
    return ""
