"""Retention options: a lever library and a scenario planner (METHODS.md, "Retention options").

Model-based levers (dropped call, reduced FTE, EHR/inbox support) use g-computation: fit the ITL model
WITHOUT burnout_level (burnout lies on the path from the lever to intent to leave, so adjusting for it
would hide most of the lever's effect), set the lever to its scenario value for the eligible people
(only within the range observed in the data), re-predict, and take the mean change. Levers with no
survey variable (schedule flexibility, temporary break, internal move, clinical-adjacent role) are
sized from leave paths and reasons and an explicit, editable assumed retention rate: the share of
eligible intent-to-leave holders whose intent the option resolves.

Money: departures avoided (two years, via the same conversion as expected departures: each point of
ITL avoided is worth P(leave | ITL) - P(leave | no ITL) departures) x replacement cost; programme cost
= (cost per eligible person per year x eligible headcount + fixed cost per year) x horizon years;
net = cost avoided - programme cost; ROI = net / programme cost (Shanafelt, Goh & Sinsky 2017).
Eligible headcount is scaled to the roster cell by cell (site x department x role) when a roster
exists; otherwise respondents stand in.

Intervals: 95% percentile bootstrap, `refits` refits of the lever model (as in risk.py) combined with
`resamples` Poisson(1) resamples of the respondents in scope.

Cross-sectional survey associations are not proof that a lever causes the change: every result says so.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines.models import assumptions
from pipelines.models.features import cell_codes, expit, load_respondents
from pipelines.models.risk import CELL, FittedModel, _norm, fit_model, load_roster, role_costs
from pipelines.release import privacy
from pipelines.store import settings

CAVEAT = (
    "Cross-sectional survey associations are not proof that this option causes the change; treat the "
    "estimate as a planning range, not a promise."
)
ASSUMED_CAVEAT = (
    "No survey measure captures this option: its effect is the assumed retention rate you set, applied to "
    "the people whose leave path or reasons fit it."
)
RESAMPLES = 200
REFITS = 30


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
            "Clinicians with at least the minimum after-hours EHR hours a week.",
            (
                Param(
                    "min_after_hours",
                    "Eligible at this many after-hours EHR hours a week or more",
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
def _col(df: pd.DataFrame, name: str) -> np.ndarray:
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


def _eligible(key: str, df: pd.DataFrame, p: Mapping[str, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if key == "dropped_call":
            return _col(df, "call_nights_per_month") >= p["threshold"]
        if key == "reduced_fte":
            wants = (df["intent_to_reduce_fte"].astype(object) == True).to_numpy(dtype=bool)  # noqa: E712
            return (wants | _path_in(df, "reduce_hours")) & (_col(df, "clinical_fte") > p["target_fte"])
        if key == "ehr_support":
            return _col(df, "ehr_after_hours_per_week") >= p["min_after_hours"]
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


def _clip_to_observed(model: FittedModel, column: str, value: np.ndarray, notes: list[str]) -> np.ndarray:
    lo, hi = model.spec.observed_range.get(column, (-np.inf, np.inf))
    clipped = np.clip(value, lo, hi)
    if np.any(np.abs(clipped - value)[~np.isnan(value)] > 1e-12):
        notes.append(f"{column} kept within the observed range {lo:g}-{hi:g}.")
    return clipped


def _apply(
    key: str, df: pd.DataFrame, eligible: np.ndarray, p: Mapping[str, float], model: FittedModel, notes: list[str]
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


# --------------------------------------------------------------------------------------------
# Running a scenario
# --------------------------------------------------------------------------------------------
def latest_wave(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        """select coalesce(r.wave, '') from responses r left join uploads u using (upload_id)
           group by 1 order by max(u.uploaded_at) desc nulls last, 1 desc limit 1"""
    ).fetchall()[:1]
    return row[0][0] if row else None


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


@dataclass
class _Scope:
    df: pd.DataFrame
    codes: np.ndarray
    hc: np.ndarray
    cost: np.ndarray
    headcount_source: str
    k: int


def group_released(con: duckdb.DuckDBPyConnection, wave: str, filters: Mapping[str, str | None]) -> bool | None:
    """Is the scope's group visible in the released rel_groups (which applies the minimum group,
    complementary suppression and the remainder rule)? A scenario scope must be, or two runs (a site,
    then the site without one role) could be subtracted to reveal a group the release hides. None
    when no build has released rel_groups yet (the minimum-group check still applies)."""
    if not con.execute("select count(*) from duckdb_tables() where table_name = 'rel_groups'").fetchall()[0][0]:
        return None
    mask = sum(bit for bit, dim in privacy.BREAKDOWN if filters.get(dim) is not None)
    level = privacy.LEVEL_NAMES[mask]
    dims = ("site", "department", "role")
    where = " and ".join(["wave = ?", "level = ?", *(f"{d} is not distinct from ?" for d in dims)])
    rows = con.execute(
        f"select suppressed from rel_groups where {where}", [wave, level, *(filters.get(d) for d in dims)]
    ).fetchall()
    return bool(rows) and not any(bool(r[0]) for r in rows)


def _scope(
    con: duckdb.DuckDBPyConnection,
    wave_df: pd.DataFrame,
    wave: str,
    filters: Mapping[str, str | None],
    values: Mapping[str, Any],
) -> _Scope:
    mask = np.ones(len(wave_df), dtype=bool)
    for col, value in filters.items():
        if value is not None:
            mask &= (wave_df[col].astype(object) == value).to_numpy(dtype=bool)
    df = wave_df[mask].reset_index(drop=True)
    k = int(settings.get(con, "min_group_size"))
    if len(df) < k:
        raise ValueError(f"Fewer than {k} respondents in this scope: no scenario can be shown for it.")
    if group_released(con, wave, filters) is False:
        raise ValueError(
            "This group is hidden in the released tables (fewer than "
            f"{k} respondents, or showing it would let someone work out a smaller group), so no scenario "
            "can be shown for it. Widen the scope."
        )
    codes, cells = cell_codes(df, CELL)
    counts = np.bincount(codes, minlength=len(cells)).astype("float64")
    costs = role_costs(values)
    cost = np.array([costs.get(r, np.nan) for r in cells["role"]], dtype="float64")
    roster = load_roster(con, wave or None)
    if roster is not None and len(roster):
        keys = list(CELL)
        cn = pd.DataFrame({c: _norm(cells[c]) for c in keys})
        rn = pd.DataFrame({c: _norm(roster[c]) for c in keys})
        rn["headcount"] = roster["headcount"].to_numpy()
        rn["replacement_cost"] = roster["replacement_cost"].to_numpy()
        merged = cn.merge(rn, on=keys, how="left")
        hc = merged["headcount"].to_numpy(dtype="float64")
        # a cell of respondents missing from the roster falls back to its respondents
        hc = np.where(np.isnan(hc), counts, hc)
        rc = merged["replacement_cost"].to_numpy(dtype="float64")
        cost = np.where(np.isnan(rc), cost, rc)
        source = "roster"
    else:
        hc, source = counts, "respondents"
    return _Scope(df, codes, hc, cost, source, k)


def _effects(
    key: str, scope: _Scope, params: Mapping[str, float], model: FittedModel | None, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(eligible mask, per-respondent change in P(ITL) for each refit [R x n] or None, assumed rate)."""
    eligible = _eligible(key, scope.df, params)
    lever = LEVERS[key]
    if lever.kind == "assumed":
        return eligible, None, float(params["retention_rate"])
    assert model is not None
    after = _apply(key, scope.df, eligible, params, model, notes)
    # only eligible people change: predict for them alone (a fraction of a large wave)
    X0, X1 = model.spec.transform(scope.df[eligible]), model.spec.transform(after[eligible])
    betas = np.vstack([model.beta[None, :], model.refit_betas])
    delta = np.zeros((len(betas), len(scope.df)))  # (1 + R) x n
    delta[:, eligible] = (expit(X1 @ betas.T) - expit(X0 @ betas.T)).T
    return eligible, delta, 0.0


def _summarise(
    scope: _Scope,
    eligible: np.ndarray,
    delta: np.ndarray,  # (1 + R) x n change in P(ITL), or 1 x n for assumed levers
    params: Mapping[str, float],
    values: Mapping[str, Any],
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Point estimate (index 0) and bootstrap replicates (1..B) of every result metric."""
    a, b = float(values[assumptions.P_LEAVE_ITL]), float(values[assumptions.P_LEAVE_NO_ITL])
    horizon = float(values["scenario_horizon_years"])
    n_cells = len(scope.hc)
    R = delta.shape[0] - 1
    W = np.empty((resamples + 1, n_cells))
    E = np.empty((resamples + 1, n_cells))
    Dl = np.empty((resamples + 1, n_cells))
    # Poisson bootstrap. People a lever neither reaches nor changes only add to their cell's weight,
    # and a sum of m independent Poisson(1) weights is exactly Poisson(m): one draw per cell instead
    # of one per person. Everyone else is drawn individually, as before.
    active = eligible | np.any(delta != 0, axis=0)
    codes = scope.codes[active]
    elig_f = eligible[active].astype("float64")
    d_active = delta[:, active]
    rest = np.bincount(scope.codes[~active], minlength=n_cells).astype("float64")
    n_active = int(active.sum())
    for j in range(resamples + 1):
        if j == 0:
            w, others = np.ones(n_active), rest
        else:
            w, others = rng.poisson(1.0, n_active).astype("float64"), rng.poisson(rest).astype("float64")
        d = d_active[0] if j == 0 or R == 0 else d_active[1 + (j - 1) % R]
        W[j] = np.bincount(codes, weights=w, minlength=n_cells) + others
        E[j] = np.bincount(codes, weights=w * elig_f, minlength=n_cells)
        Dl[j] = np.bincount(codes, weights=w * d, minlength=n_cells)
    safe = np.where(W > 0, W, 1.0)
    share_elig = np.where(W > 0, E / safe, 0.0)
    mean_delta = np.where(W > 0, Dl / safe, 0.0)
    eligible_hc = share_elig @ scope.hc
    departures = (-mean_delta * scope.hc) * (a - b)
    departures_avoided = departures.sum(axis=1)
    cost_avoided = departures @ np.nan_to_num(scope.cost)
    programme = (params["cost_per_person"] * eligible_hc + params["fixed_cost"]) * horizon
    net = cost_avoided - programme
    with np.errstate(invalid="ignore", divide="ignore"):
        roi = np.where(programme > 0, net / np.where(programme > 0, programme, 1.0), np.nan)
        itl_eligible = 100 * Dl.sum(axis=1) / np.where(E.sum(axis=1) > 0, E.sum(axis=1), np.nan)
    itl_scope = 100 * (mean_delta @ scope.hc) / scope.hc.sum()
    return {
        "eligible_headcount": eligible_hc,
        "itl_change_pp": itl_scope,
        "itl_change_eligible_pp": itl_eligible,
        "departures_avoided": departures_avoided,
        "cost_avoided": cost_avoided,
        "programme_cost": programme,
        "net": net,
        "roi": roi,
    }


_FITTED: dict[tuple, tuple[pd.DataFrame, Any]] = {}
_FITTED_LOCK = threading.Lock()
_FITTED_MAX = 4


def _wave_inputs(con, wave: str, reasons: list[str], need_model: bool, refits: int, seed: int):
    """The wave's respondents and the lever model (fitted without burnout), kept in memory while the
    wave's uploads are unchanged: a planner trying parameter after parameter refits nothing.
    The cache key includes the wave's upload ids, so a new or deleted upload refits."""
    uploads = con.execute(
        "select count(*), string_agg(distinct upload_id, ',' order by upload_id) from responses where wave = ?",
        [wave],
    ).fetchall()[0]
    key = (wave, uploads, tuple(reasons), refits, seed)
    with _FITTED_LOCK:
        cached = _FITTED.get(key)
    if cached is not None and (cached[1] is not None or not need_model):
        return cached
    wave_df = cached[0] if cached is not None else load_respondents(con, wave=wave, reasons=reasons)
    if wave_df.empty:
        raise ValueError(f"No responses in wave {wave!r}.")
    model = None
    if need_model:
        with threadpool_limits(limits=1, user_api="blas"):
            model = fit_model(wave_df, include_burnout=False, refits=refits, seed=seed)
    with _FITTED_LOCK:
        if len(_FITTED) >= _FITTED_MAX:
            _FITTED.pop(next(iter(_FITTED)))
        _FITTED[key] = (wave_df, model)
    return wave_df, model


def run_scenario(
    con: duckdb.DuckDBPyConnection,
    levers: Sequence[Any],
    *,
    wave: str | None = None,
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
    values: Mapping[str, Any] | None = None,
    resamples: int = RESAMPLES,
    refits: int = REFITS,
    seed: int = 0,
) -> pd.DataFrame:
    """Results of a scenario: one row per lever, plus a 'combined' row when there are several.

    `levers`: keys or {"key": ..., "params": {...}} (see `LEVERS` for parameters and bounds). Scope:
    wave (default: the latest) and optional site/department/role. Every metric has _lo and _hi (95%
    bootstrap). Rows with fewer eligible respondents than the anonymity threshold are suppressed
    (metrics empty, `suppressed` True). No individual value is returned.
    """
    values = dict(values or assumptions.values(con))
    chosen = normalise_levers(levers, values)
    if not chosen:
        raise ValueError("Choose at least one lever.")
    wave = latest_wave(con) if wave is None else wave
    if wave is None:
        raise ValueError("No survey responses in the warehouse yet.")
    reasons = sorted({r for lv in LEVERS.values() for r in lv.reasons_needed} | {"geography", "career_growth"})
    need_model = any(LEVERS[c["key"]].kind == "model" for c in chosen)
    wave_df, model = _wave_inputs(con, wave, reasons, need_model, refits, seed)
    scope = _scope(con, wave_df, wave, {"site": site, "department": department, "role": role}, values)
    rng = np.random.default_rng(seed + 3)
    rows, deltas, eligibles, programme_costs = [], [], [], []
    for c in chosen:
        notes: list[str] = []
        eligible, delta, rate = _effects(c["key"], scope, c["params"], model, notes)
        if delta is None:
            delta = (-rate * eligible.astype("float64"))[None, :]
        deltas.append(delta)
        eligibles.append(eligible)
        stats = _summarise(scope, eligible, delta, c["params"], values, resamples, rng)
        programme_costs.append(float(stats["programme_cost"][0]))
        rows.append(_row(c["key"], LEVERS[c["key"]].label, scope, eligible, stats, notes))
    if len(chosen) > 1:
        rows.append(_combined(chosen, scope, eligibles, deltas, programme_costs, values, resamples, rng))
        eligibles.append(np.any(np.vstack(eligibles), axis=0))
    _protect_nested(rows, eligibles, scope.k)
    out = pd.DataFrame(rows)
    out.insert(0, "wave", wave)
    for col, value in (("site", site), ("department", department), ("role", role)):
        out.insert(out.columns.get_loc("lever"), col, value)
    return out


def _protect_nested(rows: list[dict[str, Any]], eligibles: list[np.ndarray], k: int) -> None:
    """Differencing protection between the rows of one scenario.

    When one row's eligible group contains another's (a lever inside the combined row, or a lever
    whose rule is wider than another's), their difference is a group of its own: if it holds 1 to
    k - 1 people, the larger row is hidden too, so subtracting rows cannot isolate a small group.
    Repeats until nothing changes."""
    sets = [np.asarray(e, dtype=bool) for e in eligibles]
    changed = True
    while changed:
        changed = False
        for i, small in enumerate(sets):
            for j, big in enumerate(sets):
                if i == j or rows[i]["suppressed"] and rows[j]["suppressed"]:
                    continue
                if rows[j]["suppressed"] or np.any(small & ~big):
                    continue
                diff = int(big.sum() - small.sum())
                if 0 < diff < k:
                    _hide(rows[j], k)
                    changed = True


def _hide(row: dict[str, Any], k: int) -> None:
    row["suppressed"] = True
    row["n_eligible"] = None
    for metric, _ in RESULT_METRICS:
        row[metric] = row[f"{metric}_lo"] = row[f"{metric}_hi"] = np.nan
    row["notes"] = (
        f"{row['notes']} Hidden: it differs from another option's eligible group by fewer than {k} people."
    ).strip()


def _combined(
    chosen: list[dict[str, Any]],
    scope: _Scope,
    eligibles: list[np.ndarray],
    deltas: list[np.ndarray],
    programme_costs: list[float],
    values: Mapping[str, Any],
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """All levers together: model levers add their changes; assumed levers keep shares of the
    remaining ITL holders multiplicatively (1 - prod(1 - rate)). Overlap between a model lever and
    an assumed lever is not removed, so the combined row is an upper bound."""
    R = max(d.shape[0] for d in deltas)
    total = np.zeros((R, len(scope.df)))
    kept = np.ones(len(scope.df))
    for c, d, e in zip(chosen, deltas, eligibles, strict=True):
        if LEVERS[c["key"]].kind == "model":
            total += d if d.shape[0] == R else d[:1]
        else:
            kept *= 1 - float(c["params"]["retention_rate"]) * e
    total += -(1 - kept)[None, :]
    total = np.maximum(total, -1.0)
    eligible = np.any(np.vstack(eligibles), axis=0)
    params = {
        "cost_per_person": 0.0,
        "fixed_cost": 0.0,
    }
    stats = _summarise(scope, eligible, total, params, values, resamples, rng)
    # programme cost: each lever's own cost (people eligible for two levers are paid for twice)
    stats["programme_cost"] = np.full_like(stats["programme_cost"], float(sum(programme_costs)))
    stats["net"] = stats["cost_avoided"] - stats["programme_cost"]
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["roi"] = np.where(
            stats["programme_cost"] > 0, stats["net"] / np.maximum(stats["programme_cost"], 1e-12), np.nan
        )
    notes = ["Levers applied together; overlap between model-based and assumed levers is not removed (upper bound)."]
    return _row("combined", "All levers together", scope, eligible, stats, notes)


def _row(
    key: str, label: str, scope: _Scope, eligible: np.ndarray, stats: Mapping[str, np.ndarray], notes: list[str]
) -> dict[str, Any]:
    n_scope, n_elig = len(scope.df), int(eligible.sum())
    homogeneous = n_scope < 10 and n_elig in (0, n_scope)
    suppressed = (0 < n_elig < scope.k) or homogeneous
    row: dict[str, Any] = {
        "lever": key,
        "label": label,
        "kind": LEVERS[key].kind if key in LEVERS else "combined",
        "n": n_scope,
        "n_eligible": None if suppressed else n_elig,
        "headcount_source": scope.headcount_source,
        "suppressed": suppressed,
    }
    for metric, _ in RESULT_METRICS:
        values = stats[metric]
        est = float(values[0]) if not suppressed else np.nan
        reps = values[1:][np.isfinite(values[1:])]
        lo = float(np.percentile(reps, 2.5)) if reps.size and not suppressed else np.nan
        hi = float(np.percentile(reps, 97.5)) if reps.size and not suppressed else np.nan
        row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = est, lo, hi
    lever = LEVERS.get(key)
    row["published_effect"] = lever.published_effect if lever else ""
    row["evidence"] = lever.evidence if lever else ""
    row["caveat"] = lever.caveat if lever else CAVEAT
    if suppressed:
        notes = [
            *notes,
            f"Fewer than {scope.k} eligible respondents (or everyone/no one in a group under 10): not shown.",
        ]
    row["notes"] = " ".join(dict.fromkeys(notes))
    return row


# --------------------------------------------------------------------------------------------
# Saved scenarios
# --------------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_scenario(
    con: duckdb.DuckDBPyConnection,
    name: str,
    levers: Sequence[Any],
    scope: Mapping[str, Any],
    results: pd.DataFrame,
    *,
    created_by: str | None = None,
    overwrite: bool = False,
) -> None:
    """Store a scenario (levers with parameters, scope, results) under a unique name."""
    name = str(name).strip()
    if not name:
        raise ValueError("A scenario needs a name.")
    exists = con.execute("select count(*) from scenarios where name = ?", [name]).fetchall()[0][0]
    if exists and not overwrite:
        raise ValueError(f"A scenario called {name!r} already exists.")
    records = [{k: _clean(v) for k, v in r.items()} for r in results.to_dict(orient="records")]
    payload = [
        json.dumps(list(levers), default=_json_default),
        json.dumps(dict(scope), default=_json_default),
        json.dumps(records, default=_json_default),
    ]
    if exists:
        con.execute("delete from scenarios where name = ?", [name])
    con.execute(
        "insert into scenarios (name, levers, scope, results, created_by, created_at) "
        "values (?, ?, ?, ?, ?, current_timestamp)",
        [name, *payload, created_by],
    )


def list_scenarios(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Saved scenarios, newest first, with their levers and scope in words."""
    rows = con.execute(
        "select name, levers, scope, created_by, created_at from scenarios order by created_at desc, name"
    ).fetchall()
    out = []
    for name, levers, scope, by, at in rows:
        levers, scope = json.loads(levers), json.loads(scope)
        out.append(
            {
                "name": name,
                "levers": ", ".join(lv["key"] if isinstance(lv, dict) else str(lv) for lv in levers),
                "scope": ", ".join(f"{k}={v}" for k, v in scope.items() if v is not None) or "whole organisation",
                "created_by": by,
                "created_at": at,
            }
        )
    return pd.DataFrame(out, columns=["name", "levers", "scope", "created_by", "created_at"])


def load_scenario(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    """{"name", "levers", "scope", "results" (DataFrame), "created_by", "created_at"}."""
    rows = con.execute(
        "select name, levers, scope, results, created_by, created_at from scenarios where name = ?", [name]
    ).fetchall()
    if not rows:
        raise KeyError(f"No saved scenario called {name!r}.")
    row = rows[0]
    return {
        "name": row[0],
        "levers": json.loads(row[1]),
        "scope": json.loads(row[2]),
        "results": pd.DataFrame(json.loads(row[3])),
        "created_by": row[4],
        "created_at": row[5],
    }


def delete_scenario(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Delete a saved scenario; True when one was deleted."""
    n = con.execute("select count(*) from scenarios where name = ?", [name]).fetchall()[0][0]
    con.execute("delete from scenarios where name = ?", [name])
    return bool(n)


def _headline(results: pd.DataFrame) -> pd.Series:
    """The row that sums up a scenario: 'combined' when there are several levers."""
    combined = results[results["lever"] == "combined"]
    return (combined if len(combined) else results).iloc[0]


def compare_scenarios(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> pd.DataFrame:
    """Side by side: one row per result metric, for each scenario the estimate and its interval."""
    data: dict[str, list[Any]] = {"metric": [label for _, label in RESULT_METRICS]}
    for name in names:
        sc = load_scenario(con, name)
        head = _headline(sc["results"])
        data[name] = [head.get(m) for m, _ in RESULT_METRICS]
        data[f"{name} low"] = [head.get(f"{m}_lo") for m, _ in RESULT_METRICS]
        data[f"{name} high"] = [head.get(f"{m}_hi") for m, _ in RESULT_METRICS]
    frame = pd.DataFrame(data)
    extra = {"metric": ["Levers", "Scope"]}
    for name in names:
        sc = load_scenario(con, name)
        extra[name] = [
            ", ".join(lv["key"] if isinstance(lv, dict) else str(lv) for lv in sc["levers"]),
            ", ".join(f"{k}={v}" for k, v in sc["scope"].items() if v is not None) or "whole organisation",
        ]
        extra[f"{name} low"] = [None, None]
        extra[f"{name} high"] = [None, None]
    return pd.concat([pd.DataFrame(extra), frame.astype(object)], ignore_index=True)
