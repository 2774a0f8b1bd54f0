"""Forecast checked against real turnover, and the conversion rates learnt from it.

The attrition-risk model (pipelines/models/risk.py) forecasts departures: per person
P(leave) = p_itl * P(leave | ITL) + (1 - p_itl) * P(leave | no ITL), p_itl being the model's predicted
intent to leave, summed over the headcount. This module sets that forecast beside the leavers HR
uploaded (pipelines/ingest/turnover.py) and does two things with them.

1. Observed / expected per unit and period. E = sum over cells of headcount_at_start * [p * f(a) +
   (1 - p) * f(b)], p the risk model's predicted ITL rate of the cell (risk.py's `rel_unit_risk` at the
   site x department x role level; a cell with no respondents takes its site x role, then role, then
   organisation rate), a and b the current settings P(leave | ITL) and P(leave | no ITL), and f the
   two-year probability turned into the period's length by a constant hazard (f(q) = 1 - (1 - q)^(m/24),
   identity for the default two-year period). O/E carries Byar's 95% interval for a Poisson count O
   (E fixed). The *prediction interval* for realised leavers carries both the conversion assumptions'
   uncertainty (a, b drawn from the priors below) and binomial chance (leavers ~ Binomial(H, pi)), by
   simulation; a unit whose leavers fall outside it is flagged "more leavers than forecast" or "fewer".
   The sampling uncertainty of p itself is not added (it is small beside the conversion uncertainty;
   risk.py reports it).

2. P(leave | ITL) and P(leave | no ITL) updated from the organisation's own history. Leavers are
   aggregate: we never know which leavers had stated intent to leave, so a conjugate Beta-Binomial
   update (which needs leavers split by ITL) does not apply. Each cell's leaver count is a latent
   mixture: Binomial(H, p f(a) + (1 - p) f(b)). With two parameters, the exact posterior is computed
   on a grid (GRID x GRID points) rather than by EM: EM would give only the posterior mode, while the
   grid gives the posterior means and 95% credible intervals, and shows honestly how weakly the data
   separate a from b (they are identified only by how leaving varies with predicted ITL across units).
   Priors: Beta with the published means (REFERENCE.md: Hamidi et al. 2018, derived 0.25 and 0.08) and
   a stated strength, PRIOR_STRENGTH people-equivalents each (a + b of the Beta), so a prior is worth
   as much as following that many people for two years. The report gives the prior mean and interval,
   the posterior mean and 95% interval, and how far the local data moved each.

Confidentiality: a unit's leaver count is as sensitive as a survey cell. The comparison table goes
through `privacy.release` with n = headcount at start (minimum group k, complementary suppression
across levels) and the leaving rate as a rate column, so its homogeneity bands hide a small unit where
no one or everyone left; every figure computed from the leavers is a `leave_rate_*` column and is
hidden with the rate. The conversion table is one organisation row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy import special  # not scipy.stats: its import alone costs ~0.4 s of every build

from pipelines.contract import levels as levels_mod
from pipelines.models import assumptions, risk
from pipelines.models import cache as model_cache
from pipelines.release import privacy, tables
from pipelines.release.tables import BuildContext, Released

TABLE = tables.TURNOVER_CHECK
CONVERSION_TABLE = tables.TURNOVER_CONVERSION
KIND = "model"
RATES: tuple[str, ...] = ("leave_rate",)
PRIOR_STRENGTH = 50.0  # people-equivalents behind each published conversion rate (Beta a + b)
GRID = 160
DRAWS = 2000
HORIZON_MONTHS = 24.0
LEVELS = levels_mod.LEVELS
CELL = levels_mod.CELL
FALLBACK = ("department_role", "site_role", "role", "organisation")

CHECK_COLUMNS: tuple[str, ...] = (
    "wave",
    "site",
    "department",
    "role",
    "level",
    "n",
    "forecast_wave",
    "predicted_itl_rate",
    "unit_prediction_share",
    "expected_departures",
    "expected_departures_lo",
    "expected_departures_hi",
    "predicted_leavers_lo",
    "predicted_leavers_hi",
    "leave_rate",
    "leave_rate_leavers",
    "leave_rate_oe",
    "leave_rate_oe_lo",
    "leave_rate_oe_hi",
    "leave_rate_check",
)
ABOVE, BELOW, WITHIN = "more leavers than forecast", "fewer leavers than forecast", "within forecast"


# --------------------------------------------------------------------------------------------
# Small pieces (each testable on its own)
# --------------------------------------------------------------------------------------------
def window(q: np.ndarray | float, months: np.ndarray | float) -> np.ndarray:
    """A two-year leaving probability q over a period of `months` (constant hazard)."""
    q = np.clip(np.asarray(q, dtype="float64"), 0.0, 1.0)
    return 1.0 - (1.0 - q) ** (np.asarray(months, dtype="float64") / HORIZON_MONTHS)


def leave_probability(p_itl, a, b, months=HORIZON_MONTHS) -> np.ndarray:
    """Per-person probability of leaving within the period: p f(a) + (1 - p) f(b)."""
    p = np.asarray(p_itl, dtype="float64")
    return p * window(a, months) + (1.0 - p) * window(b, months)


def byar_interval(observed: np.ndarray, expected: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Byar's approximation to the exact Poisson interval of O, divided by E (O/E interval)."""
    o = np.asarray(observed, dtype="float64")
    e = np.asarray(expected, dtype="float64")
    z = special.ndtri(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(o > 0, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, 0.0)
        o1 = o + 1
        hi = o1 * (1 - 1 / (9 * o1) + z / (3 * np.sqrt(o1))) ** 3
        return np.where(e > 0, lo / e, np.nan), np.where(e > 0, hi / e, np.nan)


def beta_prior(mean: float, strength: float = PRIOR_STRENGTH) -> tuple[float, float]:
    """Beta(alpha, beta) with the given mean and alpha + beta = strength."""
    if not 0 < mean < 1:
        raise ValueError(f"A prior mean must lie strictly between 0 and 1, not {mean}.")
    if strength <= 0:
        raise ValueError(f"The prior strength must be positive, not {strength}.")
    return mean * strength, (1 - mean) * strength


@dataclass(frozen=True)
class ConversionUpdate:
    """Prior and posterior of one conversion rate."""

    key: str
    prior_mean: float
    prior_lo: float
    prior_hi: float
    posterior_mean: float
    posterior_lo: float
    posterior_hi: float

    @property
    def moved(self) -> float:
        return self.posterior_mean - self.prior_mean

    @property
    def interval_ratio(self) -> float:
        """Posterior interval width as a share of the prior's (1 = the data taught nothing)."""
        return (self.posterior_hi - self.posterior_lo) / max(self.prior_hi - self.prior_lo, 1e-12)


def _quantiles(grid: np.ndarray, mass: np.ndarray, probs: Sequence[float]) -> list[float]:
    cdf = np.cumsum(mass)
    cdf = cdf / cdf[-1]
    return [float(np.interp(p, cdf, grid)) for p in probs]


def _beta_logpdf(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """log of the Beta(a, b) density at x in (0, 1) (scipy.stats.beta.logpdf without importing scipy.stats)."""
    x = np.asarray(x, dtype="float64")
    return special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b)


def _grid_posterior(ga, gb, H, L, p, m, priors) -> np.ndarray:
    """Normalised posterior mass on the grid ga x gb (uniformly spaced axes)."""
    (aa, ab), (ba, bb) = priors
    log_post = _beta_logpdf(ga, aa, ab)[:, None] + _beta_logpdf(gb, ba, bb)[None, :]
    for months_value in np.unique(m):  # cells sharing a period length share f(a), f(b)
        sel = m == months_value
        fa, fb = window(ga, months_value), window(gb, months_value)
        Hs, Ls, ps = H[sel], L[sel], p[sel]
        for start in range(0, len(Hs), 64):
            h, lv, pp = Hs[start : start + 64], Ls[start : start + 64], ps[start : start + 64]
            pi = pp[:, None, None] * fa[None, :, None] + (1 - pp)[:, None, None] * fb[None, None, :]
            pi = np.clip(pi, 1e-12, 1 - 1e-12)
            log_post += (lv[:, None, None] * np.log(pi) + (h - lv)[:, None, None] * np.log1p(-pi)).sum(axis=0)
    post = np.exp(log_post - log_post.max())
    return post / post.sum()


def update_conversion(
    headcount: np.ndarray,
    leavers: np.ndarray,
    p_itl: np.ndarray,
    months: np.ndarray | float = HORIZON_MONTHS,
    *,
    prior_itl: float = 0.25,
    prior_no_itl: float = 0.08,
    strength: float = PRIOR_STRENGTH,
    grid: int = GRID,
) -> tuple[ConversionUpdate, ConversionUpdate, float]:
    """Posterior of (P(leave | ITL), P(leave | no ITL)) from aggregate leavers, on a grid.

    Each cell i: leavers_i ~ Binomial(H_i, p_i f(a, m_i) + (1 - p_i) f(b, m_i)); priors Beta with the
    given means and strength. Returns the two updates and the posterior correlation of a and b."""
    H = np.asarray(headcount, dtype="float64")
    L = np.asarray(leavers, dtype="float64")
    p = np.asarray(p_itl, dtype="float64")
    m = np.broadcast_to(np.asarray(months, dtype="float64"), H.shape)
    keep = (H > 0) & np.isfinite(p)
    H, L, p, m = H[keep], L[keep], p[keep], m[keep]
    # cells with the same predicted ITL rate (to 0.001) and period length have the same leaving
    # probability, so their headcounts and leavers add up (at most ~1,000 groups, however many cells)
    grouped = (
        pd.DataFrame({"p": np.round(p, 3), "m": m, "H": H, "L": L}).groupby(["p", "m"], sort=True).sum().reset_index()
    )
    p, m = grouped["p"].to_numpy(), grouped["m"].to_numpy()
    H, L = grouped["H"].to_numpy(dtype="float64"), grouped["L"].to_numpy(dtype="float64")
    priors = beta_prior(prior_itl, strength), beta_prior(prior_no_itl, strength)
    # pass 1 on (0, 1)^2; pass 2 zooms in on where the posterior lies, so a narrow posterior (much
    # data) is still resolved by `grid` points per axis
    ga = gb = (np.arange(grid) + 0.5) / grid
    post = _grid_posterior(ga, gb, H, L, p, m, priors)
    for axis, g in ((1, ga), (0, gb)):
        marg = post.sum(axis=axis)
        inside = np.flatnonzero(marg > 1e-9 * marg.max())
        step = g[1] - g[0]
        lo, hi = max(g[inside[0]] - step, 1e-6), min(g[inside[-1]] + step, 1 - 1e-6)
        if axis == 1:
            ga = np.linspace(lo, hi, grid)
        else:
            gb = np.linspace(lo, hi, grid)
    post = _grid_posterior(ga, gb, H, L, p, m, priors)
    ma, mb = post.sum(axis=1), post.sum(axis=0)
    mean_a, mean_b = float(ga @ ma), float(gb @ mb)
    sd_a = np.sqrt(max(float((ga - mean_a) ** 2 @ ma), 1e-18))
    sd_b = np.sqrt(max(float((gb - mean_b) ** 2 @ mb), 1e-18))
    corr = float(((ga - mean_a)[:, None] * (gb - mean_b)[None, :] * post).sum() / (sd_a * sd_b))
    out = []
    (aa, ab), (ba, bb) = priors
    for key, mean, (al, be), g, marg, pm in (
        (assumptions.P_LEAVE_ITL, prior_itl, (aa, ab), ga, ma, mean_a),
        (assumptions.P_LEAVE_NO_ITL, prior_no_itl, (ba, bb), gb, mb, mean_b),
    ):
        lo, hi = _quantiles(g, marg, (0.025, 0.975))
        out.append(
            ConversionUpdate(
                key,
                float(mean),
                float(special.betaincinv(al, be, 0.025)),
                float(special.betaincinv(al, be, 0.975)),
                pm,
                lo,
                hi,
            )
        )
    return out[0], out[1], corr


# --------------------------------------------------------------------------------------------
# Matching turnover rows to the forecast
# --------------------------------------------------------------------------------------------
def _norm(values: pd.Series) -> pd.Series:
    return values.astype(object).map(lambda v: None if v is None or v != v else str(v).strip().casefold())


def forecast_wave(period: str, waves: Sequence[str]) -> str | None:
    """The survey wave whose forecast a turnover period checks: the wave of that label, else (a year)
    the latest wave whose label starts with it, else None."""
    period = str(period).strip()
    if period in waves:
        return period
    matches = sorted(w for w in waves if w and str(w).startswith(period))
    return matches[-1] if matches else None


def attach_forecast(turnover: pd.DataFrame, risk_units: pd.DataFrame) -> pd.DataFrame:
    """Turnover cells with the risk model's predicted ITL rate `p_itl`, its `forecast_wave` and the
    level it came from (`prediction_level`: the cell itself, else site x role, role, organisation).
    Cells whose period matches no survey wave keep p_itl NaN."""
    out = turnover.copy().reset_index(drop=True)
    waves = sorted({str(w) for w in risk_units["wave"].dropna().unique()}) if len(risk_units) else []
    out["forecast_wave"] = [forecast_wave(p, waves) for p in out["period"]]
    out["p_itl"] = np.nan
    out["prediction_level"] = None
    ru = risk_units.copy()
    for d in CELL:
        ru[f"_{d}"] = _norm(ru[d])
        out[f"_{d}"] = _norm(out[d])
    for level in FALLBACK:
        dims = LEVELS[level]
        need = out["p_itl"].isna() & out["forecast_wave"].notna()
        if not need.any():
            break
        table = ru[ru["level"] == level][["wave", *[f"_{d}" for d in dims], "predicted_itl_rate"]]
        table = table.rename(columns={"wave": "forecast_wave", "predicted_itl_rate": "_p"})
        merged = out.loc[need, ["forecast_wave", *[f"_{d}" for d in dims]]].merge(
            table, on=["forecast_wave", *[f"_{d}" for d in dims]], how="left"
        )
        values = merged["_p"].to_numpy(dtype="float64")
        idx = out.index[need]
        found = ~np.isnan(values)
        out.loc[idx[found], "p_itl"] = values[found]
        out.loc[idx[found], "prediction_level"] = level
    return out.drop(columns=[f"_{d}" for d in CELL])


# --------------------------------------------------------------------------------------------
# The comparison table
# --------------------------------------------------------------------------------------------
def check_table(
    cells: pd.DataFrame,
    *,
    a: float,
    b: float,
    strength: float = PRIOR_STRENGTH,
    draws: int = DRAWS,
    seed: int = 0,
    levels: Sequence[str] = tuple(LEVELS),
) -> pd.DataFrame:
    """Predicted vs actual leavers per unit (every level) and period, NOT yet suppressed.

    cells: period, site, department, role, headcount_at_start, leavers, period_months (NaN = 24),
    p_itl, forecast_wave, prediction_level (see `attach_forecast`); cells without p_itl are left out.
    a, b: the conversion rates the forecast uses (the settings); their uncertainty in the prediction
    interval is Beta(a*strength, (1-a)*strength) and likewise for b."""
    rng = np.random.default_rng(seed)
    cells = cells[cells["p_itl"].notna() & (cells["headcount_at_start"] > 0)].reset_index(drop=True)
    if cells.empty:
        return pd.DataFrame(columns=list(CHECK_COLUMNS))
    (aa, ab), (ba, bb) = beta_prior(a, strength), beta_prior(b, strength)
    a_s, b_s = rng.beta(aa, ab, draws), rng.beta(ba, bb, draws)
    frames = []
    for period, part in cells.groupby("period", sort=True):
        part = part.reset_index(drop=True)
        H = part["headcount_at_start"].to_numpy(dtype="float64")
        L = part["leavers"].to_numpy(dtype="float64")
        p = part["p_itl"].to_numpy(dtype="float64")
        m = part["period_months"].astype("float64").fillna(HORIZON_MONTHS).to_numpy()
        e_cell = H * leave_probability(p, a, b, m)
        pi_draw = p[None, :] * window(a_s[:, None], m[None, :]) + (1 - p[None, :]) * window(b_s[:, None], m[None, :])
        e_draw = pi_draw * H[None, :]
        sim = rng.binomial(H.astype("int64")[None, :], np.clip(pi_draw, 0, 1))
        unit_level = (part["prediction_level"] == "department_role").to_numpy(dtype="float64")
        for level in levels:
            dims = LEVELS[level]
            if dims:
                keys = pd.DataFrame({d: _norm(part[d]) for d in dims})
                codes, uniques = pd.MultiIndex.from_frame(keys.fillna("")).factorize()
                first = pd.Series(np.arange(len(part))).groupby(codes).first().to_numpy()
                labels = part.loc[first, list(dims)].reset_index(drop=True)
            else:
                codes = np.zeros(len(part), dtype="int64")
                labels = pd.DataFrame(index=[0])
            k = int(codes.max()) + 1
            M = np.zeros((len(part), k))
            M[np.arange(len(part)), codes] = 1.0
            h_u, l_u, e_u = H @ M, L @ M, e_cell @ M
            e_rep, sim_u = e_draw @ M, sim @ M
            o_lo, o_hi = byar_interval(l_u, e_u)
            pred_lo = np.percentile(sim_u, 2.5, axis=0)
            pred_hi = np.percentile(sim_u, 97.5, axis=0)
            flag = np.where(l_u > pred_hi, ABOVE, np.where(l_u < pred_lo, BELOW, WITHIN))
            frame = pd.DataFrame(
                {
                    "wave": str(period),
                    "level": level,
                    "n": h_u.astype("int64"),
                    "forecast_wave": str(part["forecast_wave"].iloc[0]),
                    "predicted_itl_rate": (H * p) @ M / h_u,
                    "unit_prediction_share": (H * unit_level) @ M / h_u,
                    "expected_departures": e_u,
                    "expected_departures_lo": np.percentile(e_rep, 2.5, axis=0),
                    "expected_departures_hi": np.percentile(e_rep, 97.5, axis=0),
                    "predicted_leavers_lo": pred_lo,
                    "predicted_leavers_hi": pred_hi,
                    "leave_rate": l_u / h_u,
                    "leave_rate_leavers": l_u.astype("int64"),
                    "leave_rate_oe": np.where(e_u > 0, l_u / np.where(e_u > 0, e_u, 1), np.nan),
                    "leave_rate_oe_lo": o_lo,
                    "leave_rate_oe_hi": o_hi,
                    "leave_rate_check": pd.array(flag, dtype="str"),
                }
            )
            for d in CELL:
                frame[d] = labels[d].to_numpy(dtype=object) if d in dims else None
            frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    return out[list(CHECK_COLUMNS)]


def release_check(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """The comparison table through the confidentiality layer (n = headcount at start)."""
    return privacy.release(frame, kind=KIND, k=k, rates=RATES)


def conversion_frame(cells: pd.DataFrame, values: dict[str, Any], strength: float = PRIOR_STRENGTH) -> pd.DataFrame:
    """One organisation row: prior and posterior of both conversion rates from every period's cells."""
    used = cells[cells["p_itl"].notna() & (cells["headcount_at_start"] > 0)]
    a, b = float(values[assumptions.P_LEAVE_ITL]), float(values[assumptions.P_LEAVE_NO_ITL])
    up_a, up_b, corr = update_conversion(
        used["headcount_at_start"].to_numpy(),
        used["leavers"].to_numpy(),
        used["p_itl"].to_numpy(),
        used["period_months"].astype("float64").fillna(HORIZON_MONTHS).to_numpy(),
        prior_itl=a,
        prior_no_itl=b,
        strength=strength,
    )
    row: dict[str, Any] = {
        "n": int(used["headcount_at_start"].sum()),
        "periods": ", ".join(sorted(map(str, used["period"].unique()))),
        "prior_strength": float(strength),
        "posterior_correlation": corr,
    }
    for name, up in (("p_leave_itl", up_a), ("p_leave_no_itl", up_b)):
        row.update(
            {
                f"{name}_prior": up.prior_mean,
                f"{name}_prior_lo": up.prior_lo,
                f"{name}_prior_hi": up.prior_hi,
                f"{name}_posterior": up.posterior_mean,
                f"{name}_posterior_lo": up.posterior_lo,
                f"{name}_posterior_hi": up.posterior_hi,
                f"{name}_moved": up.moved,
            }
        )
    return pd.DataFrame([row])


# --------------------------------------------------------------------------------------------
# Reading the warehouse, and the build producer
# --------------------------------------------------------------------------------------------
def load_turnover(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Stored turnover cells (unit level, confidential: for the model only)."""
    exists = con.execute("select count(*) from duckdb_tables() where table_name = 'turnover'").fetchall()[0][0]
    if not exists:
        return pd.DataFrame(
            columns=["period", "site", "department", "role", "headcount_at_start", "leavers", "period_months"]
        )
    return con.execute(
        "select period, site, department, role, headcount_at_start, leavers, period_months from turnover "
        "order by period, site, department, role"
    ).df()


def risk_units_for(con: duckdb.DuckDBPyConnection, values: dict[str, Any], waves: Sequence[str]) -> pd.DataFrame:
    """The unsuppressed risk units of `waves`, from the model cache when the build already has them
    (same fingerprint as pipelines.models.build), else computed."""
    frames = []
    every = risk.waves(con)
    fitted: dict = {}  # a wave's model, for the next wave's temporal validation (as in the build)
    for w in waves:

        def compute(w: str = w) -> dict[str, pd.DataFrame]:
            result = risk.compute_risk(
                con, wave=w, values=values, resamples=risk.RESAMPLES, refits=risk.REFITS, fitted=fitted
            )
            return {"units": result.units, "diagnostics": result.diagnostics}

        # the same fingerprint as pipelines.models.build, which includes the previous wave's state
        # (its risk diagnostics score last wave's model): without it every build recomputed the risk
        i = every.index(w) if w in every else 0
        previous = model_cache.wave_state(con, every[i - 1] if i else None)
        got, _ = model_cache.cached(
            con, w, "risk", values, compute, None, resamples=risk.RESAMPLES, refits=risk.REFITS, previous=previous
        )
        frames.append(got["units"])
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(risk.RISK_COLUMNS))


def compute_check(
    con: duckdb.DuckDBPyConnection,
    values: dict[str, Any] | None = None,
    risk_units: pd.DataFrame | None = None,
    *,
    strength: float = PRIOR_STRENGTH,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparison table, conversion table), both NOT yet suppressed; empty frames without turnover."""
    values = values or assumptions.values(con)
    turnover = load_turnover(con)
    if turnover.empty:
        return pd.DataFrame(columns=list(CHECK_COLUMNS)), pd.DataFrame()
    if risk_units is None:
        waves = risk.waves(con)
        wanted = sorted({w for p in turnover["period"].unique() if (w := forecast_wave(p, waves)) is not None})
        risk_units = risk_units_for(con, values, wanted)
    cells = attach_forecast(turnover, risk_units)
    if cells["p_itl"].notna().sum() == 0:
        return pd.DataFrame(columns=list(CHECK_COLUMNS)), pd.DataFrame()
    a, b = float(values[assumptions.P_LEAVE_ITL]), float(values[assumptions.P_LEAVE_NO_ITL])
    table = check_table(cells, a=a, b=b, strength=strength, seed=seed)
    return table, conversion_frame(cells, values, strength)


def produce_turnover(
    con: duckdb.DuckDBPyConnection, ctx: BuildContext, risk_units: pd.DataFrame | None = None
) -> list[Released]:
    """Producer for pipelines.release.build.PRODUCERS: `rel_turnover_check` (predicted vs actual
    leavers per unit and period) and `rel_turnover_conversion` (the conversion rates learnt from it),
    both through privacy.release. Nothing when no turnover was uploaded. `risk_units`: the build's
    unsuppressed `rel_unit_risk` frame, if at hand (saves recomputing or re-reading the risk model);
    else `ctx.shared["risk_units"]` when the context has it; else read from the model cache or computed."""
    if not con.execute("select count(*) from responses").fetchall()[0][0]:
        return []
    if risk_units is None:  # the build's risk units, if the models producer shared them (ctx.shared)
        risk_units = getattr(ctx, "shared", {}).get("risk_units")
    table, conversion = compute_check(con, risk_units=risk_units)
    if table.empty:
        return []
    out = [Released(TABLE, release_check(table, ctx.k), kind=KIND)]
    if not conversion.empty:
        out.append(Released(CONVERSION_TABLE, privacy.release(conversion, kind=KIND, k=ctx.k), kind=KIND))
    return out
