"""An independent ground-truth generator for the models: survey waves from a KNOWN causal process.

Not derived from pipelines/sample.py (nor tests/model_fixtures.py). Every coefficient the tests compare
against is a module constant. The causal structure (logit scale for intent to leave):

    role ──> call nights ──> burnout ──> stress, satisfaction        (consequences of burnout)
                 │              ^
                 │   EHR hours ─┘──> EHR perception items (ehr_home_time, ehr_frustration,
                 │       │                                  documentation_time)
                 │       └──> inbox volume                 (tracks EHR hours, no effect of its own)
                 v
    ITL <── call nights (direct) + burnout + feeling valued + site effect + department effect
            (+ WAVE_SHIFT for a shifted wave)

Nothing else causes intent to leave: teamwork (ZERO_EFFECT_DRIVER), work atmosphere, work control,
values alignment and clinical FTE are independent of everything and have no effect; inbox volume has no
effect but is correlated with EHR hours. Role affects ITL only through call nights.

`simulate` returns respondent rows in the canonical contract columns plus the true probability of each
respondent (kept apart in `Simulation.truth`, never written to the CSV). `write_csv` writes the canonical
CSV and `load` loads it through `pipelines.ingest.load.ingest`, the same path an officer's upload takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import contract

# ---- organisation -----------------------------------------------------------------------------
SITES: tuple[str, ...] = ("Harbour", "Upland")
SITE_WEIGHTS: tuple[float, ...] = (0.6, 0.4)
DEPARTMENTS: tuple[str, ...] = ("Cardiology", "Oncology", "Emergency", "Obstetrics", "Psychiatry", "Radiology")
DEPARTMENT_WEIGHTS: tuple[float, ...] = (0.2, 0.15, 0.2, 0.15, 0.15, 0.15)
ROLE_WEIGHTS: dict[str, float] = {"physician": 0.3, "app": 0.15, "nurse": 0.4, "resident": 0.1, "other_clinical": 0.05}
# Poisson mean of call nights a month by role (role confounds call and nothing else).
ROLE_CALL: dict[str, float] = {"physician": 5.0, "app": 2.0, "nurse": 3.0, "resident": 9.0, "other_clinical": 0.5}

# ---- intent to leave (logit scale) --------------------------------------------------------------
ITL_INTERCEPT = -1.0  # at burnout 3, feel_valued 3, no call, site and department effect 0
ITL_CALL = 0.06  # per night of call a month (direct path)
ITL_BURNOUT = 0.55  # per point of burnout_level
ITL_FEEL_VALUED = -0.6  # per point of feel_valued (feeling valued protects)
SITE_EFFECT: dict[str, float] = {"Harbour": 0.15, "Upland": -0.15}
DEPARTMENT_EFFECT: dict[str, float] = {
    "Cardiology": -0.3,
    "Oncology": 0.1,
    "Emergency": 0.55,
    "Obstetrics": 0.0,
    "Psychiatry": -0.45,
    "Radiology": 0.1,
}
WAVE_SHIFT = 0.6  # added to every respondent's ITL logit in a shifted wave
# ---- burnout: latent = BURNOUT_CALL * call + BURNOUT_EHR * ehr + Logistic(0, BURNOUT_SCALE), cut at
BURNOUT_CALL = 0.15
BURNOUT_EHR = 0.08
BURNOUT_SCALE = 0.7
BURNOUT_CUTS: tuple[float, ...] = (0.3, 1.1, 1.9, 2.7)
# ---- consequences ------------------------------------------------------------------------------
STRESS_PER_BURNOUT = 0.8  # stress = round(1 + 0.8 (burnout - 1) + N(0, 0.6)), clipped to 1..5
SATISFACTION_PER_BURNOUT = -0.8  # satisfaction = round(4.6 - 0.8 (burnout - 1) + N(0, 0.6))
EHR_ITEM_PER_HOUR = -0.12  # each EHR perception item = round(4.2 - 0.12 ehr + N(0, 0.7)) (5 = best)
INBOX_PER_EHR_HOUR = 6.0  # inbox = 6 x ehr + Gamma noise: tracks EHR hours, has no effect

ZERO_EFFECT_DRIVER = "teamwork"
NO_EFFECT_ITEMS: tuple[str, ...] = ("teamwork", "work_atmosphere", "work_control", "values_alignment")
# Driver groups of pipelines.models.drivers that carry no causal effect on ITL here.
NO_EFFECT_GROUPS: tuple[str, ...] = ("teamwork", "values_alignment", "clinical_fte")
CAUSAL_GROUPS: tuple[str, ...] = ("burnout", "call", "feel_valued")


@dataclass
class Simulation:
    frame: pd.DataFrame  # canonical contract columns plus wave, as an officer would upload them
    truth: pd.DataFrame  # per respondent: true ITL probability, logit and burnout noise (same order)


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _item(rng: np.random.Generator, centre: float | np.ndarray, sd: float, n: int) -> np.ndarray:
    return np.clip(np.rint(rng.normal(centre, sd, n)), 1, 5).astype(int)


def burnout_from(call: np.ndarray, ehr: np.ndarray, noise: np.ndarray) -> np.ndarray:
    latent = BURNOUT_CALL * call + BURNOUT_EHR * ehr + noise
    return 1 + np.searchsorted(np.asarray(BURNOUT_CUTS), latent)


def itl_logit(
    call: np.ndarray,
    burnout: np.ndarray,
    feel_valued: np.ndarray,
    site: np.ndarray,
    department: np.ndarray,
    shift: float = 0.0,
) -> np.ndarray:
    return (
        ITL_INTERCEPT
        + ITL_CALL * call
        + ITL_BURNOUT * (burnout - 3)
        + ITL_FEEL_VALUED * (feel_valued - 3)
        + pd.Series(site).map(SITE_EFFECT).to_numpy(dtype=float)
        + pd.Series(department).map(DEPARTMENT_EFFECT).to_numpy(dtype=float)
        + shift
    )


def simulate(n: int = 2000, *, seed: int = 0, wave: str = "2025", shift: float = 0.0) -> Simulation:
    """`n` respondents of one wave from the causal process above; `shift` is added to the ITL logit
    (use WAVE_SHIFT for the shifted second wave, 0 for an unshifted one)."""
    rng = np.random.default_rng(seed)
    roles = rng.choice(list(ROLE_WEIGHTS), n, p=list(ROLE_WEIGHTS.values()))
    site = rng.choice(SITES, n, p=SITE_WEIGHTS)
    department = rng.choice(DEPARTMENTS, n, p=DEPARTMENT_WEIGHTS)
    call = np.minimum(rng.poisson(pd.Series(roles).map(ROLE_CALL).to_numpy(dtype=float)), 31).astype(int)
    ehr = np.round(np.minimum(rng.gamma(2.0, 3.0, n), 80.0), 1)
    inbox = np.round(np.minimum(INBOX_PER_EHR_HOUR * ehr + rng.gamma(2.0, 5.0, n), 500.0))
    noise = rng.logistic(0.0, BURNOUT_SCALE, n)
    burnout = burnout_from(call, ehr, noise)
    feel_valued = _item(rng, 3.2, 1.1, n)
    eta = itl_logit(call, burnout, feel_valued, site, department, shift)
    # ordinal intent to leave whose ">= 3" threshold is exactly Bernoulli(expit(eta))
    latent = eta + rng.logistic(0.0, 1.0, n)
    intent = 1 + np.searchsorted(np.array([-2.0, 0.0, 1.5, 3.0]), latent)
    itl = intent >= contract.ITL_THRESHOLD
    frame = pd.DataFrame(
        {
            "wave": wave,
            "site": site,
            "department": department,
            "role": roles,
            "tenure_band": rng.choice(contract.TENURE_BANDS, n),
            "age_band": rng.choice(contract.AGE_BANDS, n),
            "gender": rng.choice(contract.GENDERS, n),
            "clinical_fte": rng.choice([0.5, 0.6, 0.8, 1.0], n),
            "call_nights_per_month": call,
            "ehr_after_hours_per_week": ehr,
            "inbox_messages_per_day": inbox,
            "burnout_level": burnout,
            "stress": _item(rng, 1 + STRESS_PER_BURNOUT * (burnout - 1), 0.6, n),
            "satisfaction": _item(rng, 4.6 + SATISFACTION_PER_BURNOUT * (burnout - 1), 0.6, n),
            "work_control": _item(rng, 3.0, 1.1, n),
            "documentation_time": _item(rng, 4.2 + EHR_ITEM_PER_HOUR * ehr, 0.7, n),
            "ehr_home_time": _item(rng, 4.2 + EHR_ITEM_PER_HOUR * ehr, 0.7, n),
            "ehr_frustration": _item(rng, 4.2 + EHR_ITEM_PER_HOUR * ehr, 0.7, n),
            "teamwork": _item(rng, 3.3, 1.1, n),
            "values_alignment": _item(rng, 3.1, 1.1, n),
            "work_atmosphere": _item(rng, 3.0, 1.1, n),
            "feel_valued": feel_valued,
            "intent_to_leave": intent,
            "intent_to_reduce_fte": rng.random(n) < 0.2,
        }
    )
    paths = ("other_organisation", "reduce_hours", "temporary_break", "leave_patient_care", "retire")
    frame["leave_path"] = np.where(itl, rng.choice(paths, n), "stay")
    reasons = np.where(itl, rng.choice(["burnout", "call_schedule", "ehr_admin", "geography"], n), "")
    frame["leave_reasons"] = pd.Series(reasons, dtype=object).where(reasons != "", None)
    truth = pd.DataFrame({"p_itl": expit(eta), "logit": eta, "burnout_noise": noise, "itl": itl})
    return Simulation(frame, truth)


def true_unit_rates(sim: Simulation, dims: tuple[str, ...] = ("site", "department")) -> pd.DataFrame:
    """The true ITL rate of each unit: the mean of its respondents' true probabilities."""
    df = sim.frame[list(dims)].copy()
    df["true_rate"] = sim.truth["p_itl"].to_numpy()
    return df.groupby(list(dims), as_index=False)["true_rate"].mean()


def model_frame(sim: Simulation) -> pd.DataFrame:
    """The frame `pipelines.models.features.load_respondents` would return for these rows (types and
    the 0/1 `itl` column), for fast replications that skip the warehouse."""
    df = sim.frame.copy()
    df["wave"] = df["wave"].astype(object)
    for col in ("site", "department", "role", "tenure_band", "leave_path"):
        df[col] = df[col].astype(object)
    for col in (
        *contract.ITEM_NAMES,
        "clinical_fte",
        "call_nights_per_month",
        "ehr_after_hours_per_week",
        "inbox_messages_per_day",
    ):
        df[col] = df[col].astype("float64")
    df["itl"] = (df["intent_to_leave"] >= contract.ITL_THRESHOLD).astype("float64")
    return df


def write_csv(sim: Simulation, path: str | Path) -> Path:
    """The canonical CSV (contract field names; no truth columns; leave reasons ';'-separated)."""
    path = Path(path)
    cols = [f for f in contract.FIELD_NAMES if f in sim.frame.columns]
    out = sim.frame[cols].copy()
    out["intent_to_reduce_fte"] = np.where(out["intent_to_reduce_fte"], "yes", "no")
    out.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def load(sims: list[Simulation], db: str | Path, tmp_dir: str | Path) -> list:
    """Write each wave's CSV and load it through the ingest path; returns the IngestResults."""
    from pipelines.ingest.load import ingest

    results = []
    for i, sim in enumerate(sims):
        wave = str(sim.frame["wave"].iloc[0])
        path = write_csv(sim, Path(tmp_dir) / f"ground_truth_{i}_{wave}.csv")
        result = ingest(path, wave=wave, db=db)
        if result.status == "rejected":
            raise RuntimeError(f"ground-truth wave {wave} was rejected: {result.errors[:3]}")
        results.append(result)
    return results
