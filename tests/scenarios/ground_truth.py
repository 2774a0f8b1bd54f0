"""An independent health system with a KNOWN causal process, for testing the retention options.

Written for these tests (not derived from pipelines/sample.py or tests/model_fixtures.py). Every
person keeps their own noise terms, so an intervention can be simulated exactly: change the lever,
recompute everything downstream with the same noise, and compare the probabilities of intent to leave.

The process:
  department, role, site  -> call nights (departments and roles differ: confounding)
  EHR after-hours hours   ~ gamma; inbox messages track EHR hours but have NO effect on anything
  EHR hours               -> EHR perception items (documentation time, EHR time at home, EHR
                             frustration; 5 = best, so more hours = lower ratings)
  call nights, EHR items  -> burnout (an ordinal cut of a latent score)
  burnout                 -> stress, satisfaction (consequences only; they cause nothing)
  ITL caused only by call nights, burnout and feeling valued, plus department effects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines import contract

SITES = ("Harbour", "Hill", "Valley")
DEPARTMENTS = ("Cardiology", "Oncology", "Acute", "Maternity", "Theatre")
DEPT_ITL = {"Cardiology": 0.0, "Oncology": -0.35, "Acute": 0.45, "Maternity": 0.15, "Theatre": -0.2}
DEPT_CALL = {"Cardiology": 4.0, "Oncology": 2.0, "Acute": 7.0, "Maternity": 5.0, "Theatre": 6.0}
ROLES = {"physician": 0.35, "app": 0.1, "nurse": 0.4, "resident": 0.15}
ROLE_CALL = {"physician": 1.4, "app": 0.5, "nurse": 0.8, "resident": 1.8}  # multiplies the department's

ITL = {"intercept": -1.1, "call": 0.06, "burnout": 0.5, "feel_valued": -0.7}
BURNOUT = {"call": 0.15, "ehr_items": 0.6}  # latent burnout per call night / per point of EHR-item deficit
EHR_ITEM_SLOPE = 0.2  # latent rating drop per after-hours EHR hour
CUTS = np.array([-0.8, 0.2, 1.2, 2.2])  # four cuts -> levels 1..5


def _ordinal(latent: np.ndarray) -> np.ndarray:
    return 1.0 + np.searchsorted(CUTS, latent).astype("float64")


@dataclass
class World:
    frame: pd.DataFrame  # contract columns plus wave, as they would be stored
    noise: dict[str, np.ndarray]  # each person's own noise terms


def simulate(n: int = 10_000, seed: int = 2024, wave: str = "2026") -> World:
    rng = np.random.default_rng(seed)
    dept = rng.choice(DEPARTMENTS, n)
    role = rng.choice(list(ROLES), n, p=list(ROLES.values()))
    df = pd.DataFrame(
        {
            "wave": wave,
            "site": rng.choice(SITES, n, p=(0.45, 0.35, 0.2)),
            "department": dept,
            "role": role,
            "tenure_band": rng.choice(contract.TENURE_BANDS, n),
        }
    )
    lam = pd.Series(dept).map(DEPT_CALL).to_numpy(float) * pd.Series(role).map(ROLE_CALL).to_numpy(float)
    df["call_nights_per_month"] = np.minimum(rng.poisson(lam), 31).astype(float)
    ehr = np.round(np.minimum(rng.gamma(2.2, 2.4, n), 60.0), 1)
    df["ehr_after_hours_per_week"] = ehr
    df["inbox_messages_per_day"] = np.round(np.maximum(8 + 3.0 * ehr + rng.normal(0, 6, n), 0))
    df["clinical_fte"] = rng.choice([0.6, 0.8, 0.9, 1.0], n)
    noise = {
        "items": {k: rng.normal(0, 0.8, n) for k in ("documentation_time", "ehr_home_time", "ehr_frustration")},
        "burnout": rng.logistic(0, 0.55, n),
        "stress": rng.normal(0, 0.3, n),
        "satisfaction": rng.normal(0, 0.3, n),
        "itl": rng.random(n),
    }
    for item in ("work_control", "teamwork", "values_alignment", "work_atmosphere", "feel_valued"):
        df[item] = np.clip(np.rint(rng.normal(3.2, 1.0, n)), 1, 5)
    world = World(df, noise)
    _downstream(world, df)
    p = itl_probability(df)
    itl = noise["itl"] < p
    df["intent_to_leave"] = np.where(itl, rng.choice([3, 4, 5], n), rng.choice([1, 2], n)).astype(float)
    df["intent_to_reduce_fte"] = rng.random(n) < 0.2
    df["leave_path"] = np.where(itl, rng.choice(contract.LEAVE_PATHS[1:], n), "stay")
    df["leave_reasons"] = [list(rng.choice(contract.LEAVE_REASONS, 2, replace=False)) if i else None for i in itl]
    return world


def _downstream(world: World, df: pd.DataFrame) -> None:
    """Recompute every consequence of the work pattern in `df`, in place, with each person's noise."""
    nz = world.noise
    ehr = df["ehr_after_hours_per_week"].to_numpy(float)
    deficit = np.zeros(len(df))
    for item, e in nz["items"].items():
        rating = np.clip(np.rint(4.3 - EHR_ITEM_SLOPE * ehr + e), 1, 5)
        df[item] = rating
        deficit += (5 - rating) / 3
    latent = BURNOUT["call"] * df["call_nights_per_month"].to_numpy(float) + BURNOUT["ehr_items"] * deficit - 0.9
    burnout = _ordinal(latent + nz["burnout"])
    df["burnout_level"] = burnout
    df["stress"] = np.clip(np.rint(1.2 + 0.8 * burnout + nz["stress"]), 1, 5)
    df["satisfaction"] = np.clip(np.rint(5.4 - 0.7 * burnout + nz["satisfaction"]), 1, 5)


def itl_probability(df: pd.DataFrame) -> np.ndarray:
    eta = (
        ITL["intercept"]
        + ITL["call"] * df["call_nights_per_month"].to_numpy(float)
        + ITL["burnout"] * (df["burnout_level"].to_numpy(float) - 3)
        + ITL["feel_valued"] * (df["feel_valued"].to_numpy(float) - 3)
        + df["department"].map(DEPT_ITL).to_numpy(float)
    )
    return 1 / (1 + np.exp(-eta))


def intervene(world: World, eligible: np.ndarray, **set_to) -> pd.DataFrame:
    """The world with the lever applied to the eligible: `set_to` maps a column to a function of its
    current values; everything downstream is recomputed with the same noise."""
    after = world.frame.copy()
    for column, fn in set_to.items():
        x = after[column].to_numpy(float)
        after[column] = np.where(eligible, fn(x), x)
    _downstream(world, after)
    return after


def true_effect(world: World, eligible: np.ndarray, **set_to) -> tuple[float, float]:
    """(mean change in P(ITL) among the eligible, in percentage points; risk ratio among them)."""
    p0 = itl_probability(world.frame)[eligible]
    p1 = itl_probability(intervene(world, eligible, **set_to))[eligible]
    return float(100 * (p1 - p0).mean()), float(p1.mean() / p0.mean())


def insert(con, frame: pd.DataFrame, upload_id: str = "truth") -> None:
    """Insert the rows into `responses` with an explicit column list."""
    df = frame.copy()
    df["response_key"] = [uuid.uuid4().hex for _ in range(len(df))]
    df["upload_id"] = upload_id
    cols = [c for c, _ in contract.responses_columns() if c in df.columns]
    con.register("truth_rows", df[cols])
    casts = ", ".join(f"cast({c} as {t})" for c, t in contract.responses_columns() if c in cols)
    con.execute(f"insert into responses ({', '.join(cols)}) select {casts} from truth_rows")
    con.unregister("truth_rows")
