"""A simulated health system with KNOWN coefficients, for ground-truth tests of the models.

The truth (on the log-odds scale of intent to leave):
  - feel_valued is the strongest driver (-0.95 per point: feeling valued protects);
  - burnout_level +0.45 per point; burnout itself rises with night call and after-hours EHR;
  - call nights have a direct effect (+0.05 per night) on top of the path through burnout;
  - values_alignment -0.35, work_control -0.25, teamwork -0.2, after-hours EHR +0.03 per hour;
  - clinical_fte has NO effect and is independent of everything (the zero-effect driver);
  - role and site shift the baseline (and call nights differ by role: a confounder).
None of these are the defaults of the project's sample generator.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from pipelines import contract

SITES = ("North", "South", "East")
DEPARTMENTS = ("Medicine", "Surgery", "Emergency", "Paediatrics")
ROLE_P = {"physician": 0.3, "app": 0.1, "nurse": 0.4, "resident": 0.1, "other_clinical": 0.1}
ROLE_SHIFT = {"physician": -0.3, "app": 0.0, "nurse": 0.3, "resident": -0.6, "other_clinical": 0.0}
ROLE_CALL = {"physician": 6.0, "app": 2.0, "nurse": 2.5, "resident": 8.0, "other_clinical": 0.5}
SITE_SHIFT = {"North": 0.0, "South": 0.25, "East": -0.2}

TRUE = {
    "intercept": -0.6,
    "burnout_level": 0.45,
    "feel_valued": -0.95,
    "values_alignment": -0.35,
    "work_control": -0.25,
    "teamwork": -0.2,
    "call_direct": 0.05,
    "ehr_after_hours_per_week": 0.03,
    "clinical_fte": 0.0,
}
# burnout latent = 0.12 * call + 0.06 * ehr + noise, cut into 1..5
BURNOUT_CALL = 0.12
BURNOUT_EHR = 0.06
BURNOUT_CUTS = (0.4, 1.2, 2.0, 2.8)


@dataclass
class Simulation:
    frame: pd.DataFrame  # contract columns plus wave (with some predictors missing, as stored)
    complete: pd.DataFrame  # the same rows before missingness (the truth is computed on these)
    burnout_noise: np.ndarray


def _item(rng: np.random.Generator, n: int, centre: float = 3.2) -> np.ndarray:
    return np.clip(np.rint(rng.normal(centre, 1.1, n)), 1, 5)


def burnout_from(call: np.ndarray, ehr: np.ndarray, noise: np.ndarray) -> np.ndarray:
    latent = BURNOUT_CALL * call + BURNOUT_EHR * ehr + noise
    return 1.0 + np.searchsorted(np.array(BURNOUT_CUTS), latent)


def itl_logit(df: pd.DataFrame, burnout: np.ndarray, call: np.ndarray, ehr: np.ndarray) -> np.ndarray:
    t = TRUE
    return (
        t["intercept"]
        + t["burnout_level"] * (burnout - 3)
        + t["feel_valued"] * (df["feel_valued"].to_numpy() - 3)
        + t["values_alignment"] * (df["values_alignment"].to_numpy() - 3)
        + t["work_control"] * (df["work_control"].to_numpy() - 3)
        + t["teamwork"] * (df["teamwork"].to_numpy() - 3)
        + t["call_direct"] * call
        + t["ehr_after_hours_per_week"] * ehr
        + t["clinical_fte"] * df["clinical_fte"].to_numpy()
        + df["role"].map(ROLE_SHIFT).to_numpy(dtype=float)
        + df["site"].map(SITE_SHIFT).to_numpy(dtype=float)
    )


def simulate(n: int = 6000, seed: int = 11, wave: str = "2025", missing: float = 0.03) -> Simulation:
    """Respondent rows following the known model above."""
    rng = np.random.default_rng(seed)
    roles = rng.choice(list(ROLE_P), n, p=list(ROLE_P.values()))
    df = pd.DataFrame(
        {
            "wave": wave,
            "site": rng.choice(SITES, n, p=(0.5, 0.3, 0.2)),
            "department": rng.choice(DEPARTMENTS, n, p=(0.4, 0.25, 0.2, 0.15)),
            "role": roles,
            "tenure_band": rng.choice(contract.TENURE_BANDS, n),
        }
    )
    lam = pd.Series(roles).map(ROLE_CALL).to_numpy(dtype=float)
    call = np.minimum(rng.poisson(lam), 31).astype(float)
    ehr = np.round(np.minimum(rng.gamma(2.0, 2.5, n), 80), 1)
    df["call_nights_per_month"] = call
    df["ehr_after_hours_per_week"] = ehr
    df["inbox_messages_per_day"] = np.round(rng.gamma(3.0, 10.0, n))
    df["clinical_fte"] = rng.choice([0.5, 0.6, 0.8, 0.9, 1.0], n)
    for name in contract.ITEM_NAMES:
        if name != "burnout_level":
            df[name] = _item(rng, n)
    noise = rng.logistic(0.0, 0.6, n)
    burnout = burnout_from(call, ehr, noise)
    df["burnout_level"] = burnout
    eta = itl_logit(df, burnout, call, ehr)
    itl = rng.random(n) < 1 / (1 + np.exp(-eta))
    # intent_to_leave 1..5 consistent with ITL >= 3
    df["intent_to_leave"] = np.where(itl, rng.choice([3, 4, 5], n), rng.choice([1, 2], n))
    df["intent_to_reduce_fte"] = rng.random(n) < 0.25
    paths = np.where(
        itl,
        rng.choice(
            [
                "reduce_hours",
                "temporary_break",
                "other_organisation",
                "clinical_adjacent_role",
                "leave_patient_care",
                "retire",
            ],
            n,
        ),
        "stay",
    )
    df["leave_path"] = paths
    reasons = []
    for i in range(n):
        if itl[i]:
            k = rng.integers(1, 4)
            reasons.append(list(rng.choice(contract.LEAVE_REASONS, k, replace=False)))
        else:
            reasons.append(None)
    df["leave_reasons"] = reasons
    complete = df.copy()
    # a little missingness in predictors (never in the outcome used for truth)
    for name in ("inbox_messages_per_day", "teamwork", "work_atmosphere", "clinical_fte"):
        gone = rng.random(n) < missing
        df.loc[gone, name] = np.nan
    df.loc[rng.random(n) < missing, "tenure_band"] = None
    return Simulation(df, complete, noise)


def true_dropped_call_effect(sim: Simulation, threshold: int, new_value: float = 0.0) -> float:
    """Mean change in P(ITL) among the eligible (call >= threshold) when call is set to `new_value`,
    from the known coefficients, letting burnout respond to call through the same noise."""
    df = sim.complete
    call = df["call_nights_per_month"].to_numpy(dtype=float)
    ehr = df["ehr_after_hours_per_week"].to_numpy(dtype=float)
    eligible = call >= threshold
    before = itl_logit(df, burnout_from(call, ehr, sim.burnout_noise), call, ehr)
    call_cf = np.where(eligible, new_value, call)
    after = itl_logit(df, burnout_from(call_cf, ehr, sim.burnout_noise), call_cf, ehr)
    p0, p1 = 1 / (1 + np.exp(-before)), 1 / (1 + np.exp(-after))
    return float((p1 - p0)[eligible].mean())


def insert_responses(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, upload_id: str = "sim") -> None:
    """Insert respondent rows into `responses` with an explicit column list."""
    df = frame.copy()
    df["response_key"] = [uuid.uuid4().hex for _ in range(len(df))]
    df["upload_id"] = upload_id
    cols = [c for c, _ in contract.responses_columns() if c in df.columns]
    con.register("sim_rows", df[cols])
    casts = ", ".join(f"cast({c} as {t})" for c, t in contract.responses_columns() if c in cols)
    con.execute(f"insert into responses ({', '.join(cols)}) select {casts} from sim_rows")
    con.unregister("sim_rows")


def insert_roster(con: duckdb.DuckDBPyConnection, rows: list[tuple], wave: str | None = None) -> None:
    """rows: (site, department, role, headcount, replacement_cost or None)."""
    for site, department, role, headcount, cost in rows:
        con.execute(
            "insert into headcount (upload_id, wave, site, department, role, headcount, replacement_cost) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            ["roster", wave, site, department, role, headcount, cost],
        )
