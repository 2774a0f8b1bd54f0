"""Drivers of intent to leave: predictive importance by general dominance analysis on grouped drivers
(METHODS.md, "Drivers"). Predictive, not causal: a group that predicts intent to leave (stress, say,
a consequence of burnout) is not thereby a lever.

For each unit we fit the logistic model of ITL on every subset of the p driver groups (2^p - 1 fits,
p = 8, all solved together as one batched Newton iteration) and take each group's average increase in
McFadden pseudo-R^2 within each subset size, averaged over sizes. The weights sum to the full model's
pseudo-R^2 (of the driver model; role/site/tenure are not in it, so the weights describe what the
drivers explain inside the unit). The sign of each group comes from the full model's coefficients,
with every item oriented so that higher = worse (for clinical FTE: higher = more clinical time).

job satisfaction is left out on purpose: it is close to an outcome of the same experience as intent to
leave rather than something leaders can change, and it would absorb the other groups' share.

The organisation's importance is cross-validated: each subset's pseudo-R^2 is measured on held-out
folds (CV_FOLDS), so a group that only fits noise gets about zero; `r2_cv` is the full model's.

Units: a unit with at least STABLE_UNIT_N (400) respondents who answered intent to leave gets its own
ranking (`weights_source = 'own'`; the size was measured with tests/models/ground_truth.py, see the
constant). A unit between `drivers_min_unit_size` (25) and that gets its own weights shrunk toward the
organisation's by empirical Bayes across the units of its level (`'shrunk'`; `own_weight` says how much
is its own); smaller units borrow the organisation's (`'organisation'`) and show their own
unfavourable % only. "Act here" (see `to_long`) needs the unit to be worse than the organisation
beyond noise.

Intervals: bootstrap over respondents (Poisson(1) weights). Each replicate takes one Newton step from
every subset's point estimate and the replicate's log-likelihood there to second order (a one-step
bootstrap: first-order equivalent to refitting each subset to the replicate, computed for all
replicates at once from the subsets' residuals instead of refits on the respondents' rows). Against
refits to convergence on the 1M benchmark, its bootstrap SDs were within about 2% at the organisation
(4,000 respondents) and about 4% narrower on average in units of 500 (the three refit steps used
before: about 2% narrower), inside the Monte Carlo error of an SD from 20 replicates (about 16%);
tests/models/test_drivers.py checks it. 95% interval from percentiles with >= 200 replicates, else
the estimate +/- 1.96 bootstrap SD (not floored: a cross-validated importance may be below zero). For
speed, the organisation is analysed on at most 4,000 and each unit on at most 500 respondents (random
subsample; units above that get somewhat wider intervals than the full unit would: conservative).
Defaults: 30 replicates for the organisation, 20 per unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from math import comb
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines import contract
from pipelines.models import assumptions
from pipelines.models.features import ADJUSTMENT, DesignSpec, cell_codes, expit, fit_logit, load_respondents
from pipelines.models.risk import LEVELS, UNIT_COLUMNS, _filter_units, waves


@dataclass(frozen=True)
class DriverGroup:
    key: str
    label: str
    columns: tuple[str, ...]  # model inputs
    items: tuple[str, ...]  # 1-5 items whose unfavourable % is the group's performance
    levers: tuple[str, ...] = ()  # scenario levers that act on this group


DRIVER_GROUPS: tuple[DriverGroup, ...] = (
    DriverGroup("burnout", "Burnout", ("burnout_level",), ("burnout_level",)),
    DriverGroup(
        "ehr_burden",
        "EHR and inbox burden",
        (
            "ehr_after_hours_per_week",
            "ehr_home_time",
            "ehr_frustration",
            "documentation_time",
            "inbox_messages_per_day",
        ),
        ("ehr_home_time", "ehr_frustration", "documentation_time"),
        ("ehr_support", "reduced_fte"),
    ),
    DriverGroup("call", "Night call", ("call_nights_per_month",), (), ("dropped_call", "schedule_flexibility")),
    DriverGroup(
        "workload_control",
        "Workload control and stress",
        ("work_control", "stress"),
        ("work_control", "stress"),
        ("reduced_fte", "schedule_flexibility"),
    ),
    DriverGroup(
        "teamwork",
        "Teamwork and atmosphere",
        ("teamwork", "work_atmosphere"),
        ("teamwork", "work_atmosphere"),
        ("internal_move",),
    ),
    DriverGroup(
        "values_alignment",
        "Values alignment with leaders",
        ("values_alignment",),
        ("values_alignment",),
        ("internal_move", "clinical_adjacent_role"),
    ),
    DriverGroup("feel_valued", "Feeling valued", ("feel_valued",), ("feel_valued",)),
    DriverGroup("clinical_fte", "Clinical FTE", ("clinical_fte",), (), ("reduced_fte",)),
)
GROUP_KEYS: tuple[str, ...] = tuple(g.key for g in DRIVER_GROUPS)
EXCLUDED = {"satisfaction": "close to an outcome of the same experience as intent to leave; not a lever"}
# The assumption values the analysis reads (pipelines.models.cache keys cached results on them; a
# test fails if the code reads another one without listing it here).
VALUE_KEYS: tuple[str, ...] = ("lever_call_threshold", "drivers_min_unit_size")
MAX_ROWS_ORG = 4_000
MAX_ROWS_UNIT = 500
B_ORG = 30
B_UNIT = 20
CV_FOLDS = 5  # the organisation's importance is cross-validated (out-of-fold pseudo-R^2)
CV_STEPS = 6  # chord steps per training fold, from the full-data fit
# A subset's point fit stops when none of its coefficients moves by more than this (standardised
# scale). Against 1e-6 (before): importances within 2e-9 at 1M, ranks identical, 30% fewer steps.
POINT_TOL = 1e-5
PERCENTILE_MIN_RESAMPLES = 200
# A unit gets its own ranking from this many respondents who answered intent to leave. Measured with the
# ground-truth generator (tests/models/ground_truth.py, 20 random units per size): below ~400 a
# no-effect driver group was ranked first in 5-35% of units (50: 35%, 100: 15%, 200-300: 5%) and the
# rank correlation with the organisation's ranking was 0.2-0.74; from 400 it was 0% and >= 0.8.
STABLE_UNIT_N = 400


def _oriented(df: pd.DataFrame) -> pd.DataFrame:
    """Driver columns oriented so that higher = worse (1-5 items with 5 best are reversed)."""
    out = pd.DataFrame(index=df.index)
    for g in DRIVER_GROUPS:
        for col in g.columns:
            v = df[col].astype("float64")
            item = contract.ITEMS_BY_NAME.get(col)
            out[col] = 6.0 - v if item is not None and item.higher_is_better else v
    return out


def dominance_matrix(p: int) -> np.ndarray:
    """D (p x 2^p) with general dominance = D @ R2, R2 indexed by subset bitmask (R2[0] = 0)."""
    D = np.zeros((p, 2**p))
    for j in range(p):
        bit = 1 << j
        for mask in range(2**p):
            if mask & bit:
                continue
            s = bin(mask).count("1")
            w = 1.0 / (p * comb(p - 1, s))
            D[j, mask | bit] += w
            D[j, mask] -= w
    return D


def _subset_masks(groups: list[list[int]], k: int) -> np.ndarray:
    """Column mask (2^p x k) of each subset of groups; the intercept (column 0) is always in."""
    p = len(groups)
    member = np.zeros((p, k), dtype=bool)  # group j -> its columns
    for j, cols in enumerate(groups):
        member[j, cols] = True
    has = (np.arange(2**p)[:, None] >> np.arange(p)) & 1  # subset bitmask -> groups in it
    masks = (has @ member) > 0
    masks[:, 0] = True
    return masks


def _log1pexp(x: np.ndarray) -> np.ndarray:
    """log(1 + e^x), as np.logaddexp(0, x) but several times faster on large arrays."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _chord_fit(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    masks: np.ndarray,
    h_inv: np.ndarray,
    beta0: np.ndarray,
    *,
    ridge: float = 1.0,
    max_iter: int = 40,
    tol: float = 1e-6,
    p0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit one penalised logistic model per row of `masks`, all at once, by Newton iterations with
    the Hessian held at the full model's (the chord method): each step costs two n x k x S matrix
    products instead of an n x k^2 x S Hessian, and the fixed point is the exact maximum of each
    subset's likelihood. `p0`: the fitted probabilities at `beta0` (n x S) when already known.
    Returns (log-likelihoods, coefficients, linear predictors n x S)."""
    k = X.shape[1]
    m = masks.astype("float64")
    pen = np.full(k, ridge)
    pen[0] = 0.0
    beta = beta0 * m
    for it in range(max_iter):
        p = p0 if it == 0 and p0 is not None else expit(X @ beta.T)
        grad = ((X.T @ (w[:, None] * (y[:, None] - p))).T - pen * beta) * m
        step = np.matmul(h_inv, grad[:, :, None])[:, :, 0]
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    eta = X @ beta.T
    ll = (w[:, None] * (y[:, None] * eta - _log1pexp(eta))).sum(axis=0)
    return ll, beta, eta


def _fit_subsets(
    X: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    h_inv: np.ndarray,
    beta0: np.ndarray,
    *,
    ridge: float = 1.0,
    max_iter: int = 40,
    tol: float = POINT_TOL,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The point estimates: `_chord_fit` with unit weights, each subset iterated only until its own
    step is below `tol` (the others carry on). Returns (log-likelihoods, coefficients, linear
    predictors n x S), the log-likelihoods exact at the returned coefficients."""
    k = X.shape[1]
    m = masks.astype("float64")
    pen = np.full(k, ridge)
    pen[0] = 0.0
    beta = beta0 * m
    active = np.arange(masks.shape[0])
    for _ in range(max_iter):
        b = beta[active]
        p = expit(X @ b.T)
        grad = ((X.T @ (y[:, None] - p)).T - pen * b) * m[active]
        step = np.matmul(h_inv[active], grad[:, :, None])[:, :, 0]
        beta[active] = b + step
        active = active[np.max(np.abs(step), axis=1) >= tol]
        if not len(active):
            break
    eta = X @ beta.T
    ll = (y[:, None] * eta - _log1pexp(eta)).sum(axis=0)
    return ll, beta, eta


def _one_step_replicates(
    X: np.ndarray,
    y: np.ndarray,
    W: np.ndarray,
    masks: np.ndarray,
    h_inv: np.ndarray,
    betas: np.ndarray,
    eta: np.ndarray,
    ridge: float = 1.0,
) -> np.ndarray:
    """Log-likelihood of every subset model refitted to every bootstrap replicate (rows of the
    weight matrix W, B x n), by one Newton step from the point estimates, to second order.

    For replicate weights w and subset s, with r = y - p and l the per-respondent log-likelihood at
    the point estimate b_s: the replicate's gradient is g = X_s'(w r) - penalty b_s, the step
    d = H_s^-1 g (H_s: the full model's penalised Hessian restricted to s, as in the chord fits), and
    the refitted log-likelihood is w'l + d'X_s'(w r) - d'(H_s - penalty)d / 2, i.e. the maximum of the
    replicate's quadratic expansion. Exact to first order in 1/sqrt(n) (a one-step bootstrap), it
    needs one B*k x n x S matrix product for all replicates instead of refits on n x S predictions
    per step per replicate. Returns B x S log-likelihoods."""
    n, k = X.shape
    B, S = W.shape[0], masks.shape[0]
    m = masks.astype("float64")
    pen = np.full(k, ridge)
    pen[0] = 0.0
    resid = y[:, None] - expit(eta)  # n x S
    loglik = y[:, None] * eta - _log1pexp(eta)  # n x S
    # the one large product (most of the time), in single precision: twice as fast, and its rounding
    # (~1e-6 relative on sums of n terms of order 1) is far below the replicates' spread
    weighted_x = (W[:, :, None] * X[None]).transpose(0, 2, 1).reshape(B * k, n).astype("float32")
    gu = (weighted_x @ resid.astype("float32")).reshape(B, k, S).transpose(0, 2, 1) * m  # B x S x k, unpenalised
    g = gu - (pen * betas) * m
    d = np.matmul(g.transpose(1, 0, 2), h_inv).transpose(1, 0, 2)  # H_s^-1 g (H_s^-1 is symmetric)
    # d'H_s d = d'g (H_s d = g on the subset's columns); the penalty is not part of the likelihood
    return W @ loglik + (d * gu).sum(axis=2) - 0.5 * ((d * g).sum(axis=2) - (d * d * pen).sum(axis=2))


def _subset_inverses(X: np.ndarray, beta: np.ndarray, masks: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """Inverse of the full model's (penalised) Hessian restricted to each subset's columns (zero
    outside them), for the subsets of `_subset_masks` (row 0: the columns always in; row 2^j adds
    group j's columns).

    Built up one group at a time by the block (Schur complement) inverse: with M the padded inverse
    for subset s, J the columns of a group not in s, u = M H[:, J] and C = H[J, J] - H[J, :] u,
    the inverse for s + J is M + (u - E_J) C^-1 (u - E_J)' (E_J: the unit columns J). All subsets
    holding group j come from those without it in one batched step, so the cost is a few small
    products per subset instead of a k x k inversion each."""
    k = X.shape[1]
    p = expit(X @ beta)
    H = (X * (p * (1 - p))[:, None]).T @ X
    pen = np.full(k, ridge)
    pen[0] = 0.0
    H = H + np.diag(pen) + 1e-9 * np.eye(k)
    n_groups = int(np.log2(masks.shape[0]))
    base = np.flatnonzero(masks[0])
    inv = np.zeros((masks.shape[0], k, k))
    inv[0][np.ix_(base, base)] = np.linalg.inv(H[np.ix_(base, base)])
    for j in range(n_groups):
        cols = np.flatnonzero(masks[1 << j] & ~masks[0])
        old = inv[: 1 << j]
        u = old @ H[:, cols]  # (2^j, k, g)
        c = H[np.ix_(cols, cols)] - H[cols, :] @ u
        v = u.copy()
        v[:, cols, np.arange(len(cols))] -= 1.0
        inv[1 << j : 2 << j] = old + v @ np.linalg.solve(c, v.transpose(0, 2, 1))
    return inv


def _null_loglik(y: np.ndarray, w: np.ndarray) -> float:
    ybar = float(np.clip((w * y).sum() / w.sum(), 1e-12, 1 - 1e-12))
    return float((w * (y * np.log(ybar) + (1 - y) * np.log(1 - ybar))).sum())


def _interval(
    reps: np.ndarray, estimate: np.ndarray, centre: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """95% bootstrap interval and bootstrap SD. With >= PERCENTILE_MIN_RESAMPLES replicates:
    percentiles (moved to `centre` when the reported estimate is not the bootstrapped one). With fewer:
    centre +/- 1.96 bootstrap SD, which needs far fewer replicates than tail percentiles, and is not
    floored at zero (a cross-validated importance can be below zero: the driver does not help)."""
    centre = estimate if centre is None else centre
    if reps.shape[0] < 2:
        nan = np.full_like(estimate, np.nan)
        return nan, nan, nan
    sd = reps.std(axis=0, ddof=1)
    if reps.shape[0] >= PERCENTILE_MIN_RESAMPLES:
        shift = centre - estimate
        return np.percentile(reps, 2.5, axis=0) + shift, np.percentile(reps, 97.5, axis=0) + shift, sd
    return centre - 1.96 * sd, centre + 1.96 * sd, sd


def dominance(
    df: pd.DataFrame,
    *,
    resamples: int = B_ORG,
    max_rows: int = MAX_ROWS_ORG,
    seed: int = 0,
    cv_folds: int = 0,
) -> pd.DataFrame | None:
    """General dominance of the driver groups on ITL in `df` (respondent rows of one unit).

    Role, site and tenure band (where they vary in the unit) are always in the model, as in the risk
    model, so a driver is not credited with what role or site explains; the group weights sum to the
    full model's McFadden pseudo-R^2 minus that of the adjustment-only model (`r2_full - r2_base`).
    Returns one row per group (importance, interval, share, sign, rank), or None when the unit
    cannot be analysed (too few answers or no variation in ITL).

    With `cv_folds` > 1 the importance is cross-validated: every subset model is refitted without each
    fold and its pseudo-R^2 measured on the held-out fold, so a driver that only fits noise gets about
    zero (or less); `r2_cv` is the full model's out-of-fold pseudo-R^2. The interval is then centred on
    the cross-validated importance with the spread of the in-sample bootstrap.
    """
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: threads only contend
        return _dominance(df, resamples, max_rows, seed, cv_folds)


def _cross_validated_r2(
    X: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    h_inv: np.ndarray,
    betas: np.ndarray,
    folds: int,
    rng,
    p0: np.ndarray | None = None,
) -> np.ndarray:
    """Out-of-fold McFadden pseudo-R^2 of every subset model (k-step refits from the full fit; `p0`:
    the full fit's probabilities, n x S, which every fold's first step starts from)."""
    n = len(y)
    fold = rng.permutation(np.arange(n) % folds)
    ll = np.zeros(masks.shape[0])
    ll0 = 0.0
    for f in range(folds):
        test = fold == f
        train_w = (~test).astype("float64")
        scale = n / max(train_w.sum(), 1.0)  # the training folds' Hessian is about (n_train/n) of the full one
        _, b, _ = _chord_fit(X, y, train_w, masks, h_inv * scale, betas, max_iter=CV_STEPS, tol=1e-5, p0=p0)
        eta = X[test] @ b.T
        ll += (y[test, None] * eta - _log1pexp(eta)).sum(axis=0)
        ybar = float(np.clip(y[~test].mean(), 1e-6, 1 - 1e-6))
        ll0 += float((y[test] * np.log(ybar) + (1 - y[test]) * np.log(1 - ybar)).sum())
    return 1.0 - ll / ll0


def _dominance(df: pd.DataFrame, resamples: int, max_rows: int, seed: int, cv_folds: int = 0) -> pd.DataFrame | None:
    rng = np.random.default_rng(seed)
    data = _model_frame(df[df["itl"].notna()])
    if len(data) > max_rows:
        data = data.iloc[np.sort(rng.choice(len(data), max_rows, replace=False))]
    result = _analyse(data, rng, resamples, cv_folds)
    return result.frame() if result is not None else None


_MODEL_COLUMNS: tuple[str, ...] = tuple(c for g in DRIVER_GROUPS for c in g.columns)


def _model_frame(df: pd.DataFrame) -> pd.DataFrame:
    """What the analysis reads of respondent rows: the driver columns oriented, the adjustment and ITL."""
    out = _oriented(df)
    for col in (*ADJUSTMENT, "itl"):
        out[col] = df[col]
    return out


@dataclass
class _Weights:
    """One unit's dominance weights, one entry per driver group in GROUP_KEYS order (NaN: not in the
    unit's model)."""

    importance: np.ndarray
    importance_lo: np.ndarray
    importance_hi: np.ndarray
    importance_sd: np.ndarray
    share: np.ndarray
    sign: np.ndarray
    r2_full: float
    r2_base: float
    r2_cv: float
    n_analysed: int
    resamples: int

    @property
    def rank(self) -> np.ndarray:
        return pd.Series(self.importance).rank(ascending=False, method="min").to_numpy(dtype="float64")

    def frame(self) -> pd.DataFrame:
        out = pd.DataFrame({"driver": list(GROUP_KEYS)})
        for f in ("importance", "importance_lo", "importance_hi", "importance_sd", "share"):
            out[f] = getattr(self, f)
        out["sign"] = self.sign.astype(int) if not np.isnan(self.sign).any() else self.sign
        out["rank"] = self.rank
        for f in ("r2_full", "r2_base", "r2_cv", "n_analysed", "resamples"):
            out[f] = getattr(self, f)
        return out


@cache
def _dominance_matrix(p: int) -> np.ndarray:
    D = dominance_matrix(p)
    D.flags.writeable = False
    return D


class _Design(NamedTuple):
    """A unit's model matrix and its subsets of driver groups."""

    spec: DesignSpec
    X: np.ndarray
    y: np.ndarray
    masks: np.ndarray  # 2^p x k: columns of each subset (bit j: present[j]); adjustment always in
    present: list[int]  # driver groups (indices into DRIVER_GROUPS) with a column in this unit
    by_source: dict[str, list[int]]


def _design(data: pd.DataFrame) -> _Design | None:
    """The design of `data` (model-frame rows with ITL answered), or None when it cannot be analysed."""
    y = data["itl"].to_numpy(dtype="float64")
    if len(data) < 10 or y.min() == y.max():
        return None
    spec = DesignSpec.fit(data, _MODEL_COLUMNS, ADJUSTMENT)
    X = spec.transform(data)
    by_source = spec.column_groups()
    groups = [[i for c in g.columns for i in by_source.get(c, [])] for g in DRIVER_GROUPS]
    present = [j for j, cols in enumerate(groups) if cols]
    masks = _subset_masks([groups[j] for j in present], X.shape[1])
    for col in ADJUSTMENT:
        masks[:, by_source.get(col, [])] = True
    return _Design(spec, X, y, masks, present, by_source)


def _analyse(data: pd.DataFrame, rng: np.random.Generator, resamples: int, cv_folds: int) -> _Weights | None:
    """General dominance on `data` (model-frame rows with ITL answered, already subsampled); `rng`
    continues the stream that drew the subsample (bootstrap weights, then the folds)."""
    design = _design(data)
    if design is None:
        return None
    spec, X, y, masks, present, by_source = design
    p = len(present)
    D = _dominance_matrix(p)
    w1 = np.ones(len(y))
    full_beta = fit_logit(X, y)
    h_inv = _subset_inverses(X, full_beta, masks)
    ll, betas, eta = _fit_subsets(X, y, masks, h_inv, np.broadcast_to(full_beta, masks.shape))
    ll0 = _null_loglik(y, w1)
    r2 = 1.0 - ll / ll0
    gd = D @ (r2 - r2[0])
    W = rng.poisson(1.0, (resamples, len(y))).astype("float64")  # the same draws as one replicate at a time
    wy, wsum = W @ y, W.sum(axis=1)
    W = W[(wy > 0) & (wy < wsum)]  # a replicate without both outcomes cannot be fitted
    reps = np.zeros((0, p))
    if len(W):
        ybar = np.clip(W @ y / W.sum(axis=1), 1e-12, 1 - 1e-12)
        ll0_b = (W @ y) * np.log(ybar) + (W @ (1 - y)) * np.log(1 - ybar)
        r2_b = 1.0 - _one_step_replicates(X, y, W, masks, h_inv, betas, eta) / ll0_b[:, None]
        reps = (r2_b - r2_b[:, :1]) @ D.T
    gd_in = gd
    r2_cv = np.nan
    if cv_folds > 1 and len(y) >= 10 * cv_folds:
        r2_oof = _cross_validated_r2(X, y, masks, h_inv, betas, cv_folds, rng, p0=expit(eta))
        gd = D @ (r2_oof - r2_oof[0])
        r2_cv = float(r2_oof[-1])
        explained = r2_oof[-1] - r2_oof[0]
    else:
        explained = r2[-1] - r2[0]
    lo, hi, sd = _interval(reps, gd_in, gd)
    n_groups = len(GROUP_KEYS)
    out = {f: np.full(n_groups, np.nan) for f in ("importance", "importance_lo", "importance_hi", "importance_sd")}
    out["share"] = np.full(n_groups, np.nan)
    out["sign"] = np.full(n_groups, np.nan)
    for pos, j in enumerate(present):
        g = DRIVER_GROUPS[j]
        value_cols = [by_source[c][0] for c in g.columns if c in spec.numeric]
        direction = float(np.sum(betas[-1][value_cols])) if value_cols else 0.0
        out["importance"][j] = gd[pos]
        out["importance_lo"][j] = lo[pos]
        out["importance_hi"][j] = hi[pos]
        out["importance_sd"][j] = sd[pos]
        out["share"][j] = gd[pos] / explained if explained > 0 else np.nan
        out["sign"][j] = np.sign(direction)
    return _Weights(
        **out,
        r2_full=float(r2[-1]),
        r2_base=float(r2[0]),
        r2_cv=r2_cv,
        n_analysed=len(y),
        resamples=len(reps),
    )


def _unfavourable_people(df: pd.DataFrame, call_threshold: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per driver group, per respondent: (unfavourable, answered at least one item); see `_performance`."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for g in DRIVER_GROUPS:
        bad_items = np.zeros(len(df))
        answered_items = np.zeros(len(df))
        for item in g.items:
            v = df[item].to_numpy(dtype="float64")
            answered = ~np.isnan(v)
            op, t = contract.ITEMS_BY_NAME[item].unfavourable
            bad = (v >= t) if op == ">=" else (v <= t)
            bad_items += bad & answered
            answered_items += answered
        if g.key == "call":
            v = df["call_nights_per_month"].to_numpy(dtype="float64")
            answered_items = (~np.isnan(v)).astype(float)
            bad_items = ((v >= call_threshold) & ~np.isnan(v)).astype(float)
        people = answered_items > 0
        out[g.key] = (people & (2 * bad_items >= answered_items), people)
    return out


def _performance(df: pd.DataFrame, call_threshold: float) -> dict[str, tuple[float, float]]:
    """Per driver group: (people unfavourable, people who answered), counted in PEOPLE.

    A person is unfavourable on a group when at least half of the group's items they answered are
    unfavourable; the denominator is everyone who answered at least one of them. For a one-item group
    this is the item's unfavourable rate. People, not answers (issue 11, attack 3): a share of
    answers pooled over several items could be undone by subtracting a visible item's rate, and k
    and the bands would count answers rather than the people behind them."""
    rows = _unfavourable_people(df, call_threshold)
    return {g: (float(bad.sum()), float(people.sum())) for g, (bad, people) in rows.items()}


DRIVER_FIELDS: tuple[str, ...] = (
    "importance",
    "importance_lo",
    "importance_hi",
    "share",
    "sign",
    "rank",
    "unfavourable",
    "unfavourable_answered",
)
# Release the wide table with rates=UNFAVOURABLE_RATES: each unfavourable % is a rate of people (its
# denominator is <group>_unfavourable_answered), so it gets per-cell suppression and banding.
UNFAVOURABLE_RATES: tuple[str, ...] = tuple(f"{g}_unfavourable" for g in GROUP_KEYS)


def _shrink(own: dict[int, _Weights], org: _Weights, sizes: dict[int, int]) -> dict[int, tuple[_Weights, float]]:
    """Empirical-Bayes shrinkage of units' own importance toward the organisation's, per driver group.

    For group g: tau_g^2 = variance of the units' own importances minus their mean bootstrap variance
    (the spread between units beyond noise); a unit's weight on its own estimate is
    lambda = tau^2 / (tau^2 + sd_u^2). Units with >= STABLE_UNIT_N respondents keep their own
    (lambda = 1). Returns {unit: (weights, mean lambda)} with importance, interval, share and rank
    recomputed from the shrunk weights."""
    if not own:
        return {}
    keys = list(own)
    imp = np.array([own[u].importance for u in keys])
    sd = np.array([own[u].importance_sd for u in keys])
    centre = org.importance
    with np.errstate(invalid="ignore"):
        between = np.nanvar(imp, axis=0) - np.nanmean(sd**2, axis=0) if len(keys) > 1 else np.zeros(len(GROUP_KEYS))
    tau2 = np.clip(np.nan_to_num(between, nan=0.0), 1e-12, None)
    out = {}
    for row, u in enumerate(keys):
        if sizes[u] >= STABLE_UNIT_N:
            out[u] = (own[u], 1.0)
            continue
        s2 = np.nan_to_num(sd[row] ** 2, nan=np.inf)
        lam = np.where(np.isnan(imp[row]), 0.0, tau2 / (tau2 + s2))
        shrunk = centre + lam * (np.nan_to_num(imp[row]) - centre)
        shrunk_sd = lam * np.nan_to_num(sd[row])
        total = np.nansum(np.clip(shrunk, 0, None))
        out[u] = (
            replace(
                own[u],
                importance=shrunk,
                importance_sd=shrunk_sd,
                importance_lo=shrunk - 1.96 * shrunk_sd,
                importance_hi=shrunk + 1.96 * shrunk_sd,
                share=shrunk / total if total > 0 else np.full(len(GROUP_KEYS), np.nan),
                sign=np.where(lam >= 0.5, own[u].sign, org.sign),
            ),
            float(np.mean(lam)),
        )
    return out


def _wave_drivers(
    df: pd.DataFrame,
    levels: Sequence[str],
    values: dict[str, Any],
    min_unit: int,
    resamples_org: int,
    resamples_unit: int,
    seed: int,
) -> pd.DataFrame:
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: threads only contend
        return _wave_drivers_inner(df, levels, values, min_unit, resamples_org, resamples_unit, seed)


def _wave_drivers_inner(
    df: pd.DataFrame,
    levels: Sequence[str],
    values: dict[str, Any],
    min_unit: int,
    resamples_org: int,
    resamples_unit: int,
    seed: int,
) -> pd.DataFrame:
    call_threshold = float(values["lever_call_threshold"])
    model = _model_frame(df)
    answered = df["itl"].notna().to_numpy()

    def analyse(rows: np.ndarray, max_rows: int, unit_seed: int, resamples: int, cv_folds: int) -> _Weights | None:
        """As `dominance` on df.iloc[rows] (same subsample, same random stream), without copying the unit."""
        rows = rows[answered[rows]]
        rng = np.random.default_rng(unit_seed)
        if len(rows) > max_rows:
            rows = rows[np.sort(rng.choice(len(rows), max_rows, replace=False))]
        return _analyse(model.iloc[rows], rng, resamples, cv_folds)

    org = analyse(np.arange(len(df)), MAX_ROWS_ORG, seed, resamples_org, CV_FOLDS)
    people = _unfavourable_people(df, call_threshold)
    out = []
    for level in levels:
        dims = LEVELS[level]
        if dims:
            codes, units = cell_codes(df, dims)
        else:
            codes, units = np.zeros(len(df), dtype=int), pd.DataFrame(index=[0])
        n_units = len(units)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(n_units + 1))
        counts = np.bincount(codes, minlength=n_units)
        sizes = dict(enumerate(np.bincount(codes, weights=answered, minlength=n_units).astype(int).tolist()))
        perf = {
            g: (np.bincount(codes, weights=bad, minlength=n_units), np.bincount(codes, weights=ok, minlength=n_units))
            for g, (bad, ok) in people.items()
        }
        own = {}
        if level != "organisation" and org is not None:
            for u in range(n_units):
                if sizes[u] >= min_unit:
                    result = analyse(order[bounds[u] : bounds[u + 1]], MAX_ROWS_UNIT, seed + 7 + u, resamples_unit, 0)
                    if result is not None:
                        own[u] = result
        shrunk = _shrink(own, org, sizes) if org is not None else {}
        for u in range(n_units):
            row: dict[str, Any] = {"level": level, "n": int(counts[u])}
            unit = units.iloc[u] if dims else None
            for d in contract.DIMENSIONS:
                row[d] = unit[d] if d in dims else None
            result: _Weights | None
            if level == "organisation":
                result, source, weight = org, "own", 1.0
            elif u in shrunk:
                result, weight = shrunk[u]
                source = "own" if sizes[u] >= STABLE_UNIT_N else "shrunk"
            else:
                result, source, weight = org, "organisation", 0.0
            row["weights_source"] = source
            row["own_weight"] = weight
            row["r2_full"] = result.r2_full if result is not None else np.nan
            row["r2_cv"] = org.r2_cv if level == "organisation" and org is not None else np.nan
            fields = {}
            if result is not None:
                fields = {f: getattr(result, f) for f in ("importance", "importance_lo", "importance_hi", "share")}
                fields["sign"], fields["rank"] = result.sign, result.rank
            for i, g in enumerate(GROUP_KEYS):
                for f in ("importance", "importance_lo", "importance_hi", "share", "sign", "rank"):
                    row[f"{g}_{f}"] = float(fields[f][i]) if fields else np.nan
                num, den = perf[g][0][u], perf[g][1][u]
                row[f"{g}_unfavourable"] = float(num / den) if den else np.nan
                row[f"{g}_unfavourable_answered"] = int(den)
            out.append(row)
    return pd.DataFrame(out)


DRIVER_COLUMNS: tuple[str, ...] = (
    *UNIT_COLUMNS,
    "weights_source",  # own (stable unit) | shrunk (toward the organisation) | organisation (borrowed)
    "own_weight",  # how much of the unit's weights is its own (1 own, 0 borrowed, mean lambda if shrunk)
    "r2_full",
    "r2_cv",  # organisation rows: the full model's cross-validated pseudo-R^2
    *(f"{g}_{f}" for g in GROUP_KEYS for f in DRIVER_FIELDS),
)


def compute_drivers(
    con: duckdb.DuckDBPyConnection,
    *,
    wave: str | None = None,
    levels: Sequence[str] = tuple(LEVELS),
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
    values: dict[str, Any] | None = None,
    resamples_org: int = B_ORG,
    resamples_unit: int = B_UNIT,
    seed: int = 0,
) -> pd.DataFrame:
    """Driver importance and the quadrant view per unit (one wide row per unit; see `to_long`).

    Per group g: g_importance (+ _lo/_hi), g_share of the model R^2, g_sign (+1: worse conditions,
    more intent to leave), g_rank, g_unfavourable (the unit's share of people unfavourable on at least
    half of the group's items they answered; for call, the share at or above the call threshold; none for clinical FTE) and
    g_unfavourable_answered (its denominator). The `act_here` flag of the quadrant view is derived
    by `to_long` from the released table, so it never reveals a hidden cell.
    """
    values = values or assumptions.values(con)
    min_unit = int(values["drivers_min_unit_size"])
    frames = []
    for w in [wave] if wave is not None else waves(con):
        df = load_respondents(con, wave=w)
        if df.empty:
            continue
        try:
            frame = _wave_drivers(df, levels, values, min_unit, resamples_org, resamples_unit, seed)
        except ValueError:  # too few answers (or no variation) in this wave to weigh drivers
            continue
        frame["wave"] = w
        frames.append(_filter_units(frame, site, department, role))
    if not frames:
        return pd.DataFrame(columns=list(DRIVER_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(DRIVER_COLUMNS)]


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per unit x driver group (for the quadrant chart), from the wide released table.

    act_here = the group's (predictive) importance is above the unit's median importance with its
    interval above zero, worse conditions raise intent to leave, and the unit's unfavourable share is
    above the organisation's (same wave) by more than noise: 1.96 binomial standard errors at the
    unit's number of answers. Computed from visible values only: a hidden or banded cell gives
    act_here = False.
    """
    base = [c for c in wide.columns if not any(c.startswith(f"{g}_") for g in GROUP_KEYS)]
    labels = {g.key: g.label for g in DRIVER_GROUPS}
    imp_cols = [f"{g}_importance" for g in GROUP_KEYS if f"{g}_importance" in wide.columns]
    median_imp = wide[imp_cols].astype("float64").median(axis=1, skipna=True) if imp_cols else None
    org = wide[wide["level"] == "organisation"].set_index("wave") if "level" in wide.columns else None
    parts = []
    for g in GROUP_KEYS:
        cols = {f"{g}_{f}": f for f in DRIVER_FIELDS if f"{g}_{f}" in wide.columns}
        if f"{g}_unfavourable_display" in wide.columns:
            cols[f"{g}_unfavourable_display"] = "unfavourable_display"
        part = wide[base + list(cols)].rename(columns=cols).copy()
        part.insert(len(base), "driver", g)
        part.insert(len(base) + 1, "driver_label", labels[g])
        unfav = pd.to_numeric(part.get("unfavourable"), errors="coerce").astype("float64")
        imp = pd.to_numeric(part.get("importance"), errors="coerce").astype("float64")
        sign = pd.to_numeric(part.get("sign"), errors="coerce").astype("float64")
        if org is not None and f"{g}_unfavourable" in org.columns:
            org_unfav = pd.to_numeric(wide["wave"].map(org[f"{g}_unfavourable"]), errors="coerce").astype("float64")
        else:
            org_unfav = pd.Series(np.nan, index=wide.index)
        answered = pd.to_numeric(part.get("unfavourable_answered"), errors="coerce").astype("float64")
        lo = pd.to_numeric(part.get("importance_lo"), errors="coerce").astype("float64")
        # beyond noise: the unit's unfavourable share exceeds the organisation's by more than 1.96
        # binomial standard errors of a group of the unit's size, and the importance interval is above 0
        noise = 1.96 * np.sqrt(org_unfav * (1 - org_unfav) / answered.where(answered > 0))
        worse = unfav - org_unfav > noise
        not_org = part["level"] != "organisation" if "level" in part.columns else True
        act = (imp > median_imp) & worse & (sign > 0) & (lo > 0) & not_org
        part["act_here"] = act.fillna(False).astype(bool).to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)
