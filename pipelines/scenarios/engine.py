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
`resamples` Poisson(1) resamples of the respondents in pop.

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

from pipelines.models import assumptions
from pipelines.models.features import cell_codes, expit, load_respondents
from pipelines.models.risk import CELL, FittedModel, _norm, fit_model, load_roster, role_costs
from pipelines.release import privacy
from pipelines.scenarios.levers import (
    CAVEAT,
    LEVERS,
    RESULT_METRICS,
    _apply,
    _eligible,
    normalise_levers,
)
from pipelines.store import settings

RESAMPLES = 200
REFITS = 30


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
    return _Population(df, codes, hc, cost, source, k)


def _effects(
    key: str, pop: _Population, params: Mapping[str, float], model: FittedModel | None, notes: list[str]
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(eligible mask, per-respondent change in P(ITL) for each refit [R x n] or None, assumed rate)."""
    eligible = _eligible(key, pop.df, params)
    lever = LEVERS[key]
    if lever.kind == "assumed":
        return eligible, None, float(params["retention_rate"])
    assert model is not None
    after = _apply(key, pop.df, eligible, params, model, notes)
    # only eligible people change: predict for them alone (a fraction of a large wave)
    X0, X1 = model.spec.transform(pop.df[eligible]), model.spec.transform(after[eligible])
    betas = np.vstack([model.beta[None, :], model.refit_betas])
    delta = np.zeros((len(betas), len(pop.df)))  # (1 + R) x n
    delta[:, eligible] = (expit(X1 @ betas.T) - expit(X0 @ betas.T)).T
    return eligible, delta, 0.0


def _summarise(
    pop: _Population,
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
    n_cells = len(pop.hc)
    R = delta.shape[0] - 1
    W = np.empty((resamples + 1, n_cells))
    E = np.empty((resamples + 1, n_cells))
    Dl = np.empty((resamples + 1, n_cells))
    # Poisson bootstrap. People a lever neither reaches nor changes only add to their cell's weight,
    # and a sum of m independent Poisson(1) weights is exactly Poisson(m): one draw per cell instead
    # of one per person. Everyone else is drawn individually, as before.
    active = eligible | np.any(delta != 0, axis=0)
    codes = pop.codes[active]
    elig_f = eligible[active].astype("float64")
    d_active = delta[:, active]
    rest = np.bincount(pop.codes[~active], minlength=n_cells).astype("float64")
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
    eligible_hc = share_elig @ pop.hc
    departures = (-mean_delta * pop.hc) * (a - b)
    departures_avoided = departures.sum(axis=1)
    cost_avoided = departures @ np.nan_to_num(pop.cost)
    programme = (params["cost_per_person"] * eligible_hc + params["fixed_cost"]) * horizon
    net = cost_avoided - programme
    with np.errstate(invalid="ignore", divide="ignore"):
        roi = np.where(programme > 0, net / np.where(programme > 0, programme, 1.0), np.nan)
        itl_eligible = 100 * Dl.sum(axis=1) / np.where(E.sum(axis=1) > 0, E.sum(axis=1), np.nan)
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
    pop = _population(con, wave_df, wave, {"site": site, "department": department, "role": role}, values)
    rng = np.random.default_rng(seed + 3)
    rows, deltas, eligibles, programme_costs = [], [], [], []
    for c in chosen:
        notes: list[str] = []
        eligible, delta, rate = _effects(c["key"], pop, c["params"], model, notes)
        if delta is None:
            delta = (-rate * eligible.astype("float64"))[None, :]
        deltas.append(delta)
        eligibles.append(eligible)
        stats = _summarise(pop, eligible, delta, c["params"], values, resamples, rng)
        programme_costs.append(float(stats["programme_cost"][0]))
        rows.append(_row(c["key"], LEVERS[c["key"]].label, pop, eligible, stats, notes))
    if len(chosen) > 1:
        rows.append(_combined(chosen, pop, eligibles, deltas, programme_costs, values, resamples, rng))
        eligibles.append(np.any(np.vstack(eligibles), axis=0))
    _protect_nested(rows, eligibles, pop.k)
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
    pop: _Population,
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
    total = np.zeros((R, len(pop.df)))
    kept = np.ones(len(pop.df))
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
    stats = _summarise(pop, eligible, total, params, values, resamples, rng)
    # programme cost: each lever's own cost (people eligible for two levers are paid for twice)
    stats["programme_cost"] = np.full_like(stats["programme_cost"], float(sum(programme_costs)))
    stats["net"] = stats["cost_avoided"] - stats["programme_cost"]
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["roi"] = np.where(
            stats["programme_cost"] > 0, stats["net"] / np.maximum(stats["programme_cost"], 1e-12), np.nan
        )
    notes = ["Levers applied together; overlap between model-based and assumed levers is not removed (upper bound)."]
    return _row("combined", "All levers together", pop, eligible, stats, notes)


def _row(
    key: str, label: str, pop: _Population, eligible: np.ndarray, stats: Mapping[str, np.ndarray], notes: list[str]
) -> dict[str, Any]:
    n_scope, n_elig = len(pop.df), int(eligible.sum())
    homogeneous = n_scope < 10 and n_elig in (0, n_scope)
    suppressed = (0 < n_elig < pop.k) or homogeneous
    row: dict[str, Any] = {
        "lever": key,
        "label": label,
        "kind": LEVERS[key].kind if key in LEVERS else "combined",
        "n": n_scope,
        "n_eligible": None if suppressed else n_elig,
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
    lever = LEVERS.get(key)
    row["published_effect"] = lever.published_effect if lever else ""
    row["evidence"] = lever.evidence if lever else ""
    row["caveat"] = lever.caveat if lever else CAVEAT
    if suppressed:
        notes = [
            *notes,
            f"Fewer than {pop.k} eligible respondents (or everyone/no one in a group under 10): not shown.",
        ]
    row["notes"] = " ".join(dict.fromkeys(notes))
    return row
