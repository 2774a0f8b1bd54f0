"""Attrition risk: a calibrated logistic model of intent to leave, turned into unit risk, expected
departures and replacement-cost exposure (METHODS.md, "Attrition risk").

Model: logistic regression of ITL (intent_to_leave >= contract.ITL_THRESHOLD) on the drivers plus role,
site and tenure band, fitted per wave on the respondents who answered intent to leave (randomly
subsampled to `max_fit_rows` for speed; the model has a few dozen parameters, so 30,000 rows pin them
down). Missing predictors are imputed for modelling only (median/mode plus a missing indicator).

Unit risk is the mean predicted probability over the unit's respondents (marginal standardisation).
Expected two-year departures = headcount x [p * P(leave | ITL) + (1 - p) * P(leave | no ITL)], computed
per site x department x role cell and summed, so roster headcount and roster replacement costs apply
cell by cell. Without a roster, respondents stand in for headcount (`headcount_source`).

Intervals (95%, percentile bootstrap): `refits` refits of the model on bootstrap resamples of the
fitting rows (m-out-of-n with m <= `refit_rows`, rescaled by sqrt(m/n) around the full fit so the
spread matches n rows) combined with `resamples` Poisson(1) resamples of respondents, each re-predicted
with one of the refits. So both the model's uncertainty and which respondents happened to answer are
reflected.

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
    ADJUSTMENT,
    DRIVERS,
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
REFITS = 40
REFIT_ROWS = 5_000
RESAMPLES = 200
CV_FOLDS = 5


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

    def coefficients(self) -> pd.DataFrame:
        """Log-odds per SD (numbers) or versus the reference level (categories), with bootstrap SD."""
        sd = self.refit_betas.std(axis=0) if len(self.refit_betas) > 1 else np.full(len(self.beta), np.nan)
        return pd.DataFrame({"term": self.spec.columns, "log_odds": self.beta, "bootstrap_sd": sd})

    def _predict(self, df: pd.DataFrame, beta: np.ndarray | None = None) -> np.ndarray:
        """Private: per-respondent probabilities, used only to form aggregates inside the pipeline."""
        return expit(self.spec.transform(df) @ (self.beta if beta is None else beta))


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve; sklearn is imported on first use, not when a page imports this module."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def fit_model(
    df: pd.DataFrame,
    *,
    include_burnout: bool = True,
    max_fit_rows: int = MAX_FIT_ROWS,
    refits: int = REFITS,
    refit_rows: int = REFIT_ROWS,
    seed: int = 0,
) -> FittedModel:
    """Fit the ITL model on respondents who answered intent to leave (see module docstring)."""
    rng = np.random.default_rng(seed)
    train = df[df["itl"].notna()]
    if len(train) > max_fit_rows:
        train = train.iloc[np.sort(rng.choice(len(train), max_fit_rows, replace=False))]
    y = train["itl"].to_numpy(dtype="float64")
    if len(train) < 10 or y.min() == y.max():
        raise ValueError("Too few answers to intent to leave (or no variation) to fit a risk model.")
    drivers = tuple(d for d in DRIVERS if include_burnout or d != "burnout_level")
    spec = DesignSpec.fit(train, drivers, ADJUSTMENT)
    X = spec.transform(train)
    beta = fit_logit(X, y)
    n = len(train)
    m = min(n, refit_rows)
    betas = []
    for _ in range(refits):
        idx = rng.integers(0, n, m)
        b = fit_logit(X[idx], y[idx], beta0=beta, max_iter=8, tol=1e-5)
        betas.append(beta + np.sqrt(m / n) * (b - beta))
    method = {
        "fit_rows": n,
        "refits": refits,
        "refit_rows": m,
        "include_burnout": include_burnout,
        "estimator": "logistic regression (IRLS, ridge 1 on standardised drivers)",
    }
    return FittedModel(spec, beta, np.array(betas).reshape(refits, len(beta)), n, int(y.sum()), drivers, method)


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
) -> dict[str, Any]:
    """5-fold cross-validated AUROC, observed/expected, calibration slope and a calibration curve.

    All numbers are computed on held-out folds. The curve has up to 10 equal-size bins of predicted
    risk, never fewer than `min_bin` respondents each.
    """
    rng = np.random.default_rng(seed + 1)
    train = df[df["itl"].notna()]
    if len(train) > max_fit_rows:
        train = train.iloc[np.sort(rng.choice(len(train), max_fit_rows, replace=False))]
    n = len(train)
    y = train["itl"].to_numpy(dtype="float64")
    out: dict[str, Any] = {"n_fit": n, "n_events": int(y.sum()), "folds": folds}
    nan = float("nan")
    if n < 2 * folds or y.min() == y.max():
        out.update(auroc=nan, auroc_sd=nan, observed_expected=nan, calibration_slope=nan, curve=[])
        out["verdict"] = calibration_verdict(nan, nan, nan)
        return out
    drivers = tuple(d for d in DRIVERS if include_burnout or d != "burnout_level")
    fold = rng.permutation(np.arange(n) % folds)
    oof = np.empty(n)
    aucs = []
    for f in range(folds):
        test = fold == f
        spec = DesignSpec.fit(train[~test], drivers, ADJUSTMENT)
        beta = fit_logit(spec.transform(train[~test]), y[~test])
        oof[test] = expit(spec.transform(train[test]) @ beta)
        if 0 < y[test].sum() < test.sum():
            aucs.append(_auroc(y[test], oof[test]))
    p = np.clip(oof, 1e-6, 1 - 1e-6)
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
    oe = float(y.sum() / p.sum())
    auroc = float(np.mean(aucs)) if aucs else nan
    out.update(
        auroc=auroc,
        auroc_sd=float(np.std(aucs)) if aucs else nan,
        observed_expected=oe,
        calibration_slope=float(slope_fit[1]),
        curve=curve,
    )
    out["verdict"] = calibration_verdict(oe, out["calibration_slope"], auroc)
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
    costs = role_costs(values)
    codes, cells = cell_codes(df, CELL)
    n_cells = len(cells)
    counts = np.bincount(codes, minlength=n_cells).astype("float64")
    answered = np.bincount(codes, weights=df["itl"].notna().to_numpy(dtype="float64"), minlength=n_cells)
    X = model.spec.transform(df)
    p_hat = expit(X @ model.beta)
    point_sum = np.bincount(codes, weights=p_hat, minlength=n_cells)

    # Bootstrap: replicate j uses refit j % R and fresh Poisson(1) weights on respondents.
    R = max(len(model.refit_betas), 1)
    sums = np.empty((resamples, n_cells))
    wsum = np.empty((resamples, n_cells))
    for r in range(R):
        reps = range(r, resamples, R)
        if not len(reps):
            continue
        beta = model.refit_betas[r] if len(model.refit_betas) else model.beta
        p_r = expit(X @ beta)
        for j in reps:
            w = rng.poisson(1.0, len(df)).astype("float64")
            sums[j] = np.bincount(codes, weights=w * p_r, minlength=n_cells)
            wsum[j] = np.bincount(codes, weights=w, minlength=n_cells)
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

    def departures(p: np.ndarray, h: np.ndarray) -> np.ndarray:
        return h * (p * a + (1 - p) * b)

    cell_ed_point = departures(point_p, hc)
    cell_ed_rep = departures(rep_p, hc)
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
        cost_point = (cell_ed_point * cell_cost) @ M
        cost_rep = (cell_ed_rep * cell_cost) @ M
        hc_u = hc @ M
        for disp, h, cost, edp, edr in extra_rows:
            match = np.ones(n_units, dtype=bool)
            for d in dims:
                key = str(disp[d]).strip().casefold()
                match &= _norm(units[d]).to_numpy(dtype=object) == key
            if match.any():
                hc_u = hc_u + match * h
                ed_point = ed_point + match * edp
                ed_rep = ed_rep + np.outer(edr, match)
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
) -> RiskResult:
    """Unit risk, expected departures and cost exposure for one wave (or every wave when None),
    with the model's cross-validated diagnostics per wave."""
    unknown = set(levels) - set(LEVELS)
    if unknown:
        raise ValueError(f"Unknown levels {sorted(unknown)}; choose from {list(LEVELS)}.")
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices: BLAS threads only contend
        return _compute_risk(con, wave, levels, site, department, role, values, resamples, refits, diagnostics, seed)


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
) -> RiskResult:
    values = values or assumptions.values(con)
    wave_list = [wave] if wave is not None else waves(con)
    units, diags, coefs = [], [], {}
    for w in wave_list:
        df = load_respondents(con, wave=w)
        if df.empty:
            continue
        try:
            model = fit_model(df, refits=refits, seed=seed)
        except ValueError as exc:  # a tiny or uniform wave: no model, nothing released for it
            if diagnostics:
                diags.append({"wave": w, "model": "intent_to_leave", "n_respondents": len(df), "verdict": str(exc)})
            continue
        coefs[w] = model.coefficients()
        roster = load_roster(con, w or None)
        frame = _wave_risk(df, roster, values, levels, model, resamples, seed)
        frame["wave"] = w
        units.append(_filter_units(frame, site, department, role))
        if diagnostics:
            d = cross_validate(df, seed=seed)
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
                    "method": json.dumps({**model.method, "folds": d["folds"], "resamples": resamples}),
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
            [None if isinstance(v, float) and np.isnan(v) else v for v in row],
        )


def read_diagnostics(con: duckdb.DuckDBPyConnection, wave: str | None = None) -> pd.DataFrame:
    where, params = ("where wave = ?", [wave]) if wave is not None else ("", [])
    return con.execute(f"select * from model_diagnostics {where} order by wave, model", params).df()
