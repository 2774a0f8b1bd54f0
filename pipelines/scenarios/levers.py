"""Retention options: the lever library (METHODS.md, "Retention options").

Each lever says who is eligible, which parameters it takes (with defaults from the editable
assumptions), the published effect beside it, and how it changes a person's variables
(`apply_lever`). Model-based levers are estimated in `engine.py`; assumed levers (no survey variable)
are sized from leave paths and reasons and an editable assumed retention rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipelines.models import assumptions


class LeverModel(Protocol):
    """What applying a lever needs of its outcome model (pipelines.scenarios.causal.LeverModel):
    its design spec, whose `observed_range` keeps a changed value inside the data."""

    spec: Any


CAVEAT = (
    "Cross-sectional survey associations are not proof that this option causes the change; treat the "
    "estimate as a planning range, not a promise."
)
ASSUMED_CAVEAT = (
    "No survey measure captures this option: its effect is the assumed retention rate you set, applied to "
    "the people whose leave path or reasons fit it."
)


@dataclass(frozen=True)
class Param:
    key: str
    label: str
    default: float
    minimum: float
    maximum: float
    setting: str | None = None  # settings key holding the editable default


@dataclass(frozen=True)
class Lever:
    key: str
    label: str
    kind: str  # "model" | "assumed"
    eligibility: str
    params: tuple[Param, ...]
    published_effect: str
    evidence: str
    caveat: str = CAVEAT
    reasons_needed: tuple[str, ...] = ()

    def defaults(self, values: Mapping[str, Any]) -> dict[str, float]:
        return {p.key: float(values[p.setting]) if p.setting else p.default for p in self.params}


def _cost_params(prefix: str) -> tuple[Param, ...]:
    return (
        Param(
            "cost_per_person",
            "Programme cost per eligible person per year ($)",
            0.0,
            0.0,
            1e7,
            f"lever_{prefix}_cost_per_person",
        ),
        Param("fixed_cost", "Fixed programme cost per year ($)", 0.0, 0.0, 1e9),
    )


LEVERS: dict[str, Lever] = {
    lever.key: lever
    for lever in (
        Lever(
            "dropped_call",
            "Drop night call",
            "model",
            "Clinicians taking at least the threshold number of call nights a month.",
            (
                Param(
                    "threshold", "Eligible at this many call nights a month or more", 8, 1, 31, "lever_call_threshold"
                ),
                Param("call_nights", "Call nights a month after the change", 0, 0, 31),
                *_cost_params("call"),
            ),
            "Surgeons on >= 2 nights of call a week: burnout 44-46% vs 30% at <= 1 (Balch/Shanafelt 2010).",
            "Associational only (REFERENCE.md).",
        ),
        Lever(
            "reduced_fte",
            "Reduced clinical FTE",
            "model",
            "Clinicians who intend to reduce their FTE or whose leave path is 'reduce my clinical hours', "
            "and who now work above the target FTE.",
            (
                Param("target_fte", "Clinical FTE offered", 0.8, 0.2, 1.0, "lever_fte_target"),
                *_cost_params("fte"),
            ),
            "No direct effect on turnover published; in 2024 ITL was 35.7% among part-time vs 29.8% among "
            "full-time physicians (AMA), and reduced FTE is also an outcome of burnout (Dyrbye et al. 2016).",
            "Associational only (REFERENCE.md). After-hours EHR time is scaled down with FTE.",
        ),
        Lever(
            "ehr_support",
            "EHR and inbox support",
            "model",
            "Clinicians with at least the minimum after-hours EHR hours a week per clinical FTE (a part-timer's "
            "hours count in proportion: 0.8 h at 0.5 FTE is 1.6 h per FTE).",
            (
                Param(
                    "min_after_hours",
                    "Eligible at this many after-hours EHR hours a week per clinical FTE or more",
                    1.0,
                    0.0,
                    80.0,
                    "lever_ehr_min_hours",
                ),
                Param(
                    "hours_reduction",
                    "After-hours EHR hours a week removed",
                    0.9,
                    0.0,
                    40.0,
                    "lever_ehr_hours_reduction",
                ),
                Param(
                    "inbox_reduction_pct",
                    "Per cent of inbox messages removed",
                    20.0,
                    0.0,
                    100.0,
                    "lever_inbox_reduction_pct",
                ),
                *_cost_params("ehr"),
            ),
            "Ambient AI scribe: 0.90 fewer after-hours documentation hours a week and burnout 51.9% -> 38.8% "
            "in 30 days (pre/post quality-improvement study, secondary).",
            "Pre/post study, no control group (REFERENCE.md).",
        ),
        Lever(
            "schedule_flexibility",
            "Schedule flexibility",
            "assumed",
            "Respondents with intent to leave who give call or schedule, family or caregiving, or their own "
            "health as a reason.",
            (
                Param(
                    "retention_rate",
                    "Assumed share of eligible ITL holders kept",
                    0.2,
                    0.0,
                    1.0,
                    "lever_schedule_flex_retention",
                ),
                *_cost_params("schedule_flex"),
            ),
            "None published; nurse overtime >= 12 h a week is associated with turnover OR 1.26.",
            "Assumption (REFERENCE.md: only associational evidence).",
            ASSUMED_CAVEAT,
            ("call_schedule", "family_caregiving", "own_health"),
        ),
        Lever(
            "temporary_break",
            "Temporary break (sabbatical)",
            "assumed",
            "Respondents with intent to leave whose leave path is 'take a temporary break'.",
            (
                Param(
                    "retention_rate",
                    "Assumed share of eligible ITL holders kept",
                    0.3,
                    0.0,
                    1.0,
                    "lever_break_retention",
                ),
                *_cost_params("break"),
            ),
            "None published.",
            "Assumption.",
            ASSUMED_CAVEAT,
        ),
        Lever(
            "internal_move",
            "Internal move (another site or department)",
            "assumed",
            "Respondents with intent to leave whose leave path is 'move to another organisation' or who give "
            "geography as a reason.",
            (
                Param(
                    "retention_rate",
                    "Assumed share of eligible ITL holders kept",
                    0.15,
                    0.0,
                    1.0,
                    "lever_internal_move_retention",
                ),
                *_cost_params("internal_move"),
            ),
            "None published.",
            "Assumption.",
            ASSUMED_CAVEAT,
            ("geography",),
        ),
        Lever(
            "clinical_adjacent_role",
            "Clinical-adjacent role here",
            "assumed",
            "Respondents with intent to leave whose leave path is a clinical-adjacent role or leaving patient "
            "care, or who give career growth as a reason.",
            (
                Param(
                    "retention_rate",
                    "Assumed share of eligible ITL holders kept",
                    0.25,
                    0.0,
                    1.0,
                    "lever_adjacent_role_retention",
                ),
                *_cost_params("adjacent_role"),
            ),
            "None published.",
            "Assumption.",
            ASSUMED_CAVEAT,
            ("career_growth",),
        ),
    )
}


def lever_library(values: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The levers as a table for the Retention options page: eligibility, parameters with their
    defaults and bounds, published effect and caveat."""
    values = values or assumptions.values()
    rows = []
    for lever in LEVERS.values():
        rows.append(
            {
                "key": lever.key,
                "label": lever.label,
                "kind": lever.kind,
                "eligibility": lever.eligibility,
                "parameters": json.dumps(
                    [
                        {
                            "key": p.key,
                            "label": p.label,
                            "default": lever.defaults(values)[p.key],
                            "min": p.minimum,
                            "max": p.maximum,
                            "setting": p.setting,
                        }
                        for p in lever.params
                    ]
                ),
                "published_effect": lever.published_effect,
                "evidence": lever.evidence,
                "caveat": lever.caveat,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Eligibility and lever changes (respondent frames stay inside this module)
# --------------------------------------------------------------------------------------------
# After-hours EHR per clinical FTE (the published threshold is 68 min per clinical FTE a week; Adler-Milstein
# et al. 2020): derived, not stored. A missing or zero FTE counts as full time.
PER_FTE = "ehr_after_hours_per_fte"


def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    if name == PER_FTE and name not in df.columns:
        ehr = df["ehr_after_hours_per_week"].to_numpy(dtype="float64")
        fte = df["clinical_fte"].to_numpy(dtype="float64") if "clinical_fte" in df.columns else np.ones(len(df))
        fte = np.where(np.isfinite(fte) & (fte > 0), fte, 1.0)
        return ehr / fte
    return df[name].to_numpy(dtype="float64")


def _has_reason(df: pd.DataFrame, *codes: str) -> np.ndarray:
    out = np.zeros(len(df), dtype=bool)
    for c in codes:
        out |= df[f"reason_{c}"].to_numpy(dtype=bool)
    return out


def _path_in(df: pd.DataFrame, *paths: str) -> np.ndarray:
    return df["leave_path"].isin(paths).to_numpy(dtype=bool)


def _itl(df: pd.DataFrame) -> np.ndarray:
    return np.nan_to_num(_col(df, "itl"), nan=0.0) == 1.0


@dataclass(frozen=True)
class Threshold:
    """A lever whose eligibility is a threshold on one variable: `column` `op` the parameter `param`,
    on a grid of `step` (the parameter is snapped to it). Neighbouring thresholds differ by the
    people in one grid class, which is what a sweep over the threshold would isolate."""

    param: str
    column: str
    op: str  # ">=" or ">"
    step: float


THRESHOLDS: dict[str, Threshold] = {
    "dropped_call": Threshold("threshold", "call_nights_per_month", ">=", 1.0),
    "reduced_fte": Threshold("target_fte", "clinical_fte", ">", 0.05),
    "ehr_support": Threshold("min_after_hours", PER_FTE, ">=", 0.5),
}


def _grid_class(t: Threshold, x: np.ndarray) -> np.ndarray:
    """Each value's class on the threshold grid (NaN stays NaN): x >= T*step <=> class >= T for
    ">=", x > T*step <=> class > T for ">"."""
    with np.errstate(invalid="ignore"):
        if t.op == ">=":
            return np.floor(x / t.step + 1e-9)
        return np.ceil(x / t.step - 1e-9)


def snap_threshold(key: str, p: Mapping[str, float], notes: list[str] | None = None) -> dict[str, float]:
    """The parameters with the lever's threshold snapped to its grid (a note says so when it moved)."""
    t = THRESHOLDS.get(key)
    if t is None:
        return dict(p)
    value = float(p[t.param])
    snapped = round(round(value / t.step) * t.step, 10)
    if notes is not None and abs(snapped - value) > 1e-9:
        notes.append(f"{t.param} rounded to {snapped:g} (thresholds move in steps of {t.step:g}).")
    return {**p, t.param: snapped}


def _threshold_base(key: str, df: pd.DataFrame) -> np.ndarray:
    """Who the threshold applies to (everyone, or for reduced FTE those who want fewer hours)."""
    if key == "reduced_fte":
        wants = (df["intent_to_reduce_fte"].astype(object) == True).to_numpy(dtype=bool)  # noqa: E712
        return wants | _path_in(df, "reduce_hours")
    return np.ones(len(df), dtype=bool)


def threshold_neighbours(key: str, df: pd.DataFrame, p: Mapping[str, float]) -> tuple[int, int] | None:
    """(people in the nearest class just inside the eligible set, people in the nearest class just
    outside it): how many people the next threshold up or down would remove or add. 0 when there is
    no such class. None for levers without a threshold."""
    t = THRESHOLDS.get(key)
    if t is None:
        return None
    base = _threshold_base(key, df)
    q = _grid_class(t, _col(df, t.column))[base]
    q = q[~np.isnan(q)]
    T = round(float(p[t.param]) / t.step)
    inside = q >= T if t.op == ">=" else q > T
    up = int((q == q[inside].min()).sum()) if inside.any() else 0
    down = int((q == q[~inside].max()).sum()) if (~inside).any() else 0
    return up, down


def _eligible(key: str, df: pd.DataFrame, p: Mapping[str, float]) -> np.ndarray:
    t = THRESHOLDS.get(key)
    if t is not None:
        q = _grid_class(t, _col(df, t.column))
        T = round(float(p[t.param]) / t.step)
        with np.errstate(invalid="ignore"):
            above = (q >= T) if t.op == ">=" else (q > T)
        return _threshold_base(key, df) & above
    if key == "schedule_flexibility":
        return _itl(df) & _has_reason(df, "call_schedule", "family_caregiving", "own_health")
    if key == "temporary_break":
        return _itl(df) & _path_in(df, "temporary_break")
    if key == "internal_move":
        return _itl(df) & (_path_in(df, "other_organisation") | _has_reason(df, "geography"))
    if key == "clinical_adjacent_role":
        return _itl(df) & (
            _path_in(df, "clinical_adjacent_role", "leave_patient_care") | _has_reason(df, "career_growth")
        )
    raise ValueError(f"Unknown lever {key!r}; choose from {list(LEVERS)}.")


def _clip_to_observed(model: LeverModel, column: str, value: np.ndarray, notes: list[str]) -> np.ndarray:
    lo, hi = model.spec.observed_range.get(column, (-np.inf, np.inf))
    clipped = np.clip(value, lo, hi)
    if np.any(np.abs(clipped - value)[~np.isnan(value)] > 1e-12):
        notes.append(f"{column} kept within the observed range {lo:g}-{hi:g}.")
    return clipped


def _apply(
    key: str, df: pd.DataFrame, eligible: np.ndarray, p: Mapping[str, float], model: LeverModel, notes: list[str]
) -> pd.DataFrame:
    """The scenario version of `df`: the lever's variables changed for the eligible rows only."""
    out = df.copy()
    if key == "dropped_call":
        new = _clip_to_observed(model, "call_nights_per_month", np.full(len(df), p["call_nights"]), notes)
        out["call_nights_per_month"] = np.where(eligible, new, _col(df, "call_nights_per_month"))
    elif key == "reduced_fte":
        fte = _col(df, "clinical_fte")
        target = _clip_to_observed(model, "clinical_fte", np.full(len(df), p["target_fte"]), notes)
        new_fte = np.where(eligible, np.minimum(fte, target), fte)
        ehr = _col(df, "ehr_after_hours_per_week")
        with np.errstate(invalid="ignore", divide="ignore"):
            scaled = np.where(eligible & (fte > 0), ehr * new_fte / fte, ehr)
        out["clinical_fte"] = new_fte
        out["ehr_after_hours_per_week"] = scaled
    elif key == "ehr_support":
        ehr = _col(df, "ehr_after_hours_per_week")
        inbox = _col(df, "inbox_messages_per_day")
        lo_e = max(model.spec.observed_range.get("ehr_after_hours_per_week", (0.0, 0.0))[0], 0.0)
        lo_i = max(model.spec.observed_range.get("inbox_messages_per_day", (0.0, 0.0))[0], 0.0)
        new_ehr = np.maximum(ehr - p["hours_reduction"], lo_e)
        new_inbox = np.maximum(inbox * (1 - p["inbox_reduction_pct"] / 100.0), lo_i)
        out["ehr_after_hours_per_week"] = np.where(eligible, new_ehr, ehr)
        out["inbox_messages_per_day"] = np.where(eligible, new_inbox, inbox)
    return out


def normalise_levers(levers: Sequence[Any], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """[{"key", "params"}] with defaults filled in, unknown keys refused and bounds enforced."""
    out = []
    for item in levers:
        key, params = (item, {}) if isinstance(item, str) else (item["key"], dict(item.get("params", {})))
        if key not in LEVERS:
            raise ValueError(f"Unknown lever {key!r}; choose from {list(LEVERS)}.")
        lever = LEVERS[key]
        full = lever.defaults(values)
        known = {p.key: p for p in lever.params}
        for k, v in params.items():
            if k not in known:
                raise ValueError(f"Lever {key} has no parameter {k!r}; it has {list(known)}.")
            v = float(v)
            if not known[k].minimum <= v <= known[k].maximum:
                raise ValueError(f"{key}.{k} must be between {known[k].minimum:g} and {known[k].maximum:g}.")
            full[k] = v
        out.append({"key": key, "params": full})
    return out


RESULT_METRICS: tuple[tuple[str, str], ...] = (
    ("eligible_headcount", "Eligible headcount"),
    ("itl_change_pp", "Change in intent to leave, whole scope (percentage points)"),
    ("itl_change_eligible_pp", "Change in intent to leave among the eligible (percentage points)"),
    ("departures_avoided", "Departures avoided over the horizon"),
    ("cost_avoided", "Replacement cost avoided ($)"),
    ("programme_cost", "Programme cost over the horizon ($)"),
    ("net", "Net saving ($)"),
    ("roi", "Return on investment (net / cost)"),
)
