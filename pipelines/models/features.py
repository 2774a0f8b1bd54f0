"""Respondent-level design matrices for the models, read from `responses`, and the logistic fitter.

Everything here stays inside the pipeline: frames hold one row per respondent and are used only to
fit models and form unit aggregates. Missing predictor values are imputed for modelling only
(median for numbers, mode for categories, plus a missing indicator); stored data are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from pipelines import contract

NUMERIC_DRIVERS: tuple[str, ...] = (
    "ehr_after_hours_per_week",
    "inbox_messages_per_day",
    "call_nights_per_month",
    "clinical_fte",
)
# burnout_level first, then the other 1-5 items, then the work-pattern measures.
DRIVERS: tuple[str, ...] = (
    "burnout_level",
    *(n for n in contract.ITEM_NAMES if n != "burnout_level"),
    *NUMERIC_DRIVERS,
)
ADJUSTMENT: tuple[str, ...] = ("role", "site", "tenure_band")
# The attrition-risk model: satisfaction is left out (too close to the outcome to be a predictor: it is a
# consequence of the same experience as intent to leave), and site and department enter as unit terms
# shrunk toward the organisation (random intercepts; see risk.py) instead of as fixed site dummies.
RISK_DRIVERS: tuple[str, ...] = tuple(d for d in DRIVERS if d != "satisfaction")
RISK_ADJUSTMENT: tuple[str, ...] = ("role", "tenure_band")
UNIT_TERMS: dict[str, tuple[str, ...]] = {"site": ("site",), "department": ("site", "department")}
DIMENSIONS: tuple[str, ...] = ("wave", *contract.DIMENSIONS)
OUTCOME = "itl"


def _scope_sql(wave: str | None, site: str | None, department: str | None, role: str | None) -> tuple[str, list]:
    clauses, params = [], []
    for column, value in (("coalesce(wave, '')", wave), ("site", site), ("department", department), ("role", role)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (" where " + " and ".join(clauses)) if clauses else "", params


def load_respondents(
    con: duckdb.DuckDBPyConnection,
    *,
    wave: str | None = None,
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
    reasons: Sequence[str] = (),
    categorical: bool = False,
) -> pd.DataFrame:
    """One row per respondent in scope: dimensions, tenure band, drivers, ITL and intentions.

    `itl` is 1.0/0.0 (NaN when intent_to_leave is missing). `reasons` adds a boolean column
    `reason_<code>` per requested leave reason. Text columns are objects with None for missing, or
    with `categorical` pandas categoricals (the same values; cheaper to read and to group for the
    models' many subsets). Internal to the pipeline: never released.
    """
    unknown = set(reasons) - set(contract.LEAVE_REASONS)
    if unknown:
        raise ValueError(f"Unknown leave reasons: {sorted(unknown)}")
    where, params = _scope_sql(wave, site, department, role)
    reason_cols = "".join(
        f", coalesce(list_contains(leave_reasons, '{r}'), false) as reason_{r}" for r in reasons
    )  # r comes from the contract's allow-list above, never from user text
    sql = f"""
        select coalesce(wave, '') as wave, site, department, role, tenure_band,
               {", ".join(f"{d}::DOUBLE as {d}" for d in DRIVERS)},
               case when intent_to_leave is null then null
                    when intent_to_leave >= {int(contract.ITL_THRESHOLD)} then 1.0 else 0.0 end as itl,
               intent_to_reduce_fte, leave_path{reason_cols}
        from responses{where}
    """
    df = con.execute(sql, params).df()
    for col in DRIVERS:
        df[col] = df[col].astype("float64")
    df["itl"] = df["itl"].astype("float64")
    text = ("wave", "site", "department", "role", "tenure_band", "leave_path")
    if categorical:
        return df.astype(dict.fromkeys(text, "category"))
    for col in text:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


@dataclass
class DesignSpec:
    """How to turn respondent rows into a model matrix: learned on the fitting data, reused to predict."""

    numeric: list[str]
    categorical: list[str]
    medians: dict[str, float] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    sds: dict[str, float] = field(default_factory=dict)
    indicators: list[str] = field(default_factory=list)
    levels: dict[str, list[str]] = field(default_factory=dict)  # non-reference levels
    modes: dict[str, str] = field(default_factory=dict)
    cat_indicators: list[str] = field(default_factory=list)
    observed_range: dict[str, tuple[float, float]] = field(default_factory=dict)
    # unit terms: name -> the columns whose combination is the unit; every seen unit gets its own
    # column (no reference level), meant to be penalised as a random intercept. An unseen or
    # incomplete unit gets no column set, i.e. the organisation's average.
    random: dict[str, tuple[str, ...]] = field(default_factory=dict)
    random_levels: dict[str, list[str]] = field(default_factory=dict)

    @staticmethod
    def unit_keys(df: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
        """One text key per row for the combination of `columns` (None when any part is missing)."""
        missing = np.zeros(len(df), dtype=bool)
        keys = None
        for c in columns:
            part = df[c].astype(object)
            missing |= part.isna().to_numpy()
            text = part.astype(str)
            keys = text if keys is None else keys + "\x1f" + text
        out = keys.to_numpy(dtype=object) if keys is not None else np.full(len(df), "", dtype=object)
        return np.where(missing, None, out)

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str] = (),
        random: dict[str, tuple[str, ...]] | None = None,
    ) -> DesignSpec:
        spec = cls(numeric=[], categorical=[])
        for col in numeric:
            values = df[col].to_numpy(dtype="float64")
            seen = values[~np.isnan(values)]
            if seen.size == 0:
                continue  # never answered here: nothing to learn from
            median = float(np.median(seen))
            filled = np.where(np.isnan(values), median, values)
            sd = float(filled.std())
            missing = seen.size < values.size
            if sd == 0 and not missing:
                continue  # constant: no information
            spec.numeric.append(col)
            spec.medians[col] = median
            spec.means[col] = float(filled.mean())
            spec.sds[col] = sd if sd > 0 else 1.0
            spec.observed_range[col] = (float(seen.min()), float(seen.max()))
            if missing:
                spec.indicators.append(col)
        for col in categorical:
            counts = df[col].dropna().value_counts()
            counts = counts[counts > 0]  # a categorical column lists unused categories too
            if counts.empty:
                continue
            ordered = sorted(counts.index, key=lambda v: (-counts[v], str(v)))
            spec.modes[col] = ordered[0]
            rest = sorted(ordered[1:], key=str)
            has_missing = bool(df[col].isna().any())
            if not rest and not has_missing:
                continue
            spec.categorical.append(col)
            spec.levels[col] = rest
            if has_missing:
                spec.cat_indicators.append(col)
        for name, cols in (random or {}).items():
            _, keys = _combinations(df, cols)
            seen = sorted({k for k in keys if k is not None})
            if len(seen) >= 2:
                spec.random[name] = tuple(cols)
                spec.random_levels[name] = seen
        return spec

    @property
    def columns(self) -> list[str]:
        out = ["(intercept)", *self.numeric, *(f"{c} missing" for c in self.indicators)]
        for col in self.categorical:
            out += [f"{col}={lev}" for lev in self.levels[col]]
        out += [f"{c} missing" for c in self.cat_indicators]
        for name in self.random:
            out += [f"unit:{name}={lev}" for lev in self.random_levels[name]]
        return out

    def random_indices(self) -> dict[str, np.ndarray]:
        """Unit term name -> indices of its columns in the model matrix."""
        names = self.columns
        return {
            name: np.array([i for i, c in enumerate(names) if c.startswith(f"unit:{name}=")], dtype=int)
            for name in self.random
        }

    def column_groups(self) -> dict[str, list[int]]:
        """Source variable -> indices of its model columns (value and missing indicator)."""
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.columns):
            if name == "(intercept)":
                continue
            source = name.split("=")[0].removesuffix(" missing")
            groups.setdefault(source, []).append(i)
        return groups

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        """Model matrix (intercept first; numbers imputed and standardised; categories one-hot)."""
        dense, codes = self.transform_parts(df)
        n = len(df)
        blocks = [dense]
        for name in self.random:
            onehot = np.zeros((n, len(self.random_levels[name])))
            hit = codes[name] >= 0
            onehot[np.flatnonzero(hit), codes[name][hit]] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks)

    @property
    def n_dense(self) -> int:
        """Number of model columns before the unit terms' one-hot columns."""
        return len(self.columns) - sum(len(v) for v in self.random_levels.values())

    def unit_codes(self, df: pd.DataFrame, name: str) -> np.ndarray:
        """Per row, the index of its unit among `random_levels[name]` (-1: an unseen or incomplete unit,
        i.e. no column set). The text key is built once per distinct combination, not per row."""
        cols = self.random[name]
        if not all(c in df for c in cols):
            return np.full(len(df), -1, dtype=np.int64)
        inverse, keys = _combinations(df, cols)
        return pd.Index(self.random_levels[name], dtype=object).get_indexer(keys)[inverse]

    def transform_parts(self, df: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The model matrix in two parts: its first `n_dense` columns (intercept, numbers, indicators,
        categories), and per unit term the column each row has set (`unit_codes`). `transform` is the
        dense part followed by those one-hot columns."""
        n = len(df)
        width = self.n_dense
        dense = np.empty((n, width), order="F")  # filled column by column
        dense[:, 0] = 1.0
        j = 1
        for col in self.numeric:
            v = df[col].to_numpy(dtype="float64") if col in df else np.full(n, np.nan)
            v = np.where(np.isnan(v), self.medians[col], v)
            dense[:, j] = (v - self.means[col]) / self.sds[col]
            j += 1
        for col in self.indicators:
            v = df[col].to_numpy(dtype="float64") if col in df else np.full(n, np.nan)
            dense[:, j] = np.isnan(v)
            j += 1
        for col in self.categorical:
            levels_ = self.levels[col]
            if levels_:
                # a missing value takes the mode (usually the reference level: no column set)
                index = pd.Index(levels_, dtype=object)
                values, uniques = pd.factorize(df[col], use_na_sentinel=True)  # fast on a categorical
                level_of = np.append(index.get_indexer(uniques), index.get_indexer([self.modes[col]]))
                codes = level_of[values]  # values == -1 (missing) picks the mode's entry
                block = dense[:, j : j + len(levels_)]
                block[:] = 0.0
                hit = codes >= 0
                block[np.flatnonzero(hit), codes[hit]] = 1.0
                j += len(levels_)
        for col in self.cat_indicators:
            dense[:, j] = pd.isna(df[col].to_numpy(dtype=object))
            j += 1
        assert j == width
        return dense, {name: self.unit_codes(df, name) for name in self.random}


def _combinations(df: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(inverse, keys): the distinct combinations of `columns` with `DesignSpec.unit_keys`'s text key
    each (None when a part is missing), and per row the index of its combination."""
    n = len(df)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.empty(0, dtype=object)
    combined = np.zeros(n, dtype=np.int64)
    for c in columns:
        codes, uniques = pd.factorize(df[c], use_na_sentinel=True)
        combined = combined * (len(uniques) + 1) + (codes + 1)  # 0: missing
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    keys = DesignSpec.unit_keys(df.iloc[first], columns)
    return inverse.reshape(-1), keys


def expit(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def log_likelihood(X: np.ndarray, y: np.ndarray, beta: np.ndarray, w: np.ndarray | None = None) -> float:
    eta = X @ beta
    ll = y * eta - np.logaddexp(0.0, eta)
    return float(ll.sum() if w is None else (w * ll).sum())


def fit_logit(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None = None,
    *,
    ridge: float = 1.0,
    max_iter: int = 30,
    tol: float = 1e-7,
    beta0: np.ndarray | None = None,
    penalty: np.ndarray | None = None,
) -> np.ndarray:
    """Logistic regression by Newton-Raphson (IRLS) with a weak ridge on all but the intercept.

    The ridge (lambda=1 on standardised columns, i.e. a N(0, 1) prior on each log-odds ratio per SD)
    only matters in small units, where it keeps fits finite under complete separation. `penalty`
    (one value per column) replaces it, e.g. 1/tau^2 on the columns of a random intercept.
    """
    n, k = X.shape
    w = np.ones(n) if w is None else w
    if penalty is None:
        penalty = np.full(k, ridge)
        penalty[0] = 0.0
    if beta0 is None:
        beta = np.zeros(k)
        ybar = float(np.clip((w * y).sum() / max(w.sum(), 1e-12), 1e-4, 1 - 1e-4))
        beta[0] = np.log(ybar / (1 - ybar))
    else:
        beta = beta0.copy()
    for _ in range(max_iter):
        p = expit(X @ beta)
        grad = X.T @ (w * (y - p)) - penalty * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(penalty) + 1e-9 * np.eye(k)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def cell_codes(df: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer code per row for the combination of `columns`, and the table of combinations."""
    cols = list(columns)
    keys = df[cols].astype(object).where(df[cols].notna(), "\x00missing")
    grouped = keys.groupby(cols, sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy()
    _, first = np.unique(codes, return_index=True)
    table = keys.iloc[first].reset_index(drop=True)
    table = table.astype(object).where(table != "\x00missing", None)
    return codes, table
