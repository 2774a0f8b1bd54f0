"""Retention options: estimating a scenario (METHODS.md, "Retention options").

Model-based levers (dropped call, reduced FTE, EHR/inbox support) use g-computation over the stated
causal structure (causal.py): each lever has its own outcome model, which adjusts for what comes
before the lever and leaves out what lies on its path (burnout, stress, satisfaction and, for the
EHR and FTE levers, the EHR perception items), so the lever's whole effect stays in it. The lever is
set to its scenario value for the eligible people (only within the range observed in the data),
intent to leave is re-predicted, and the effect is the mean change. Levers with no survey variable
(schedule flexibility, temporary break, internal move, clinical-adjacent role) are sized from leave
paths and reasons and an explicit, editable assumed retention rate: the share of eligible
intent-to-leave holders whose intent the option resolves.

Money: departures avoided (two years, via the same conversion as expected departures: each point of
ITL avoided is worth P(leave | ITL) - P(leave | no ITL) departures) x replacement cost; programme cost
= (cost per eligible person per year x eligible headcount + fixed cost per year) x horizon years;
net = cost avoided - programme cost; ROI = net / programme cost (Shanafelt, Goh & Sinsky 2017).
Eligible headcount is scaled to the roster cell by cell (site x department x role) when a roster
exists; otherwise respondents stand in. Both eligible counts (respondents and headcount) are released
rounded to 5, and an assumed lever's departures and change in intent to leave follow the rounded count
(they are the count times a constant): two nested scopes (a site, then one of its departments) then never
difference to an exact count of the small group between them.

Intervals: 95% percentile bootstrap over `resamples` replicates, each pairing a Poisson(1) resample
of the respondents in scope with its own refit of the lever model (`refits`, 200 by default).
Beside each model-based estimate: the risk ratio among the eligible and its E-value (VanderWeele &
Ding 2017).

Cross-sectional survey associations are not proof that a lever causes the change: every result says so.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines.contract import levels
from pipelines.models import assumptions
from pipelines.models.features import cell_codes, load_respondents
from pipelines.models.risk import CELL, _norm, load_roster, role_costs
from pipelines.release import privacy
from pipelines.scenarios import causal
from pipelines.scenarios.levers import (
    CAVEAT,
    LEVERS,
    RESULT_METRICS,
    _apply,
    _eligible,
    normalise_levers,
    snap_threshold,
    threshold_neighbours,
)
from pipelines.store import settings

RESAMPLES = 200
REFITS = 200  # one refit of the models per bootstrap replicate (percentile intervals need >= 200)

# The programme cost per eligible person per year at which an option breaks even (net saving 0),
# with its interval: what a leader can compare with a quote, whatever the default cost says.
BREAK_EVEN: tuple[str, ...] = (
    "break_even_cost_per_person",
    "break_even_cost_per_person_lo",
    "break_even_cost_per_person_hi",
)

# Eligible headcount (roster-weighted when a roster exists) is released rounded to this base.
HEADCOUNT_ROUNDING = 5

# Sensitivity columns of a result row (risk ratio among the eligible, E-value of the estimate and of
# the interval limit closest to no effect; VanderWeele & Ding 2017). Empty for assumed levers.
SENSITIVITY: tuple[str, ...] = ("risk_ratio", "risk_ratio_lo", "risk_ratio_hi", "e_value", "e_value_ci")
E_VALUE_NOTE = (
    "E-value: how strongly (as a risk ratio) an unmeasured factor would have to be linked with both the "
    "option and intent to leave to explain the estimate away; the second figure does the same for the "
    "interval's end nearest no effect (1 = the interval already includes no effect)."
)


# --------------------------------------------------------------------------------------------
# Running a scenario
# --------------------------------------------------------------------------------------------
def latest_wave(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        """select coalesce(r.wave, '') from responses r left join uploads u using (upload_id)
           group by 1 order by max(u.uploaded_at) desc nulls last, 1 desc limit 1"""
    ).fetchall()[:1]
    return row[0][0] if row else None


@dataclass
class _Population:
    df: pd.DataFrame
    codes: np.ndarray
    hc: np.ndarray
    cost: np.ndarray
    headcount_source: str
    k: int  # minimum group for model-based levers
    k_paths: int  # floor for levers sized by leave paths and reasons (max(k, intentions k, 10))


def group_released(con: duckdb.DuckDBPyConnection, wave: str, filters: Mapping[str, str | None]) -> bool | None:
    """Is the scope's group visible in the released rel_groups (which applies the minimum group,
    complementary suppression and the remainder rule)? A scenario scope must be, or two runs (a site,
    then the site without one role) could be subtracted to reveal a group the release hides. None
    when no build has released rel_groups yet (the minimum-group check still applies)."""
    if not con.execute("select count(*) from duckdb_tables() where table_name = 'rel_groups'").fetchall()[0][0]:
        return None
    mask = sum(bit for bit, dim in privacy.BREAKDOWN if filters.get(dim) is not None)
    level = privacy.LEVEL_NAMES[mask]
    dims = levels.DIMENSIONS
    where = " and ".join(["wave = ?", "level = ?", *(f"{d} is not distinct from ?" for d in dims)])
    rows = con.execute(
        f"select suppressed from rel_groups where {where}", [wave, level, *(filters.get(d) for d in dims)]
    ).fetchall()
    return bool(rows) and not any(bool(r[0]) for r in rows)


def _population(
    con: duckdb.DuckDBPyConnection,
    wave_df: pd.DataFrame,
    wave: str,
    filters: Mapping[str, str | None],
    values: Mapping[str, Any],
) -> _Population:
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
    k_paths = privacy.effective_k("intentions", k, int(settings.get(con, "intentions_min_group_size")))
    return _Population(df, codes, hc, cost, source, k, k_paths)


class _Effect:
    """A lever's effect on the eligible rows: `replicate(r)` gives, for refit r (0 = the fit), each
    eligible person's change in P(ITL) and (model-based levers only) their P(ITL) without the lever,
    both over `np.flatnonzero(eligible)`. Replicates are computed when asked for, never held for all
    refits at once (a large wave times hundreds of refits would not fit in memory)."""

    def __init__(self, eligible: np.ndarray, refits: int, fn, rate: float = 0.0, model_based: bool = True):
        self.eligible = np.asarray(eligible, dtype=bool)
        self.refits = refits
        self.rate = rate
        self.model_based = model_based
        self._fn = fn

    def replicate(self, r: int) -> tuple[np.ndarray, np.ndarray | None]:
        return self._fn(min(r, self.refits))

    @classmethod
    def assumed(cls, eligible: np.ndarray, rate: float) -> _Effect:
        n_e = int(np.asarray(eligible, dtype=bool).sum())
        return cls(eligible, 0, lambda r: (np.full(n_e, -rate), None), rate=rate, model_based=False)

    @classmethod
    def together(cls, effects: Sequence[_Effect]) -> _Effect:
        """All levers together: model levers add their changes; assumed levers keep shares of the
        remaining ITL holders multiplicatively (1 - prod(1 - rate)); a change never exceeds -1."""
        union = np.any(np.vstack([e.eligible for e in effects]), axis=0)
        idx = np.flatnonzero(union)
        pos = [np.searchsorted(idx, np.flatnonzero(e.eligible)) for e in effects]
        refits = max(e.refits for e in effects)
        all_model = all(e.model_based for e in effects)

        def fn(r: int) -> tuple[np.ndarray, np.ndarray | None]:
            total = np.zeros(len(idx))
            kept = np.ones(len(idx))
            p0 = np.full(len(idx), np.nan)
            for e, where in zip(effects, pos, strict=True):
                if e.model_based:
                    d, p = e.replicate(r)
                    total[where] += d
                    p0[where] = p
                else:
                    kept[where] *= 1 - e.rate
            total = np.maximum(total - (1 - kept), -1.0)
            return total, (p0 if all_model else None)

        return cls(union, refits, fn, model_based=all_model)


def _effects(
    key: str, pop: _Population, params: Mapping[str, float], model: causal.CausalModel | None, notes: list[str]
) -> _Effect:
    """The lever's eligible people and its effect on them (g-computation over the lever's
    total-effect model for model-based levers; see causal.py)."""
    eligible = _eligible(key, pop.df, params)
    lever = LEVERS[key]
    if lever.kind == "assumed":
        return _Effect.assumed(eligible, float(params["retention_rate"]))
    assert model is not None
    fitted = model[key]
    after = _apply(key, pop.df, eligible, params, fitted, notes)
    # only eligible people change: predict for them alone (a fraction of a large wave)
    intervention = causal.intervene(fitted, pop.df[eligible], after[eligible])
    return _Effect(eligible, fitted.refits, intervention.replicate)


def _summarise(
    pop: _Population,
    effect: _Effect,
    params: Mapping[str, float],
    values: Mapping[str, Any],
    resamples: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Point estimate (index 0) and bootstrap replicates (1..B) of every result metric.

    Replicate j pairs Poisson resample j of the people in scope with refit 1 + (j - 1) mod R of the
    models, so with R >= B every replicate has its own refit."""
    a, b = float(values[assumptions.P_LEAVE_ITL]), float(values[assumptions.P_LEAVE_NO_ITL])
    horizon = float(values["scenario_horizon_years"])
    n_cells = len(pop.hc)
    R = effect.refits
    eligible = effect.eligible
    W = np.empty((resamples + 1, n_cells))
    E = np.empty((resamples + 1, n_cells))
    Dl = np.empty((resamples + 1, n_cells))
    base = np.full(resamples + 1, np.nan)
    # Poisson bootstrap. People a lever does not reach only add to their cell's weight, and a sum of
    # m independent Poisson(1) weights is exactly Poisson(m): one draw per cell instead of one per
    # person. The eligible are drawn individually.
    codes = pop.codes[eligible]
    rest = np.bincount(pop.codes[~eligible], minlength=n_cells).astype("float64")
    n_active = int(eligible.sum())
    for j in range(resamples + 1):
        if j == 0:
            w, others = np.ones(n_active), rest
        else:
            w, others = rng.poisson(1.0, n_active).astype("float64"), rng.poisson(rest).astype("float64")
        d, p0 = effect.replicate(0 if j == 0 or R == 0 else 1 + (j - 1) % R)
        W[j] = np.bincount(codes, weights=w, minlength=n_cells) + others
        E[j] = np.bincount(codes, weights=w, minlength=n_cells)
        Dl[j] = np.bincount(codes, weights=w * d, minlength=n_cells)
        if p0 is not None and n_active:
            base[j] = float(w @ p0)
    safe = np.where(W > 0, W, 1.0)
    share_elig = np.where(W > 0, E / safe, 0.0)
    mean_delta = np.where(W > 0, Dl / safe, 0.0)
    # released like a count: rounded, and the programme cost follows the rounded figure
    exact_hc = share_elig @ pop.hc
    eligible_hc = HEADCOUNT_ROUNDING * np.round(exact_hc / HEADCOUNT_ROUNDING)
    if not effect.model_based:
        # an assumed lever moves every eligible person by the same rate, so its departures and its change in
        # intent to leave are the eligible count times a constant: they follow the rounded count, or the
        # exact count would be read back from them (and differenced between two scopes)
        scale = np.where(exact_hc > 0, eligible_hc / np.where(exact_hc > 0, exact_hc, 1.0), 0.0)
        mean_delta = mean_delta * scale[:, None]
    departures = (-mean_delta * pop.hc) * (a - b)
    departures_avoided = departures.sum(axis=1)
    cost_avoided = departures @ np.nan_to_num(pop.cost)
    programme = (params["cost_per_person"] * eligible_hc + params["fixed_cost"]) * horizon
    net = cost_avoided - programme
    with np.errstate(invalid="ignore", divide="ignore"):
        roi = np.where(programme > 0, net / np.where(programme > 0, programme, 1.0), np.nan)
        # the cost per eligible person per year at which the option pays for itself (net = 0)
        break_even = np.where(
            eligible_hc > 0,
            (cost_avoided / horizon - params["fixed_cost"]) / np.where(eligible_hc > 0, eligible_hc, 1),
            np.nan,
        )
        itl_eligible = 100 * Dl.sum(axis=1) / np.where(E.sum(axis=1) > 0, E.sum(axis=1), np.nan)
        # risk ratio among the eligible: P(ITL) with the lever / P(ITL) without it
        risk_ratio = np.where(base > 0, 1 + Dl.sum(axis=1) / np.where(base > 0, base, 1.0), np.nan)
    itl_scope = 100 * (mean_delta @ pop.hc) / pop.hc.sum()
    return {
        "eligible_headcount": eligible_hc,
        "itl_change_pp": itl_scope,
        "itl_change_eligible_pp": itl_eligible,
        "departures_avoided": departures_avoided,
        "cost_avoided": cost_avoided,
        "programme_cost": programme,
        "net": net,
        "roi": roi,
        "risk_ratio": risk_ratio,
        "break_even_cost_per_person": break_even,
    }


_FITTED: dict[tuple, tuple[pd.DataFrame, Any]] = {}
_FITTED_LOCK = threading.Lock()
_FITTED_MAX = 4


def _wave_inputs(con, wave: str, reasons: list[str], levers: Sequence[str], refits: int, seed: int):
    """The wave's respondents and the models of the model-based `levers` (causal.py), kept in memory
    while the wave's uploads are unchanged: a planner trying parameter after parameter refits
    nothing, and a lever's model is fitted the first time it is asked for. The cache key includes
    the wave's upload ids, so a new or deleted upload refits."""
    uploads = con.execute(
        "select count(*), string_agg(distinct upload_id, ',' order by upload_id) from responses where wave = ?",
        [wave],
    ).fetchall()[0]
    key = (wave, uploads, tuple(reasons), refits, seed)
    with _FITTED_LOCK:
        cached = _FITTED.get(key)
    if cached is None:
        wave_df = load_respondents(con, wave=wave, reasons=reasons)
        if wave_df.empty:
            raise ValueError(f"No responses in wave {wave!r}.")
        cached = (wave_df, causal.CausalModel(refits=refits, seed=seed))
    wave_df, model = cached
    wanted = [k for k in levers if LEVERS[k].kind == "model"]
    if any(k not in model.levers for k in wanted):
        with threadpool_limits(limits=1, user_api="blas"):
            model.ensure(wave_df, wanted)
    with _FITTED_LOCK:
        if key not in _FITTED and len(_FITTED) >= _FITTED_MAX:
            _FITTED.pop(next(iter(_FITTED)))
        _FITTED[key] = cached
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
    wave_df, model = _wave_inputs(con, wave, reasons, [c["key"] for c in chosen], refits, seed)
    pop = _population(con, wave_df, wave, {"site": site, "department": department, "role": role}, values)
    rng = np.random.default_rng(seed + 3)
    rows, effects, programme_costs, sweeps = [], [], [], []
    for c in chosen:
        notes: list[str] = []
        params = snap_threshold(c["key"], c["params"], notes)
        effect = _effects(c["key"], pop, params, model, notes)
        effects.append(effect)
        sweeps.append(_sweep_isolates(c["key"], pop, params))
        stats = _summarise(pop, effect, params, values, resamples, rng)
        programme_costs.append(float(stats["programme_cost"][0]))
        rows.append(_row(c["key"], LEVERS[c["key"]].label, pop, effect.eligible, stats, notes, sweeps[-1]))
    eligibles = [e.eligible for e in effects]
    if len(chosen) > 1:
        row = _combined(pop, effects, programme_costs, values, resamples, rng, any(sweeps))
        rows.append(row)
        eligibles.append(np.any(np.vstack(eligibles), axis=0))
    _protect_nested(rows, eligibles, [r.pop("_k") for r in rows])
    out = pd.DataFrame(rows)
    out.insert(0, "wave", wave)
    for col, value in (("site", site), ("department", department), ("role", role)):
        out.insert(out.columns.get_loc("lever"), col, value)
    return out


def _protect_nested(rows: list[dict[str, Any]], eligibles: list[np.ndarray], k: int | Sequence[int]) -> None:
    """Differencing protection between the rows of one scenario.

    When one row's eligible group contains another's (a lever inside the combined row, or a lever
    whose rule is wider than another's), their difference is a group of its own: if it holds 1 to
    k - 1 people, the larger row is hidden too, so subtracting rows cannot isolate a small group.
    Repeats until nothing changes."""
    sets = [np.asarray(e, dtype=bool) for e in eligibles]
    ks = [int(k)] * len(sets) if np.isscalar(k) else [int(x) for x in k]
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
                kk = max(ks[i], ks[j])
                if 0 < diff < kk:
                    _hide(rows[j], kk)
                    changed = True


def _hide(row: dict[str, Any], k: int) -> None:
    row["suppressed"] = True
    row["n_eligible"] = None
    for metric, _ in RESULT_METRICS:
        row[metric] = row[f"{metric}_lo"] = row[f"{metric}_hi"] = np.nan
    row.update(dict.fromkeys(SENSITIVITY, np.nan))
    row.update(dict.fromkeys(BREAK_EVEN, np.nan))
    row["notes"] = (
        f"{row['notes']} Hidden: it differs from another option's eligible group by fewer than {k} people."
    ).strip()


def _combined(
    pop: _Population,
    effects: list[_Effect],
    programme_costs: list[float],
    values: Mapping[str, Any],
    resamples: int,
    rng: np.random.Generator,
    sweep_isolates: bool = False,
) -> dict[str, Any]:
    """All levers together (see `_Effect.together`). Overlap between a model lever and an assumed
    lever is not removed, so the combined row is an upper bound."""
    effect = _Effect.together(effects)
    params = {"cost_per_person": 0.0, "fixed_cost": 0.0}
    stats = _summarise(pop, effect, params, values, resamples, rng)
    # programme cost: each lever's own cost (people eligible for two levers are paid for twice)
    stats["programme_cost"] = np.full_like(stats["programme_cost"], float(sum(programme_costs)))
    stats["net"] = stats["cost_avoided"] - stats["programme_cost"]
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["roi"] = np.where(
            stats["programme_cost"] > 0, stats["net"] / np.maximum(stats["programme_cost"], 1e-12), np.nan
        )
    notes = ["Levers applied together; overlap between model-based and assumed levers is not removed (upper bound)."]
    k = pop.k if effect.model_based else pop.k_paths
    return _row("combined", "All levers together", pop, effect.eligible, stats, notes, sweep_isolates, k)


def _sweep_isolates(key: str, pop: _Population, params: Mapping[str, float]) -> bool:
    """Would the next threshold up or down change the eligible group by 1 to k - 1 people? Then a
    sweep over the threshold isolates them (their call nights, their cell), so the row is hidden."""
    near = threshold_neighbours(key, pop.df, params)
    return near is not None and any(0 < m < pop.k for m in near)


def _row(
    key: str,
    label: str,
    pop: _Population,
    eligible: np.ndarray,
    stats: Mapping[str, np.ndarray],
    notes: list[str],
    sweep_isolates: bool = False,
    k: int | None = None,
) -> dict[str, Any]:
    """One result row, with the confidentiality rules applied: the eligible group and the rest of
    the scope each hold 0 or at least k people (k = the floor of 10 for levers sized by leave paths
    and reasons, whose scope must hold 10 too); no neighbouring threshold differs by fewer than k;
    no all-or-none answer in a group under 10."""
    if k is None:
        k = pop.k_paths if key in LEVERS and LEVERS[key].kind == "assumed" else pop.k
    n_scope, n_elig = len(pop.df), int(eligible.sum())
    reasons = []
    if 0 < n_elig < k:
        reasons.append(f"fewer than {k} eligible respondents")
    if 0 < n_scope - n_elig < k:
        reasons.append(f"fewer than {k} respondents in the scope are not eligible")
    if n_scope < 10 and n_elig in (0, n_scope):
        reasons.append("everyone or no one eligible in a group under 10")
    if k > pop.k and n_scope < k:
        reasons.append(f"options sized by leave paths and reasons need at least {k} respondents in the scope")
    if sweep_isolates:
        reasons.append(f"a neighbouring threshold would change the eligible group by fewer than {k} people")
    suppressed = bool(reasons)
    row: dict[str, Any] = {
        "lever": key,
        "label": label,
        "kind": LEVERS[key].kind if key in LEVERS else "combined",
        "n": n_scope,
        # rounded like the eligible headcount: two scopes' exact counts would difference to a small group
        "n_eligible": None if suppressed else int(HEADCOUNT_ROUNDING * round(n_elig / HEADCOUNT_ROUNDING)),
        "headcount_source": pop.headcount_source,
        "suppressed": suppressed,
    }
    for metric, _ in RESULT_METRICS:
        values = stats[metric]
        est = float(values[0]) if not suppressed else np.nan
        reps = values[1:][np.isfinite(values[1:])]
        lo = float(np.percentile(reps, 2.5)) if reps.size and not suppressed else np.nan
        hi = float(np.percentile(reps, 97.5)) if reps.size and not suppressed else np.nan
        row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = est, lo, hi
    be = stats.get("break_even_cost_per_person")
    if be is None or suppressed:
        row.update(dict.fromkeys(BREAK_EVEN, np.nan))
    else:
        reps = be[1:][np.isfinite(be[1:])]
        row["break_even_cost_per_person"] = float(be[0])
        row["break_even_cost_per_person_lo"] = float(np.percentile(reps, 2.5)) if reps.size else np.nan
        row["break_even_cost_per_person_hi"] = float(np.percentile(reps, 97.5)) if reps.size else np.nan
    rr = stats["risk_ratio"]
    reps = rr[1:][np.isfinite(rr[1:])]
    if suppressed or not np.isfinite(rr[0]) or not reps.size:
        row.update(dict.fromkeys(SENSITIVITY, np.nan))
    else:
        lo, hi = float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))
        row.update(
            risk_ratio=float(rr[0]),
            risk_ratio_lo=lo,
            risk_ratio_hi=hi,
            e_value=causal.e_value(float(rr[0])),
            e_value_ci=causal.e_value_interval(float(rr[0]), lo, hi),
        )
    lever = LEVERS.get(key)
    row["published_effect"] = lever.published_effect if lever else ""
    row["evidence"] = lever.evidence if lever else ""
    row["caveat"] = lever.caveat if lever else CAVEAT
    if suppressed:
        notes = [*notes, f"Not shown: {'; '.join(reasons)}."]
    row["notes"] = " ".join(dict.fromkeys(notes))
    row["_k"] = k
    return row
