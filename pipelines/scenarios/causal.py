"""The stated causal structure behind the retention options, and the sequential g-formula over it.

Why: a lever's *total* effect on intent to leave runs partly through what it changes on the way
(dropping night call lowers burnout, which lowers stress and raises satisfaction; EHR support
shortens after-hours charting, which changes how people rate their documentation time and EHR
burden, which lowers burnout). A model that holds those consequences at their observed values
while the lever moves adjusts most of the lever's path away, and can even get the sign wrong.

The structure (`GRAPH`: each modelled variable and the variables it depends on):

- Context, taken as fixed before any lever (adjusted for, never moved): role, site, department,
  tenure band, and the workplace items work control, teamwork, values alignment, work atmosphere
  and feeling valued.
- Work pattern (what the levers set): call nights a month, clinical FTE, after-hours EHR hours a
  week, inbox messages a day. With reduced FTE, after-hours EHR time is scaled with FTE.
- EHR perception items (documentation time, EHR time at home, EHR frustration) depend on EHR
  hours, inbox and FTE.
- Burnout depends on the work pattern and the EHR perception items.
- Stress and satisfaction are consequences of burnout (and of the work pattern).
- Intent to leave depends on all of the above.

For a lever, the variables it sets come first; its *path* is every variable downstream of them in
the graph (never adjusted away); everything else comes *before* it and is adjusted for. The
lever's total effect is estimated by g-computation over a lever-specific outcome model: logistic
intent to leave on the lever's variables and what comes before them, with the path left out (so
the change the lever makes through burnout, stress, satisfaction and the EHR items stays in its
effect instead of being adjusted away); the lever's variables are set to their scenario values for
the eligible people and intent to leave is re-predicted.

Why not a sequential g-formula (one model per path variable, moved in turn)? It was tried: linear
models of the 1-5 items cannot follow burnout's floor and ceiling, shrank the path and understated
the dropped-call effect against a known truth (mean -13.7 vs -15.6 points over eight simulations,
two intervals missing it); the total-effect model recovered it (-14.9, seven of eight covering).
The graph is still what decides, for each lever, what is adjusted for and what is left to move.

Honesty: this is a structure *assumed* by the product, not learned from the data. Cross-sectional
survey associations are not proof: reverse causation (burnout leading people to cut their FTE,
Dyrbye et al. 2016) and unmeasured confounding remain possible. Each estimate carries an E-value
(VanderWeele & Ding 2017): how strong an unmeasured confounder would have to be, as a risk ratio
with both the lever and intent to leave, to explain the estimate away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.models.features import DRIVERS, DesignSpec, expit, fit_logit

CONTEXT_CATEGORIES: tuple[str, ...] = ("role", "site", "department", "tenure_band")
CONTEXT_ITEMS: tuple[str, ...] = ("work_control", "teamwork", "values_alignment", "work_atmosphere", "feel_valued")
WORK_PATTERN: tuple[str, ...] = (
    "call_nights_per_month",
    "clinical_fte",
    "ehr_after_hours_per_week",
    "inbox_messages_per_day",
)
EHR_PERCEPTION: tuple[str, ...] = ("documentation_time", "ehr_home_time", "ehr_frustration")
WELLBEING: tuple[str, ...] = ("burnout_level",)
CONSEQUENCES: tuple[str, ...] = ("stress", "satisfaction")
CONTEXT: tuple[str, ...] = (*CONTEXT_CATEGORIES, *CONTEXT_ITEMS)

# Modelled variable -> the variables it depends on, in the order they are moved.
GRAPH: dict[str, tuple[str, ...]] = {
    **{
        item: ("ehr_after_hours_per_week", "inbox_messages_per_day", "clinical_fte", *CONTEXT)
        for item in EHR_PERCEPTION
    },
    "burnout_level": (*WORK_PATTERN, *EHR_PERCEPTION, *CONTEXT),
    **{item: ("burnout_level", *WORK_PATTERN, *EHR_PERCEPTION, *CONTEXT) for item in CONSEQUENCES},
}
ORDER: tuple[str, ...] = tuple(GRAPH)
OUTCOME_INPUTS: tuple[str, ...] = (*DRIVERS, *CONTEXT_CATEGORIES)

# What each model-based lever sets directly, and how.
LEVER_SETS: dict[str, tuple[tuple[str, ...], str]] = {
    "dropped_call": (
        ("call_nights_per_month",),
        "Call nights set to the value chosen for the eligible; burnout moves with call nights, then stress "
        "and satisfaction with burnout; intent to leave re-predicted.",
    ),
    "reduced_fte": (
        ("clinical_fte", "ehr_after_hours_per_week"),
        "Clinical FTE lowered to the target and after-hours EHR time scaled with it; the EHR perception "
        "items, burnout, stress and satisfaction move in turn; intent to leave re-predicted. FTE is also an "
        "outcome of burnout (Dyrbye et al. 2016), so reverse causation is possible.",
    ),
    "ehr_support": (
        ("ehr_after_hours_per_week", "inbox_messages_per_day"),
        "After-hours EHR hours and inbox volume lowered; the EHR perception items move with them, burnout "
        "with those, stress and satisfaction with burnout; intent to leave re-predicted.",
    ),
}
ASSUMED_HOW = (
    "Not modelled: no survey variable captures this option. The assumed retention rate is applied to the "
    "intent-to-leave holders whose leave path or reasons fit it."
)


def downstream(sets: Iterable[str]) -> tuple[str, ...]:
    """Every modelled variable downstream of `sets` in the graph, in the order it is moved."""
    moved = set(sets)
    out = []
    for node in ORDER:
        if node not in moved and any(p in moved for p in GRAPH[node]):
            moved.add(node)
            out.append(node)
    return tuple(out)


@dataclass(frozen=True)
class LeverStructure:
    lever: str
    sets: tuple[str, ...]  # set by the lever
    path: tuple[str, ...]  # moved in consequence (never adjusted away)
    before: tuple[str, ...]  # adjusted for
    how: str


def lever_structure(key: str) -> LeverStructure | None:
    """The structure for a model-based lever (None for an assumed lever)."""
    if key not in LEVER_SETS:
        return None
    sets, how = LEVER_SETS[key]
    path = downstream(sets)
    before = tuple(v for v in OUTCOME_INPUTS if v not in sets and v not in path)
    return LeverStructure(key, sets, path, before, how)


def causal_structure() -> pd.DataFrame:
    """The stated causal structure as data, one row per lever, for the Methodology page:
    lever, label, kind, sets (what the lever changes), on_path (moved in consequence, never adjusted
    away), adjusted_for (comes before the lever), how (in words)."""
    from pipelines.scenarios.levers import LEVERS

    rows = []
    for key, lever in LEVERS.items():
        st = lever_structure(key)
        rows.append(
            {
                "lever": key,
                "label": lever.label,
                "kind": lever.kind,
                "sets": ", ".join(st.sets) if st else "",
                "on_path": ", ".join(st.path) if st else "",
                "adjusted_for": ", ".join(st.before) if st else "",
                "how": st.how if st else ASSUMED_HOW,
            }
        )
    return pd.DataFrame(rows)


def graph_edges() -> pd.DataFrame:
    """The graph as edges (cause, effect) including the outcome, for a diagram or a table."""
    rows = [(p, node) for node, parents in GRAPH.items() for p in parents]
    rows += [(v, "intent_to_leave") for v in OUTCOME_INPUTS]
    return pd.DataFrame(rows, columns=["cause", "effect"])


# --------------------------------------------------------------------------------------------
# Fitting: one total-effect outcome model per lever, the lever's path left out
# --------------------------------------------------------------------------------------------
MAX_FIT_ROWS = 30_000
REFIT_ROWS = 3_000


@dataclass
class LeverModel:
    """A lever's total-effect model: logistic ITL on the lever's variables and what comes before
    them (coefficients only; it holds no respondent data)."""

    lever: str
    spec: DesignSpec
    beta: np.ndarray
    refit_betas: np.ndarray  # (refits, k), rescaled to the full sample size

    @property
    def refits(self) -> int:
        return len(self.refit_betas)


@dataclass
class CausalModel:
    """The lever models of one wave, fitted on demand (`ensure`) with the same bootstrap rows for
    every lever, so levers applied together keep the correlation of their uncertainty."""

    refits: int
    seed: int
    levers: dict[str, LeverModel] = field(default_factory=dict)
    n_fit: int = 0
    method: dict[str, Any] = field(default_factory=dict)

    def ensure(self, df: pd.DataFrame, keys: Iterable[str]) -> None:
        for key in keys:
            if key in LEVER_SETS and key not in self.levers:
                self.levers[key] = fit_lever(df, key, refits=self.refits, seed=self.seed)
                self.n_fit = max(self.n_fit, min(int(df["itl"].notna().sum()), MAX_FIT_ROWS))
        self.method = {
            "fit_rows": self.n_fit,
            "refits": self.refits,
            "refit_rows": min(self.n_fit, REFIT_ROWS),
            "estimator": "g-computation with a total-effect logistic model per lever (the lever's path left "
            "out, what comes before it adjusted for; IRLS, ridge 1 on standardised columns)",
        }

    def __getitem__(self, key: str) -> LeverModel:
        return self.levers[key]


def fit_lever(
    df: pd.DataFrame,
    key: str,
    *,
    refits: int = 200,
    refit_rows: int = REFIT_ROWS,
    max_fit_rows: int = MAX_FIT_ROWS,
    seed: int = 0,
) -> LeverModel:
    """Fit lever `key`'s total-effect model on the respondents who answered intent to leave.

    Inputs: the lever's own variables and the variables before it (`lever_structure(key).before`);
    the variables on its path are left out, so their share of the lever's effect stays in it.
    Refits are m-out-of-n bootstrap refits (m = min(n, refit_rows) rows drawn with replacement, one
    Newton warm start from the full fit, the deviation rescaled by sqrt(m / n))."""
    st = lever_structure(key)
    if st is None:
        raise ValueError(f"{key!r} is not a model-based lever.")
    rng = np.random.default_rng(seed)
    train = df[df["itl"].notna()]
    if len(train) > max_fit_rows:
        train = train.iloc[np.sort(rng.choice(len(train), max_fit_rows, replace=False))]
    y = train["itl"].to_numpy(dtype="float64")
    if len(train) < 10 or y.min() == y.max():
        raise ValueError("Too few answers to intent to leave (or no variation) to fit a scenario model.")
    inputs = set(st.sets) | set(st.before)
    numeric = [v for v in DRIVERS if v in inputs]
    categorical = [v for v in CONTEXT_CATEGORIES if v in inputs]
    spec = DesignSpec.fit(train, numeric, categorical)
    X = spec.transform(train)
    beta = fit_logit(X, y)
    n = len(train)
    m = min(n, refit_rows)
    scale = np.sqrt(m / n)
    betas = np.empty((refits, len(beta)))
    for r in range(refits):
        idx = rng.integers(0, n, m)
        b = fit_logit(X[idx], y[idx], beta0=beta, max_iter=4, tol=1e-5)
        betas[r] = beta + scale * (b - beta)
    return LeverModel(key, spec, beta, betas)


# --------------------------------------------------------------------------------------------
# The intervention
# --------------------------------------------------------------------------------------------
@dataclass
class Intervention:
    """A lever applied to the eligible rows: for refit r (0 = the fit), each eligible person's
    change in P(ITL) and their P(ITL) without the lever."""

    X0: np.ndarray  # eligible rows' design, observed
    X1: np.ndarray  # the same rows with the lever's variables set
    betas: np.ndarray  # (1 + R) x k

    def replicate(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        beta = self.betas[r]
        p0 = expit(self.X0 @ beta)
        return expit(self.X1 @ beta) - p0, p0


def intervene(model: LeverModel, before: pd.DataFrame, after: pd.DataFrame) -> Intervention:
    """The lever moving `before` (eligible rows, observed) to `after` (its variables set)."""
    betas = np.vstack([model.beta[None, :], model.refit_betas])
    return Intervention(model.spec.transform(before), model.spec.transform(after), betas)


# --------------------------------------------------------------------------------------------
# Sensitivity: E-values (VanderWeele & Ding 2017, Ann Intern Med)
# --------------------------------------------------------------------------------------------
def e_value(rr: float) -> float:
    """E-value of a risk ratio: the minimum strength of association (risk-ratio scale) an unmeasured
    confounder would need with both the lever and the outcome to explain the estimate away."""
    if not np.isfinite(rr) or rr <= 0:
        return float("nan")
    rr = 1.0 / rr if rr < 1 else rr
    return float(rr + np.sqrt(rr * (rr - 1.0)))


def e_value_interval(rr: float, lo: float, hi: float) -> float:
    """E-value for the interval limit closest to no effect (1 when the interval includes no effect)."""
    if not (np.isfinite(rr) and np.isfinite(lo) and np.isfinite(hi)):
        return float("nan")
    if lo <= 1.0 <= hi:
        return 1.0
    return e_value(hi if rr < 1 else lo)
