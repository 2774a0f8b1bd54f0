"""Attrition risk: a calibrated logistic model of intent to leave, turned into unit risk, expected
departures and replacement-cost exposure (METHODS.md, "Attrition risk").

Model: logistic regression of ITL (intent_to_leave >= contract.ITL_THRESHOLD) on the drivers except job
satisfaction (too close to the outcome to be a predictor), role and tenure band, plus random intercepts
for site and for department within site, fitted per wave on the respondents who answered intent to leave
(randomly subsampled to `max_fit_rows` for speed). The random intercepts are fitted as a penalised
model (penalty 1/tau^2 on each unit's column) with tau^2 the empirical-Bayes estimate of the
between-unit variance, so a department's risk reflects the department itself, shrunk toward the
organisation as much as its size warrants. Missing predictors are imputed for modelling only
(median/mode plus a missing indicator).

Unit risk is the mean predicted probability over the unit's respondents (marginal standardisation).
Expected two-year departures = headcount x [p * P(leave | ITL) + (1 - p) * P(leave | no ITL)], computed
per site x department x role cell and summed, so roster headcount and roster replacement costs apply
cell by cell. Without a roster, respondents stand in for headcount (`headcount_source`).

Intervals (95%, percentile, `resamples` >= 200 replicates): each replicate combines a draw of the
coefficients from their approximate posterior (one of `refits` draws), fresh Poisson(1) weights on
respondents (which respondents happened to answer) and, for departures and cost, a draw of
P(leave | ITL) and P(leave | no ITL) from Beta priors around the set values (`conversion_draws`).
`expected_departures_sampling_lo/_hi` hold the interval with the conversion fixed, to show how much of
the width is the assumptions'. The Poisson weights are drawn per site x department x role cell, in
the same distribution as one weight per respondent (`poisson_replicates`): a cell's total weight is
Poisson(n), exactly; given it, cells of fewer than EXACT_CELL (200) respondents resample that many
respondents, and in larger cells the mean of the resampled probabilities is drawn from its normal
approximation (mean and variance of the weighted sum exactly sum p and sum p^2, as with a weight per
respondent).

Diagnostics per wave: cross-validated (out-of-fold) AUROC, observed/expected and calibration slope on
the wave, and the previous wave's model scored on this wave before it is refitted (temporal
validation), with a `drift` flag and a plain `drift_warning` when it no longer fits.

No individual probability ever leaves this module: public functions return unit aggregates only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from pipelines import contract
from pipelines.contract import levels
from pipelines.models import assumptions
from pipelines.models.features import (
    RISK_ADJUSTMENT,
    RISK_DRIVERS,
    UNIT_TERMS,
    DesignSpec,
    cell_codes,
    expit,
    fit_logit,
    load_respondents,
)

LEVELS = levels.LEVELS
CELL = levels.CELL
UNIT_COLUMNS: tuple[str, ...] = ("wave", "site", "department", "role", "level", "n")

MAX_FIT_ROWS = 30_000
REFITS = 50
REFIT_ROWS = 5_000
RESAMPLES = 200
CV_FOLDS = 5
# Empirical-Bayes estimate of the between-unit variances (log-odds scale).
EB_ITERATIONS = 30
EB_TOL = 0.01  # stop when no variance moves by more than 1%
TAU2_START = 0.1
TAU2_MIN = 1e-3
TAU2_MAX = 4.0


@dataclass
class FittedModel:
    """A fitted logistic model (coefficients only; it holds no respondent data)."""

    spec: DesignSpec
    beta: np.ndarray
    refit_betas: np.ndarray  # (refits, k), already rescaled to the full sample size
    n_fit: int
    n_events: int
    drivers: tuple[str, ...]
    method: dict[str, Any] = field(default_factory=dict)
    tau2: dict[str, float] = field(default_factory=dict)  # between-unit variances (unrounded)

    def coefficients(self) -> pd.DataFrame:
        """Log-odds per SD (numbers) or versus the reference level (categories), with bootstrap SD."""
        sd = self.refit_betas.std(axis=0) if len(self.refit_betas) > 1 else np.full(len(self.beta), np.nan)
        return pd.DataFrame({"term": self.spec.columns, "log_odds": self.beta, "bootstrap_sd": sd})

    def _predict(self, df: pd.DataFrame, beta: np.ndarray | None = None) -> np.ndarray:
        """Private: per-respondent probabilities, used only to form aggregates inside the pipeline."""
        return expit(_Design(self.spec, df).dot(self.beta if beta is None else beta))


class _Design:
    """A model matrix kept in two parts (`DesignSpec.transform_parts`): the dense columns and, per unit
    term, which of its one-hot columns each row has set. `dot`, `tdot` and `gram` give X @ beta,
    X.T @ r and X.T @ diag(w) @ X exactly as the full matrix would (up to rounding), but the unit
    terms' columns (most of the matrix: ~40 of ~80 at a health system's size) cost a bincount, not
    a pass over an n x k matrix."""

    def __init__(self, spec: DesignSpec, df: pd.DataFrame):
        self.dense, codes = spec.transform_parts(df)
        self.n, self.d = self.dense.shape
        self.blocks: list[tuple[int, int, np.ndarray]] = []  # (first column, columns, code per row)
        # per block, the rows with a column set grouped by unit (for np.add.reduceat): row order,
        # where each present unit's rows start, and which units are present
        self._groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        start = self.d
        for name in spec.random:
            size = len(spec.random_levels[name])
            code = codes[name]
            self.blocks.append((start, size, code))
            order = np.argsort(code, kind="stable")
            order = order[code[order] >= 0]
            present, first = np.unique(code[order], return_index=True)
            self._groups.append((order, first, present))
            start += size
        self.k = start

    def dot(self, beta: np.ndarray) -> np.ndarray:
        """X @ beta; beta may be (k,) or (k, m) for m coefficient vectors at once."""
        eta = self.dense @ beta[: self.d]
        for start, size, code in self.blocks:
            # code -1 (no column set) picks the appended zero row
            eta = eta + np.concatenate([beta[start : start + size], np.zeros_like(beta[:1])])[code]
        return eta

    def tdot(self, r: np.ndarray) -> np.ndarray:
        """X.T @ r."""
        out = np.empty(self.k)
        out[: self.d] = self.dense.T @ r
        for start, size, code in self.blocks:
            out[start : start + size] = np.bincount(code + 1, weights=r, minlength=size + 1)[1:]
        return out

    def gram(self, w: np.ndarray) -> np.ndarray:
        """X.T @ diag(w) @ X."""
        H = np.empty((self.k, self.k))
        wd = self.dense * w[:, None]
        H[: self.d, : self.d] = self.dense.T @ wd
        for i, ((start, size, code), (order, first, present)) in enumerate(zip(self.blocks, self._groups, strict=True)):
            sums = np.zeros((size, self.d))
            if len(order):
                sums[present] = np.add.reduceat(wd[order], first, axis=0)
            H[start : start + size, : self.d] = sums
            H[: self.d, start : start + size] = sums.T
            for start2, size2, code2 in self.blocks[i:]:
                both = (code + 1) * (size2 + 1) + (code2 + 1)
                cross = np.bincount(both, weights=w, minlength=(size + 1) * (size2 + 1))
                cross = cross.reshape(size + 1, size2 + 1)[1:, 1:]
                H[start : start + size, start2 : start2 + size2] = cross
                H[start2 : start2 + size2, start : start + size] = cross.T
        return H


def _fit_logit(
    design: _Design,
    y: np.ndarray,
    *,
    penalty: np.ndarray,
    beta0: np.ndarray | None = None,
    max_iter: int = 30,
    tol: float = 1e-7,
    hessian: np.ndarray | None = None,
) -> np.ndarray:
    """The penalised logistic fit of `features.fit_logit` (the same start, objective and stopping
    rule: a step below `tol`) on a `_Design`, by Newton steps that reuse a Hessian while it still
    serves: `hessian` (X'WX at a nearby beta, e.g. the previous empirical-Bayes iteration's) is
    used until a step fails to shrink at least fourfold, and then X'WX is recomputed at the current
    beta (at most `max_iter` times). The optimum is the same strictly convex objective's; only the
    path to it is cheaper (a gradient costs a pass over the n x 40 dense columns, X'WX ~40 of them)."""
    k = design.k
    if beta0 is None:
        beta = np.zeros(k)
        ybar = float(np.clip(y.sum() / max(len(y), 1e-12), 1e-4, 1 - 1e-4))
        beta[0] = np.log(ybar / (1 - ybar))
    else:
        beta = beta0.copy()
    ridge = np.diag(penalty) + 1e-9 * np.eye(k)
    hess = None if hessian is None else hessian + ridge
    fresh, previous, computed = False, np.inf, 0
    for _ in range(4 * max_iter):
        p = expit(design.dot(beta))
        grad = design.tdot(y - p) - penalty * beta
        if hess is None:
            if computed == max_iter:
                break
            hess = design.gram(p * (1 - p)) + ridge
            fresh, computed = True, computed + 1
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        size = float(np.max(np.abs(step)))
        if not fresh and size > previous / 4:
            hess = None  # the old Hessian no longer serves: recompute here and take a full Newton step
            continue
        beta = beta + step
        if size < tol:
            break
        previous, fresh = size, False
    return beta


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve; sklearn is imported on first use, not when a page imports this module."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def _penalised_fit(
    X: _Design,
    y: np.ndarray,
    groups: dict[str, np.ndarray],
    *,
    iters: int = EB_ITERATIONS,
    start: tuple[np.ndarray | None, dict[str, float]] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Logistic regression with random intercepts for the unit terms, fitted as a penalised model.

    Fixed effects keep the weak ridge of `fit_logit` (1 on standardised columns); the columns of unit
    term g get the penalty 1/tau_g^2, i.e. a N(0, tau_g^2) random intercept per unit. tau_g^2 is the
    empirical-Bayes estimate of the between-unit variance by the EM update of a Laplace-approximated
    mixed model, tau_g^2 = (sum_j b_j^2 + trace of the posterior covariance of b_g) / J_g, iterated in
    MacKay's form tau_g^2 = sum_j b_j^2 / (J_g - trace(cov_g) / tau_g^2). `start`: (coefficients or
    None, tau^2 per term) to start the iterations from instead of TAU2_START, e.g. a fit of the same
    model on similar data: the same fixed point, in fewer steps. Returns (coefficients, their
    posterior covariance, tau^2 per term)."""
    k = X.k
    penalty = np.full(k, 1.0)
    penalty[0] = 0.0
    tau2 = {g: TAU2_START for g in groups}
    beta = None
    if start is not None:
        beta = None if start[0] is None else start[0].copy()
        tau2.update({g: float(np.clip(v, TAU2_MIN, TAU2_MAX)) for g, v in start[1].items() if g in groups})
    cov = np.eye(k)
    final = False
    gram = None
    for it in range(iters + 1):
        for g, idx in groups.items():
            penalty[idx] = 1.0 / tau2[g]
        beta = _fit_logit(X, y, beta0=beta, penalty=penalty, max_iter=30 if it == 0 else 10, hessian=gram)
        p = expit(X.dot(beta))
        gram = X.gram(p * (1 - p))
        hess = gram + np.diag(penalty) + 1e-9 * np.eye(k)
        cov = np.linalg.inv(hess)
        if not groups or final or it == iters:
            break
        new = {}
        for g, idx in groups.items():
            # effective number of unit effects the data determine (MacKay's fixed point for the EM
            # update above; it converges in a few steps, also when tau^2 heads for zero)
            gamma = len(idx) - np.trace(cov[np.ix_(idx, idx)]) / tau2[g]
            value = np.sum(beta[idx] ** 2) / gamma if gamma > 1e-6 else TAU2_MIN
            new[g] = float(np.clip(value, TAU2_MIN, TAU2_MAX))
        final = all(abs(np.log(new[g] / tau2[g])) < EB_TOL for g in groups)  # then one last fit at them
        tau2 = new
    return beta, (cov + cov.T) / 2, tau2


def _design(train: pd.DataFrame, include_burnout: bool, units: bool) -> tuple[tuple[str, ...], DesignSpec]:
    drivers = tuple(d for d in RISK_DRIVERS if include_burnout or d != "burnout_level")
    adjustment = RISK_ADJUSTMENT if units else (*RISK_ADJUSTMENT, "site")
    return drivers, DesignSpec.fit(train, drivers, adjustment, UNIT_TERMS if units else None)


def _fit_rows(df: pd.DataFrame, max_fit_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    train = df[df["itl"].notna()]
    if len(train) > max_fit_rows:
        train = train.iloc[np.sort(rng.choice(len(train), max_fit_rows, replace=False))]
    return train


def fit_model(
    df: pd.DataFrame,
    *,
    include_burnout: bool = True,
    max_fit_rows: int = MAX_FIT_ROWS,
    refits: int = REFITS,
    refit_rows: int = REFIT_ROWS,
    seed: int = 0,
    units: bool = True,
) -> FittedModel:
    """Fit the ITL model on respondents who answered intent to leave (see module docstring).

    `refit_betas` are `refits` draws of the coefficients from their approximate posterior
    N(beta, H^-1) (H: the penalised Hessian), which carries each unit's own uncertainty: a small
    department's effect is both shrunk toward the organisation and uncertain. `refit_rows` is kept
    for callers of the earlier bootstrap version and no longer used. `units=False` fits site as a
    fixed effect and no department term (the earlier model)."""
    rng = np.random.default_rng(seed)
    train = _fit_rows(df, max_fit_rows, rng)
    y = train["itl"].to_numpy(dtype="float64")
    if len(train) < 10 or y.min() == y.max():
        raise ValueError("Too few answers to intent to leave (or no variation) to fit a risk model.")
    drivers, spec = _design(train, include_burnout, units)
    beta, cov, tau2 = _penalised_fit(_Design(spec, train), y, spec.random_indices())
    n = len(train)
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(cov)
        chol = vecs * np.sqrt(np.clip(vals, 0, None))
    draws = beta[None, :] + rng.standard_normal((refits, len(beta))) @ chol.T
    method = {
        "fit_rows": n,
        "refits": refits,
        "coefficient_draws": "posterior normal (Laplace), not refits",
        "include_burnout": include_burnout,
        "predictors": list(drivers),
        "excluded": {"satisfaction": "too close to the outcome to be a predictor"},
        "unit_terms": {g: list(c) for g, c in spec.random.items()},
        "between_unit_variance": {g: round(v, 5) for g, v in tau2.items()},
        "estimator": "logistic regression with site and department random intercepts (penalised IRLS, "
        "empirical-Bayes variances; ridge 1 on standardised drivers)",
    }
    return FittedModel(spec, beta, draws.reshape(refits, len(beta)), n, int(y.sum()), drivers, method, tau2)


# --------------------------------------------------------------------------------------------
# Diagnostics: cross-validated discrimination and calibration
# --------------------------------------------------------------------------------------------
def calibration_verdict(oe: float, slope: float, auroc: float) -> str:
    """Plain-words verdict shown on screen next to the model's numbers."""
    if not np.isfinite(oe) or not np.isfinite(slope):
        return "Not enough data to judge how well the model is calibrated."
    good_oe = 0.9 <= oe <= 1.1
    good_slope = 0.8 <= slope <= 1.2
    if good_oe and good_slope:
        text = "Well calibrated: predicted intent to leave matches what respondents said"
    elif not good_oe:
        direction = "under" if oe > 1 else "over"
        text = f"Poorly calibrated: the model {direction}-predicts intent to leave overall (observed/expected {oe:.2f})"
    else:
        kind = "too extreme" if slope < 1 else "too timid"
        text = f"Poorly calibrated: predictions are {kind} (calibration slope {slope:.2f})"
    if np.isfinite(auroc):
        quality = "good" if auroc >= 0.75 else "fair" if auroc >= 0.65 else "weak"
        text += f"; {quality} at telling higher-risk from lower-risk respondents (AUROC {auroc:.2f})."
    return text


def cross_validate(
    df: pd.DataFrame,
    *,
    folds: int = CV_FOLDS,
    include_burnout: bool = True,
    max_fit_rows: int = MAX_FIT_ROWS,
    min_bin: int = 10,
    seed: int = 0,
    units: bool = True,
    model: FittedModel | None = None,
) -> dict[str, Any]:
    """5-fold cross-validated AUROC, observed/expected, calibration slope and a calibration curve.

    All numbers are computed on held-out folds. The curve has up to 10 equal-size bins of predicted
    risk, never fewer than `min_bin` respondents each. `model`: the wave's fitted model, if at hand;
    each fold's fit then starts its empirical-Bayes iterations at that model's between-unit variances
    (and its Newton steps at its coefficients when the columns are the same) instead of TAU2_START.
    The fold's own estimate is the same fixed point, reached in fewer steps; only the stopping
    rule's 1% tolerance can tell the two starts apart.
    """
    rng = np.random.default_rng(seed + 1)
    train = _fit_rows(df, max_fit_rows, rng)
    n = len(train)
    y = train["itl"].to_numpy(dtype="float64")
    out: dict[str, Any] = {"n_fit": n, "n_events": int(y.sum()), "folds": folds}
    nan = float("nan")
    if n < 2 * folds or y.min() == y.max():
        out.update(auroc=nan, auroc_sd=nan, observed_expected=nan, calibration_slope=nan, curve=[])
        out["verdict"] = calibration_verdict(nan, nan, nan)
        return out
    fold = rng.permutation(np.arange(n) % folds)
    oof = np.empty(n)
    aucs = []
    for f in range(folds):
        test = fold == f
        # the same model as fit_model, refitted without the held-out fold: out-of-fold predictions
        _, spec = _design(train[~test], include_burnout, units)
        start = None
        if model is not None and model.tau2:
            start = (model.beta if model.spec.columns == spec.columns else None, model.tau2)
        beta, _, _ = _penalised_fit(_Design(spec, train[~test]), y[~test], spec.random_indices(), start=start)
        oof[test] = expit(_Design(spec, train[test]).dot(beta))
        if 0 < y[test].sum() < test.sum():
            aucs.append(_auroc(y[test], oof[test]))
    out.update(_calibration(y, oof, min_bin))
    out["auroc"] = float(np.mean(aucs)) if aucs else nan
    out["auroc_sd"] = float(np.std(aucs)) if aucs else nan
    out["verdict"] = calibration_verdict(out["observed_expected"], out["calibration_slope"], out["auroc"])
    return out


def _calibration(y: np.ndarray, predicted: np.ndarray, min_bin: int = 10) -> dict[str, Any]:
    """Observed/expected, calibration slope (logistic recalibration on logit p), a binned curve and
    the AUROC of predictions `predicted` against outcomes `y` (predictions made without `y`)."""
    n = len(y)
    nan = float("nan")
    if n == 0 or y.min() == y.max():
        return {"observed_expected": nan, "calibration_slope": nan, "curve": [], "auroc_all": nan}
    p = np.clip(predicted, 1e-6, 1 - 1e-6)
    logit_p = np.log(p / (1 - p))
    slope_fit = fit_logit(np.column_stack([np.ones(n), logit_p]), y, ridge=0.0)
    bins = int(min(10, n // max(min_bin, 1)))
    curve = []
    if bins >= 2:
        order = np.argsort(p, kind="stable")
        for b, idx in enumerate(np.array_split(order, bins), start=1):
            curve.append(
                {
                    "bin": b,
                    "n": int(idx.size),
                    "mean_predicted": float(p[idx].mean()),
                    "observed": float(y[idx].mean()),
                }
            )
    return {
        "observed_expected": float(y.sum() / p.sum()),
        "calibration_slope": float(slope_fit[1]),
        "curve": curve,
        "auroc_all": _auroc(y, p),
    }


# --------------------------------------------------------------------------------------------
# Temporal validation: last wave's model on this wave
# --------------------------------------------------------------------------------------------
DRIFT_OE = (0.8, 1.25)  # observed/expected outside this range: drift
DRIFT_SLOPE = (0.7, 1.4)  # calibration slope outside this range: drift


def drift_warning(oe: float, slope: float, previous_wave: str, wave: str) -> str | None:
    """Plain-words warning when last wave's model no longer fits this wave, else None."""
    if not (np.isfinite(oe) and np.isfinite(slope)):
        return None
    parts = []
    if not DRIFT_OE[0] <= oe <= DRIFT_OE[1]:
        more = "more" if oe > 1 else "fewer"
        parts.append(
            f"{more} respondents stated intent to leave than the {previous_wave} model predicts "
            f"(observed/expected {oe:.2f})"
        )
    if not DRIFT_SLOPE[0] <= slope <= DRIFT_SLOPE[1]:
        parts.append(f"the {previous_wave} model's risk ranking has changed (calibration slope {slope:.2f})")
    if not parts:
        return None
    return (
        f"Drift: in {wave}, " + "; ".join(parts) + ". Something changed between the waves; read this wave's "
        "risk as a new picture rather than a continuation of the last one."
    )


def temporal_validation(
    previous: pd.DataFrame | None,
    current: pd.DataFrame,
    *,
    previous_wave: str,
    wave: str,
    seed: int = 0,
    model: FittedModel | None = None,
) -> dict[str, Any]:
    """Fit the model on the previous wave and score it on this wave, before this wave is refitted:
    observed/expected, calibration slope and AUROC on the new wave's respondents, and the drift flag.
    `model`: the previous wave's model when already fitted (`fit_model` on `previous` with this seed;
    its coefficients do not depend on `refits`), else it is fitted here from `previous`."""
    nan = float("nan")
    out: dict[str, Any] = {
        "previous_wave": previous_wave,
        "previous_auroc": nan,
        "previous_observed_expected": nan,
        "previous_calibration_slope": nan,
        "drift": None,
        "drift_warning": None,
    }
    scored = current[current["itl"].notna()]
    if model is None:
        try:
            model = fit_model(previous, refits=0, seed=seed)
        except ValueError:
            return out
    y = scored["itl"].to_numpy(dtype="float64")
    if len(y) < 10 or y.min() == y.max():
        return out
    cal = _calibration(y, model._predict(scored))
    warning = drift_warning(cal["observed_expected"], cal["calibration_slope"], previous_wave, wave)
    out.update(
        previous_auroc=cal["auroc_all"],
        previous_observed_expected=cal["observed_expected"],
        previous_calibration_slope=cal["calibration_slope"],
        drift=warning is not None,
        drift_warning=warning,
    )
    return out


# --------------------------------------------------------------------------------------------
# Roster and costs
# --------------------------------------------------------------------------------------------
def load_roster(con: duckdb.DuckDBPyConnection, wave: str | None) -> pd.DataFrame | None:
    """Headcount by site x department x role for a wave: rows for that wave, else the latest roster
    that applies to all waves (wave NULL). When several uploads qualify, the latest upload wins."""
    for clause, params in (("h.wave = ?", [wave]), ("h.wave is null", [])):
        if clause == "h.wave = ?" and wave is None:
            continue
        latest = con.execute(
            f"""select h.upload_id from headcount h left join uploads u using (upload_id)
                where {clause} group by h.upload_id
                order by max(u.uploaded_at) desc nulls last, h.upload_id desc limit 1""",
            params,
        ).fetchall()[:1]
        if latest:
            return con.execute(
                f"""select site, department, role, sum(headcount)::double as headcount,
                       sum(headcount * replacement_cost) / nullif(sum(case when replacement_cost
                           is not null then headcount end), 0) as replacement_cost
                    from headcount h where {clause} and upload_id = ?
                    group by site, department, role""",
                [*params, latest[0][0]],
            ).df()
    return None


def role_costs(values: dict[str, Any]) -> dict[str, float]:
    return {role: float(values[assumptions.replacement_cost_key(role)]) for role in contract.ROLES}


def _norm(s: pd.Series) -> pd.Series:
    return s.astype(object).map(lambda v: None if v is None or v != v else str(v).strip().casefold())


# --------------------------------------------------------------------------------------------
# Unit risk
# --------------------------------------------------------------------------------------------
def _membership(cells: pd.DataFrame, dims: tuple[str, ...]) -> tuple[np.ndarray, pd.DataFrame]:
    """Unit index per cell for a level, and the table of units."""
    if not dims:
        return np.zeros(len(cells), dtype=int), pd.DataFrame(index=[0])
    codes, units = cell_codes(cells, dims)
    return codes, units


# Beta priors on the conversion from intent to departure, centred on the set values (defaults from
# Hamidi et al. 2018, REFERENCE.md). Their concentrations (alpha + beta) make the 95% range of
# P(leave | ITL) about 0.14-0.38 at the default 0.25, which includes Rittenhouse et al. 2004's PPV of
# 35%, and of P(leave | no ITL) about 0.035-0.14 at the default 0.08: the derivation is not a published
# figure, and organisations differ.
CONVERSION_CONCENTRATION: dict[str, float] = {assumptions.P_LEAVE_ITL: 50.0, assumptions.P_LEAVE_NO_ITL: 100.0}


def conversion_draws(a: float, b: float, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`size` draws of (P(leave | ITL), P(leave | no ITL)) from Beta priors with means `a` and `b`."""

    def draw(mean: float, key: str) -> np.ndarray:
        if not 0.0 < mean < 1.0:
            return np.full(size, mean)
        kappa = CONVERSION_CONCENTRATION[key]
        return rng.beta(mean * kappa, (1 - mean) * kappa, size)

    return draw(a, assumptions.P_LEAVE_ITL), draw(b, assumptions.P_LEAVE_NO_ITL)


# Cells with fewer respondents than this are resampled respondent by respondent; in larger cells the
# mean of the resampled respondents' probabilities is drawn from its normal approximation.
EXACT_CELL = 200
P_CHUNK = 10  # coefficient draws whose per-respondent probabilities are held at once


def poisson_replicates(
    design: _Design,
    betas: np.ndarray,
    codes: np.ndarray,
    n_cells: int,
    resamples: int,
    rng: np.random.Generator,
    exact_below: int = EXACT_CELL,
) -> tuple[np.ndarray, np.ndarray]:
    """The Poisson bootstrap of the cells' predicted ITL, drawn per cell: (sums, weights), each
    (resamples, n_cells), replicate j holding sum_i w_i p_i and sum_i w_i over each cell's respondents,
    with w_i iid Poisson(1) and p_i from coefficient draw `betas[j % len(betas)]`.

    Per cell c of n_c respondents this is drawn without a weight per respondent, in the same
    distribution: the total weight W = sum_i w_i is Poisson(n_c) (a sum of independent Poissons),
    and given W the weights are a multinomial sample of W respondents drawn with replacement, so
    sum_i w_i p_i is the sum of W draws from the cell's p values. Cells of fewer than `exact_below`
    respondents draw those W respondents; in larger cells that sum is W * mean + sqrt(W) * sd * Z
    (mean and population SD of the cell's p, Z standard normal: the central limit theorem for a
    mean of about `exact_below` or more draws of values in (0, 1)). Its mean and variance are
    exactly the per-respondent bootstrap's, sum p and sum p^2, and W is exact in every cell."""
    counts = np.bincount(codes, minlength=n_cells)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = np.flatnonzero(counts > 0)
    n = np.maximum(counts, 1).astype("float64")
    R = len(betas)
    W = rng.poisson(counts.astype("float64"), size=(resamples, n_cells)).astype("float64")
    Z = rng.standard_normal((resamples, n_cells))
    small = np.flatnonzero((counts > 0) & (counts < exact_below))
    sums = np.empty((resamples, n_cells))
    for first in range(0, R, P_CHUNK):
        chunk = betas[first : first + P_CHUNK]
        P = expit(design.dot(chunk.T))[order]  # (respondents grouped by cell, draws in the chunk)
        total = np.zeros((n_cells, len(chunk)))
        total_sq = np.zeros((n_cells, len(chunk)))
        if len(present):
            total[present] = np.add.reduceat(P, starts[present], axis=0)
            total_sq[present] = np.add.reduceat(P * P, starts[present], axis=0)
        mean = total / n[:, None]
        sd = np.sqrt(np.clip(total_sq / n[:, None] - mean**2, 0.0, None))
        for offset in range(len(chunk)):
            reps = np.arange(first + offset, resamples, R)
            if not len(reps):
                continue
            w = W[reps]
            sums[reps] = w * mean[:, offset] + np.sqrt(w) * sd[:, offset] * Z[reps]
            if len(small):
                draws = w[:, small].astype("int64").ravel()  # replicate-major, then cell
                slot = np.repeat(np.arange(draws.size), draws)
                cell = small[slot % len(small)]
                picked = starts[cell] + np.floor(rng.random(slot.size) * counts[cell]).astype("int64")
                exact = np.bincount(slot, weights=P[picked, offset], minlength=draws.size)
                sums[np.ix_(reps, small)] = exact.reshape(len(reps), len(small))
    return sums, W


def _wave_risk(
    df: pd.DataFrame,
    roster: pd.DataFrame | None,
    values: dict[str, Any],
    levels: Sequence[str],
    model: FittedModel,
    resamples: int,
    seed: int,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 2)
    a, b = float(values[assumptions.P_LEAVE_ITL]), float(values[assumptions.P_LEAVE_NO_ITL])
    # the conversion assumptions' own uncertainty: one draw of each per replicate
    a_rep, b_rep = conversion_draws(a, b, resamples, rng)
    costs = role_costs(values)
    codes, cells = cell_codes(df, CELL)
    n_cells = len(cells)
    counts = np.bincount(codes, minlength=n_cells).astype("float64")
    answered = np.bincount(codes, weights=df["itl"].notna().to_numpy(dtype="float64"), minlength=n_cells)
    design = _Design(model.spec, df)
    p_hat = expit(design.dot(model.beta))
    point_sum = np.bincount(codes, weights=p_hat, minlength=n_cells)

    # Bootstrap: replicate j uses coefficient draw j % R and fresh Poisson(1) weights on respondents.
    betas = model.refit_betas if len(model.refit_betas) else model.beta[None, :]
    sums, wsum = poisson_replicates(design, betas, codes, n_cells, resamples, rng)
    point_p = point_sum / counts
    rep_p = np.where(wsum > 0, sums / np.where(wsum > 0, wsum, 1), point_p)

    # Headcount and cost per cell; roster-only cells get their role's organisation-wide risk.
    cells = cells.copy()
    cell_role = cells["role"].to_numpy(dtype=object)
    if roster is not None and len(roster):
        ro = roster.copy()
        keys = ["site", "department", "role"]
        cells_n = pd.DataFrame({k: _norm(cells[k]) for k in keys})
        ro_n = pd.DataFrame({k: _norm(ro[k]) for k in keys})
        ro_n["headcount"] = ro["headcount"].to_numpy()
        ro_n["replacement_cost"] = ro["replacement_cost"].to_numpy()
        merged = cells_n.reset_index().merge(ro_n, on=keys, how="left").set_index("index").sort_index()
        hc = merged["headcount"].fillna(0.0).to_numpy(dtype="float64")
        cell_cost = merged["replacement_cost"].to_numpy(dtype="float64")
        extra = ro_n.merge(cells_n.drop_duplicates(), on=keys, how="left", indicator=True)
        extra = extra[extra["_merge"] == "left_only"]
        # map normalised keys back to a display label (roster spelling)
        extra_display = ro.loc[extra.index, keys] if len(extra) else ro.iloc[0:0][keys]
        headcount_source = "roster"
    else:
        hc = counts.copy()
        cell_cost = np.full(n_cells, np.nan)
        extra = None
        extra_display = None
        headcount_source = "respondents"
    cell_cost = np.where(np.isnan(cell_cost), [costs.get(r, np.nan) for r in cell_role], cell_cost)

    org_p_point = point_sum.sum() / counts.sum()
    org_p_rep = sums.sum(axis=1) / np.maximum(wsum.sum(axis=1), 1e-12)

    def role_p(role: str, point: bool) -> np.ndarray | float:
        mask = cell_role == role
        if not mask.any():
            return org_p_point if point else org_p_rep
        if point:
            return point_sum[mask].sum() / counts[mask].sum()
        return sums[:, mask].sum(axis=1) / np.maximum(wsum[:, mask].sum(axis=1), 1e-12)

    def departures(p: np.ndarray, h: np.ndarray, a: Any = a, b: Any = b) -> np.ndarray:
        return h * (p * a + (1 - p) * b)

    cell_ed_point = departures(point_p, hc)
    cell_ed_rep = departures(rep_p, hc, a_rep[:, None], b_rep[:, None])
    cell_ed_sampling = departures(rep_p, hc)  # the conversion fixed at its set values
    # roster-only cells, attached to units by their site/department/role labels
    extra_rows = []
    if extra is not None and len(extra):
        for (_, row), (_, disp) in zip(extra.iterrows(), extra_display.iterrows(), strict=True):
            role = disp["role"]
            cost = row["replacement_cost"]
            cost = costs.get(role, np.nan) if cost is None or cost != cost else float(cost)
            pp, pr = role_p(role, True), role_p(role, False)
            extra_rows.append(
                (
                    disp,
                    float(row["headcount"]),
                    cost,
                    departures(pp, row["headcount"]),
                    departures(pr, row["headcount"], a_rep, b_rep),
                    departures(pr, row["headcount"]),
                )
            )

    out = []
    for level in levels:
        dims = LEVELS[level]
        unit_of_cell, units = _membership(cells, dims)
        n_units = len(units)
        M = np.zeros((n_cells, n_units))
        M[np.arange(n_cells), unit_of_cell] = 1.0
        n_u = counts @ M
        ed_point = cell_ed_point @ M
        ed_rep = cell_ed_rep @ M
        ed_sampling = cell_ed_sampling @ M
        cost_point = (cell_ed_point * cell_cost) @ M
        cost_rep = (cell_ed_rep * cell_cost) @ M
        hc_u = hc @ M
        for disp, h, cost, edp, edr, eds in extra_rows:
            match = np.ones(n_units, dtype=bool)
            for d in dims:
                key = str(disp[d]).strip().casefold()
                match &= _norm(units[d]).to_numpy(dtype=object) == key
            if match.any():
                hc_u = hc_u + match * h
                ed_point = ed_point + match * edp
                ed_rep = ed_rep + np.outer(edr, match)
                ed_sampling = ed_sampling + np.outer(eds, match)
                cost_point = cost_point + match * edp * cost
                cost_rep = cost_rep + np.outer(edr * cost, match)
        risk_point = (point_sum @ M) / n_u
        risk_rep = (sums @ M) / np.maximum(wsum @ M, 1e-12)
        frame = pd.DataFrame(
            {
                "level": level,
                "n": n_u.astype("int64"),
                "n_itl_answered": (answered @ M).astype("int64"),
                "predicted_itl_rate": risk_point,
                "predicted_itl_rate_lo": np.percentile(risk_rep, 2.5, axis=0),
                "predicted_itl_rate_hi": np.percentile(risk_rep, 97.5, axis=0),
                "headcount": hc_u,
                "headcount_source": headcount_source,
                "expected_departures": ed_point,
                "expected_departures_lo": np.percentile(ed_rep, 2.5, axis=0),
                "expected_departures_hi": np.percentile(ed_rep, 97.5, axis=0),
                "expected_departures_sampling_lo": np.percentile(ed_sampling, 2.5, axis=0),
                "expected_departures_sampling_hi": np.percentile(ed_sampling, 97.5, axis=0),
                "cost_exposure": cost_point,
                "cost_exposure_lo": np.percentile(cost_rep, 2.5, axis=0),
                "cost_exposure_hi": np.percentile(cost_rep, 97.5, axis=0),
            }
        )
        for d in CELL:
            frame[d] = units[d].to_numpy(dtype=object) if d in dims else None
        out.append(frame)
    result = pd.concat(out, ignore_index=True)
    result = result[result["n"] >= 1]
    return result


RISK_COLUMNS: tuple[str, ...] = (
    *UNIT_COLUMNS,
    "n_itl_answered",
    "predicted_itl_rate",
    "predicted_itl_rate_lo",
    "predicted_itl_rate_hi",
    "headcount",
    "headcount_source",
    "expected_departures",
    "expected_departures_lo",
    "expected_departures_hi",
    "expected_departures_sampling_lo",
    "expected_departures_sampling_hi",
    "cost_exposure",
    "cost_exposure_lo",
    "cost_exposure_hi",
)


def waves(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute("select distinct coalesce(wave, '') from responses order by 1").fetchall()]


def _filter_units(frame: pd.DataFrame, site: str | None, department: str | None, role: str | None) -> pd.DataFrame:
    """Keep the unit rows inside a site/department/role filter (rows that fix those dimensions)."""
    for col, value in (("site", site), ("department", department), ("role", role)):
        if value is not None:
            frame = frame[frame[col].astype(object) == value]
    return frame


@dataclass
class RiskResult:
    units: pd.DataFrame
    diagnostics: pd.DataFrame
    coefficients: dict[str, pd.DataFrame]


def compute_risk(
    con: duckdb.DuckDBPyConnection,
    *,
    wave: str | None = None,
    levels: Sequence[str] = tuple(LEVELS),
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
    values: dict[str, Any] | None = None,
    resamples: int = RESAMPLES,
    refits: int = REFITS,
    diagnostics: bool = True,
    seed: int = 0,
    fitted: dict[tuple[str, int], FittedModel] | None = None,
) -> RiskResult:
    """Unit risk, expected departures and cost exposure for one wave (or every wave when None),
    with the model's cross-validated diagnostics per wave.

    `fitted`: models fitted earlier on the same connection, by (wave, seed), read and filled in: a
    wave's temporal validation scores the previous wave's model, which is that wave's own fit (the
    same respondents and seed give the same coefficients), so a build going through the waves in
    order fits each model once."""
    unknown = set(levels) - set(LEVELS)
    if unknown:
        raise ValueError(f"Unknown levels {sorted(unknown)}; choose from {list(LEVELS)}.")
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads only contend
        return _compute_risk(
            con, wave, levels, site, department, role, values, resamples, refits, diagnostics, seed, fitted
        )


def _compute_risk(
    con: duckdb.DuckDBPyConnection,
    wave: str | None,
    levels: Sequence[str],
    site: str | None,
    department: str | None,
    role: str | None,
    values: dict[str, Any] | None,
    resamples: int,
    refits: int,
    diagnostics: bool,
    seed: int,
    fitted: dict[tuple[str, int], FittedModel] | None = None,
) -> RiskResult:
    values = values or assumptions.values(con)
    all_waves = waves(con)
    wave_list = [wave] if wave is not None else all_waves
    units, diags, coefs = [], [], {}
    for w in wave_list:
        # unit and category columns as categoricals: the folds' and the bootstrap's model matrices
        # read their codes instead of hashing text again for every subset
        df = load_respondents(con, wave=w, categorical=True)
        if df.empty:
            continue
        before = [v for v in all_waves if v < w]
        temporal: dict[str, Any] = {}
        if diagnostics and before:  # last wave's model on this wave, before this wave is refitted
            known = (fitted or {}).get((before[-1], seed))
            temporal = temporal_validation(
                None if known else load_respondents(con, wave=before[-1], categorical=True),
                df,
                previous_wave=before[-1],
                wave=w,
                seed=seed,
                model=known,
            )
        try:
            model = fit_model(df, refits=refits, seed=seed)
        except ValueError as exc:  # a tiny or uniform wave: no model, nothing released for it
            if diagnostics:
                diags.append({"wave": w, "model": "intent_to_leave", "n_respondents": len(df), "verdict": str(exc)})
            continue
        if fitted is not None:
            fitted[(w, seed)] = model
        coefs[w] = model.coefficients()
        roster = load_roster(con, w or None)
        frame = _wave_risk(df, roster, values, levels, model, resamples, seed)
        frame["wave"] = w
        units.append(_filter_units(frame, site, department, role))
        if diagnostics:
            d = cross_validate(df, seed=seed, model=model)
            diags.append(
                {
                    "wave": w,
                    "model": "intent_to_leave",
                    "n_respondents": len(df),
                    "n_fit": d["n_fit"],
                    "n_events": d["n_events"],
                    "auroc": d["auroc"],
                    "auroc_sd": d["auroc_sd"],
                    "observed_expected": d["observed_expected"],
                    "calibration_slope": d["calibration_slope"],
                    "verdict": d["verdict"],
                    "calibration_curve": json.dumps(d["curve"]),
                    "method": json.dumps(
                        {
                            **model.method,
                            "folds": d["folds"],
                            "calibration": "out-of-fold (5-fold cross-validation) on this wave",
                            "fold_fits": "each fold's empirical-Bayes iterations start at the wave model's "
                            "between-unit variances (the same fixed point, fewer steps)",
                            "resamples": resamples,
                            "resampling": "Poisson(1) weights on respondents, drawn per site x department x role "
                            f"cell: exact below {EXACT_CELL} respondents, the cell mean's normal approximation above",
                            "conversion_priors": {
                                key: {"mean": float(values[key]), "concentration": kappa}
                                for key, kappa in CONVERSION_CONCENTRATION.items()
                            },
                            "drift_rule": {"observed_expected": DRIFT_OE, "calibration_slope": DRIFT_SLOPE},
                        }
                    ),
                    **temporal,
                }
            )
    frame = pd.concat(units, ignore_index=True) if units else pd.DataFrame(columns=list(RISK_COLUMNS))
    frame = frame[list(RISK_COLUMNS)].reset_index(drop=True)
    return RiskResult(frame, pd.DataFrame(diags, columns=list(DIAGNOSTIC_COLUMNS)), coefs)


DIAGNOSTIC_COLUMNS: tuple[str, ...] = (
    "wave",
    "model",
    "n_respondents",
    "n_fit",
    "n_events",
    "auroc",
    "auroc_sd",
    "observed_expected",
    "calibration_slope",
    "verdict",
    "calibration_curve",
    "method",
    # last wave's model scored on this wave (migration 005)
    "previous_wave",
    "previous_auroc",
    "previous_observed_expected",
    "previous_calibration_slope",
    "drift",
    "drift_warning",
)


def unit_risk(con: duckdb.DuckDBPyConnection, **kwargs: Any) -> pd.DataFrame:
    """Unit-level risk table only (see `compute_risk` for the arguments)."""
    kwargs.setdefault("diagnostics", False)
    return compute_risk(con, **kwargs).units


def store_diagnostics(con: duckdb.DuckDBPyConnection, diagnostics: pd.DataFrame) -> None:
    """Replace the stored diagnostics of the waves and models in `diagnostics`."""
    for row in diagnostics.itertuples(index=False):
        con.execute("delete from model_diagnostics where wave = ? and model = ?", [row.wave, row.model])
        con.execute(
            f"insert into model_diagnostics ({', '.join(DIAGNOSTIC_COLUMNS)}, built_at) "
            f"values ({', '.join('?' * len(DIAGNOSTIC_COLUMNS))}, current_timestamp)",
            [None if (isinstance(v, float) and np.isnan(v)) or v is pd.NA else v for v in row],
        )


def read_diagnostics(con: duckdb.DuckDBPyConnection, wave: str | None = None) -> pd.DataFrame:
    where, params = ("where wave = ?", [wave]) if wave is not None else ("", [])
    return con.execute(f"select * from model_diagnostics {where} order by wave, model", params).df()
