"""Small, exact statistics for released rates: Wilson intervals, empirical-Bayes shrinkage and the
wave-on-wave change test (METHODS.md, "Rates and intervals").

Everything here is closed form and vectorised (numpy arrays or pandas Series in, numpy arrays
out), so the build never loops over units in Python. The same Wilson formula is available as a
DuckDB macro (`register_sql_macros`) for SQL that needs it; tests check both against statsmodels.
"""

from __future__ import annotations

import duckdb
import numpy as np
import numpy.typing as npt

Z95 = 1.959963984540054  # two-sided 95% normal quantile, the value statsmodels uses
TAU2_FLOOR = 1e-4  # between-unit variance floor: a 1-point SD, so shrinkage never divides by 0

ArrayLike = npt.ArrayLike


def _as_float(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype="float64")


def wilson_interval(count: ArrayLike, answered: ArrayLike, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score interval for count/answered; NaN where answered is 0 or missing.

    (p + z²/2n ± z·sqrt(p(1−p)/n + z²/4n²)) / (1 + z²/n), the same as statsmodels'
    `proportion_confint(method="wilson")`.
    """
    k = _as_float(count)
    n = _as_float(answered)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2 = z * z
        centre = p + z2 / (2 * n)
        half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        denom = 1 + z2 / n
        lo = (centre - half) / denom
        hi = (centre + half) / denom
    bad = ~(n > 0)
    lo = np.where(bad, np.nan, np.clip(lo, 0.0, 1.0))
    hi = np.where(bad, np.nan, np.clip(hi, 0.0, 1.0))
    return lo, hi


# DuckDB macros with the same closed form (NULL when answered is 0 or NULL).
WILSON_SQL_MACROS = (
    f"""create or replace macro wilson_lo(k, n) as
    case when n > 0 then greatest(0.0,
        ((k / n) + {Z95}^2 / (2 * n)
         - {Z95} * sqrt((k / n) * (1 - k / n) / n + {Z95}^2 / (4 * n * n)))
        / (1 + {Z95}^2 / n)) end""",
    f"""create or replace macro wilson_hi(k, n) as
    case when n > 0 then least(1.0,
        ((k / n) + {Z95}^2 / (2 * n)
         + {Z95} * sqrt((k / n) * (1 - k / n) / n + {Z95}^2 / (4 * n * n)))
        / (1 + {Z95}^2 / n)) end""",
)


def register_sql_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define `wilson_lo(k, n)` and `wilson_hi(k, n)` on this connection (temporary macros)."""
    for sql in WILSON_SQL_MACROS:
        con.execute(sql.replace("create or replace macro", "create or replace temp macro"))


def eb_shrink(count: ArrayLike, answered: ArrayLike, *, tau2_floor: float = TAU2_FLOOR) -> np.ndarray:
    """Empirical-Bayes (beta-binomial, method of moments) shrunk rates for sibling units.

    mu = pooled rate Σk/Σn; tau² = sample variance of the unit rates minus the mean binomial
    variance mu(1−mu)/n_u, floored at `tau2_floor`; M = mu(1−mu)/tau² − 1; alpha = mu·M,
    beta = (1−mu)·M; shrunk_u = (k_u + alpha)/(n_u + alpha + beta). Small units move towards mu
    more than large ones, so ranking by the shrunk rate does not reward noise.

    Degenerate cases: fewer than two units with answers, or M <= 0, returns the raw rates;
    mu of 0 or 1 returns mu (every unit had the same answer). Units with no answers get NaN.
    """
    k = _as_float(count)
    n = _as_float(answered)
    ok = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(ok, k / n, np.nan)
    if ok.sum() < 2:
        return raw
    kk, nn = k[ok], n[ok]
    mu = kk.sum() / nn.sum()
    if mu <= 0.0 or mu >= 1.0:
        return np.where(ok, mu, np.nan)
    rates = kk / nn
    tau2 = max(float(np.var(rates, ddof=1) - np.mean(mu * (1 - mu) / nn)), tau2_floor)
    m = mu * (1 - mu) / tau2 - 1
    if m <= 0:
        return raw
    alpha, beta = mu * m, (1 - mu) * m
    return np.where(ok, (k + alpha) / (n + alpha + beta), np.nan)


def proportion_change(
    count1: ArrayLike,
    answered1: ArrayLike,
    count0: ArrayLike,
    answered0: ArrayLike,
    z: float = Z95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Change p1 − p0 between two independent waves with Newcombe's hybrid score 95% interval.

    Returns (change, lo, hi, exceeds_noise); exceeds_noise is True when the interval excludes 0.
    Newcombe's interval (built from the two Wilson intervals) keeps good coverage for small units
    and rates near 0 or 1, where the Wald interval does not. Matches statsmodels
    `confint_proportions_2indep(method="newcomb")`.
    """
    k1, n1, k0, n0 = (_as_float(a) for a in (count1, answered1, count0, answered0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson_interval(k1, n1, z)
    l0, u0 = wilson_interval(k0, n0, z)
    diff = p1 - p0
    lo = diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    hi = diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    bad = ~((n1 > 0) & (n0 > 0))
    diff, lo, hi = (np.where(bad, np.nan, a) for a in (diff, lo, hi))
    with np.errstate(invalid="ignore"):
        exceeds = (lo > 0) | (hi < 0)
    return diff, lo, hi, exceeds
