"""A synthetic sample health system: survey waves in the canonical CSV format plus a headcount roster.

Entirely synthetic; no row describes a real person. Five sites, 38 departments and the five roles,
with drivers (night call, after-hours EHR, inbox, clinical FTE) that depend on department and role,
eleven well-being items driven by two latent factors (strain and culture) plus site and department
effects, intent to leave drawn from a logistic model with published-range effect sizes
(REFERENCE.md: burnout OR about 2.6, feeling valued protective), and leave paths and reasons that
follow each person's drivers. Everything is vectorised numpy, so a million rows take seconds.

`generate` returns the data; `write_sample` writes `wave_<label>.csv` per wave plus `headcount.csv`;
`register` adds the `sample` CLI command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import contract
from pipelines.models import assumptions

LAST_WAVE_YEAR = 2026
PREFER_NOT = "Prefer not to answer"
# Share of missing item (and intent-to-leave) answers written as the text PREFER_NOT, not blank.
PREFER_NOT_SHARE = 0.2
# Per-column missing rates are drawn from this range (MCAR).
MISSING_RATE_RANGE = (0.04, 0.065)

# Replacement cost per role (US dollars) and where each figure comes from.
REPLACEMENT_COST: dict[str, int] = {
    role: int(cost) for role, (cost, _source) in assumptions.REPLACEMENT_COST_SOURCES.items()
}
REPLACEMENT_COST_SOURCES: dict[str, str] = {
    role: source for role, (_cost, source) in assumptions.REPLACEMENT_COST_SOURCES.items()
}


# --------------------------------------------------------------------------------------------
# Organisation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    name: str
    weight: float  # share of the system's respondents
    academic: bool  # has residents
    strain: float  # site effect on the strain factor (higher = worse)
    culture: float  # site effect on the culture factor (higher = worse)


@dataclass(frozen=True)
class Department:
    site: str
    name: str
    kind: str  # key of ROLE_MIX
    size: float  # relative size within its site
    call: float  # mean physician call nights a month
    ehr: float  # mean physician after-hours EHR hours a week
    inbox: float  # mean physician inbox messages a day
    strain: float = 0.0  # fixed effect on strain (hotspots), added to a random one
    culture: float = 0.0  # fixed effect on culture, added to a random one


SITES: tuple[Site, ...] = (
    Site("Riverside Medical Center", 0.34, True, 0.10, 0.00),
    Site("North Campus", 0.18, False, 0.00, -0.10),
    Site("Lakeview Community Hospital", 0.16, False, 0.15, 0.25),
    Site("Eastgate Clinics", 0.17, False, 0.05, 0.10),
    Site("St. Brendan's Children's", 0.15, True, -0.15, -0.20),
)

_R, _N, _L, _E, _B = (s.name for s in SITES)
DEPARTMENTS: tuple[Department, ...] = (
    Department(_R, "Emergency Medicine", "emergency", 1.2, 0.5, 2.5, 2),
    Department(_R, "Hospital Medicine", "inpatient", 1.2, 4.0, 3.5, 5, strain=0.35),
    Department(_R, "General Surgery", "procedural", 1.0, 6.5, 3.5, 8),
    Department(_R, "Obstetrics & Gynecology", "procedural", 0.9, 6.0, 4.0, 14),
    Department(_R, "Anesthesiology", "anesthesia", 0.9, 5.5, 1.5, 2),
    Department(_R, "Primary Care", "ambulatory", 1.0, 0.5, 8.5, 45),
    Department(_R, "ICU", "critical", 1.1, 4.5, 3.0, 3),
    Department(_R, "Oncology", "specialty", 0.8, 1.5, 6.0, 28),
    Department(_R, "Cardiology", "specialty", 0.8, 3.5, 5.0, 22),
    Department(_R, "Psychiatry", "behavioral", 0.6, 1.5, 5.0, 12),
    Department(_R, "Radiology", "imaging", 0.5, 2.0, 4.0, 5),
    Department(_N, "Emergency Medicine", "emergency", 1.2, 0.5, 2.5, 2),
    Department(_N, "Hospital Medicine", "inpatient", 1.1, 4.0, 3.5, 5),
    Department(_N, "General Surgery", "procedural", 0.9, 6.0, 3.5, 8),
    Department(_N, "Obstetrics & Gynecology", "procedural", 0.8, 6.5, 4.0, 14, strain=0.2),
    Department(_N, "Anesthesiology", "anesthesia", 0.6, 5.0, 1.5, 2),
    Department(_N, "ICU", "critical", 0.9, 4.5, 3.0, 3),
    Department(_N, "Orthopedics", "procedural", 0.6, 4.0, 3.5, 12),
    Department(_N, "Cardiology", "specialty", 0.5, 3.5, 5.0, 22),
    Department(_L, "Emergency Medicine", "emergency", 1.2, 0.5, 2.5, 2, culture=0.6),
    Department(_L, "Hospital Medicine", "inpatient", 1.0, 4.5, 3.5, 5),
    Department(_L, "General Surgery", "procedural", 0.7, 7.0, 3.5, 8),
    Department(_L, "Obstetrics & Gynecology", "procedural", 0.7, 6.5, 4.0, 14),
    Department(_L, "Primary Care", "ambulatory", 0.9, 0.5, 8.0, 42),
    Department(_L, "ICU", "critical", 0.7, 4.0, 3.0, 3),
    Department(_L, "Psychiatry", "behavioral", 0.5, 1.5, 5.0, 12),
    Department(_E, "Primary Care", "ambulatory", 1.6, 0.5, 9.0, 48, strain=0.3),
    Department(_E, "Internal Medicine", "ambulatory", 1.0, 0.5, 8.0, 42),
    Department(_E, "Pediatrics", "ambulatory", 0.9, 1.0, 6.5, 30),
    Department(_E, "Dermatology", "ambulatory", 0.4, 0.3, 4.5, 25),
    Department(_E, "Endocrinology", "ambulatory", 0.4, 0.5, 6.5, 35),
    Department(_E, "Urgent Care", "urgent", 0.7, 0.0, 2.5, 6),
    Department(_E, "Behavioral Health", "behavioral", 0.6, 0.5, 5.0, 15),
    Department(_B, "Pediatric Emergency Medicine", "emergency", 1.0, 0.5, 2.5, 2),
    Department(_B, "Pediatric Hospital Medicine", "inpatient", 1.0, 3.5, 3.5, 5),
    Department(_B, "Neonatal ICU", "critical", 1.1, 4.5, 3.0, 3),
    Department(_B, "Pediatric ICU", "critical", 0.8, 4.0, 3.0, 3),
    Department(_B, "Pediatric Surgery", "procedural", 0.6, 5.5, 3.5, 8),
)

# Role mix of a department by kind, in contract.ROLES order (physician, app, nurse, resident, other).
ROLE_MIX: dict[str, tuple[float, ...]] = {
    "emergency": (0.24, 0.14, 0.54, 0.0, 0.08),
    "inpatient": (0.26, 0.12, 0.54, 0.0, 0.08),
    "procedural": (0.30, 0.11, 0.55, 0.0, 0.04),
    "anesthesia": (0.38, 0.34, 0.25, 0.0, 0.03),
    "ambulatory": (0.31, 0.20, 0.40, 0.0, 0.09),
    "specialty": (0.28, 0.14, 0.48, 0.0, 0.10),
    "critical": (0.14, 0.03, 0.72, 0.0, 0.11),
    "imaging": (0.52, 0.02, 0.16, 0.0, 0.30),
    "behavioral": (0.30, 0.14, 0.28, 0.0, 0.28),
    "urgent": (0.22, 0.32, 0.38, 0.0, 0.08),
}
# Residents/fellows at academic sites, as a share of the department added to the mix above.
RESIDENT_SHARE: dict[str, float] = {
    "emergency": 0.16,
    "inpatient": 0.20,
    "procedural": 0.18,
    "anesthesia": 0.14,
    "ambulatory": 0.05,
    "specialty": 0.12,
    "critical": 0.07,
    "imaging": 0.10,
    "behavioral": 0.10,
    "urgent": 0.0,
}
# Specialty of physicians, APPs and residents by department (nurses and other clinical below).
SPECIALTIES: dict[str, tuple[str, ...]] = {
    "Emergency Medicine": ("Emergency medicine",),
    "Pediatric Emergency Medicine": ("Pediatric emergency medicine",),
    "Hospital Medicine": ("Internal medicine", "Family medicine"),
    "Pediatric Hospital Medicine": ("Pediatrics",),
    "General Surgery": ("General surgery", "Trauma surgery", "Colorectal surgery"),
    "Pediatric Surgery": ("Pediatric surgery",),
    "Obstetrics & Gynecology": ("Obstetrics", "Gynecology", "Maternal-fetal medicine"),
    "Anesthesiology": ("Anesthesiology", "Nurse anesthesia"),
    "Primary Care": ("Family medicine", "Internal medicine"),
    "Internal Medicine": ("Internal medicine",),
    "Pediatrics": ("Pediatrics",),
    "Dermatology": ("Dermatology",),
    "Endocrinology": ("Endocrinology",),
    "Urgent Care": ("Family medicine", "Emergency medicine"),
    "ICU": ("Critical care", "Pulmonology"),
    "Neonatal ICU": ("Neonatology",),
    "Pediatric ICU": ("Pediatric critical care",),
    "Oncology": ("Medical oncology", "Hematology", "Radiation oncology"),
    "Cardiology": ("Cardiology", "Interventional cardiology"),
    "Psychiatry": ("Psychiatry",),
    "Behavioral Health": ("Psychiatry", "Psychology"),
    "Orthopedics": ("Orthopedic surgery",),
    "Radiology": ("Diagnostic radiology", "Interventional radiology"),
}
NURSE_SPECIALTY = "Nursing"
OTHER_SPECIALTIES = (
    "Pharmacy",
    "Respiratory therapy",
    "Social work",
    "Physical therapy",
)

# Per-role multipliers of the department's physician driver levels.
CALL_MULT = np.array([1.0, 0.55, 0.2, 1.25, 0.1])
EHR_MULT = np.array([1.0, 0.85, 0.25, 1.1, 0.2])
INBOX_MULT = np.array([1.0, 0.75, 0.45, 0.5, 0.25])
ROLE_STRAIN = np.array([-0.1, -0.05, 0.3, 0.0, -0.15])
ROLE_ITL = np.array([-0.1, 0.3, 0.8, -0.1, 0.1])

# Age band probabilities by role (contract.AGE_BANDS order).
AGE_BY_ROLE = np.array(
    [
        [0.10, 0.32, 0.28, 0.21, 0.09],
        [0.30, 0.35, 0.20, 0.12, 0.03],
        [0.28, 0.25, 0.20, 0.19, 0.08],
        [0.88, 0.12, 0.00, 0.00, 0.00],
        [0.30, 0.28, 0.20, 0.16, 0.06],
    ]
)
# Tenure band probabilities by age band (contract.TENURE_BANDS order); residents override below.
TENURE_BY_AGE = np.array(
    [
        [0.35, 0.45, 0.18, 0.02, 0.00],
        [0.15, 0.30, 0.30, 0.23, 0.02],
        [0.10, 0.20, 0.25, 0.30, 0.15],
        [0.07, 0.15, 0.20, 0.28, 0.30],
        [0.05, 0.10, 0.15, 0.30, 0.40],
    ]
)
RESIDENT_TENURE = np.array([0.45, 0.55, 0.0, 0.0, 0.0])
# Gender probabilities by role (contract.GENDERS order).
GENDER_BY_ROLE = np.array(
    [
        [0.46, 0.50, 0.01, 0.03],
        [0.72, 0.25, 0.01, 0.02],
        [0.86, 0.11, 0.01, 0.02],
        [0.50, 0.47, 0.01, 0.02],
        [0.68, 0.29, 0.01, 0.02],
    ]
)
FTE_VALUES = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5])
FTE_BY_ROLE = np.array(
    [
        [0.50, 0.17, 0.15, 0.06, 0.07, 0.05],
        [0.62, 0.12, 0.12, 0.05, 0.05, 0.04],
        [0.58, 0.12, 0.14, 0.05, 0.06, 0.05],
        [1.00, 0.00, 0.00, 0.00, 0.00, 0.00],
        [0.60, 0.10, 0.15, 0.05, 0.05, 0.05],
    ]
)

# --------------------------------------------------------------------------------------------
# Well-being items: latent y = a*strain + b*culture + driver terms + noise*e, cut at thresholds.
# The thresholds were calibrated once on a large draw so the pooled 2024-2026 distributions match
# the targets in sample_data/README.md (e.g. burnout >= 3 about 47%). For "higher is worse" items
# (burnout_level, stress) a higher y gives a higher code; for the others y is already oriented so
# that higher y = better = higher code.
# --------------------------------------------------------------------------------------------
ITEM_THRESHOLDS: dict[str, tuple[float, float, float, float]] = {
    "burnout_level": (-0.542, 0.451, 1.338, 1.971),
    "stress": (-1.527, -0.585, 0.339, 1.442),
    "satisfaction": (-1.91, -1.057, -0.409, 0.903),
    "work_control": (-1.565, -0.725, 0.237, 1.156),
    "documentation_time": (-1.409, -0.643, 0.175, 0.971),
    "ehr_home_time": (-1.55, -0.831, -0.156, 0.399),
    "ehr_frustration": (-1.215, -0.416, 0.241, 0.898),
    "teamwork": (-1.695, -0.934, 0.017, 1.07),
    "values_alignment": (-1.571, -0.756, 0.136, 1.254),
    "work_atmosphere": (-1.306, -0.441, 0.528, 1.29),
    "feel_valued": (-1.317, -0.479, 0.138, 1.266),
}


def _item_latent(
    name: str,
    strain: np.ndarray,
    culture: np.ndarray,
    d: dict[str, np.ndarray],
    e: np.ndarray,
) -> np.ndarray:
    """Latent score of one item (higher = higher code)."""
    s, c = strain, culture
    if name == "burnout_level":
        return s + 0.55 * e
    if name == "stress":
        return 0.9 * s + 0.2 * c + 0.7 * e
    if name == "satisfaction":
        return -(0.6 * s + 0.5 * c) + 0.7 * e
    if name == "work_control":
        return -(0.55 * s + 0.2 * c + 0.06 * d["call"] + 0.4 * (d["fte"] - 0.8)) + 0.8 * e
    if name == "documentation_time":
        return -(0.4 * s + 0.12 * d["ehr"]) + 0.8 * e
    if name == "ehr_home_time":
        return -(0.2 * s + 0.25 * d["ehr"]) + 0.7 * e
    if name == "ehr_frustration":
        return -(0.3 * s + 0.08 * d["ehr"] + 0.01 * d["inbox"]) + 0.9 * e
    if name == "teamwork":
        return -(0.2 * s + 0.6 * c) + 0.8 * e
    if name == "values_alignment":
        return -(0.15 * s + 0.8 * c) + 0.7 * e
    if name == "work_atmosphere":
        return -(0.5 * s + 0.3 * c) + 0.8 * e
    if name == "feel_valued":
        return -(0.2 * s + 0.75 * c) + 0.7 * e
    raise KeyError(name)


# Target pooled distributions (codes 1..5) used to calibrate ITEM_THRESHOLDS.
ITEM_TARGETS: dict[str, tuple[float, ...]] = {
    "burnout_level": (0.20, 0.32, 0.28, 0.12, 0.08),
    "stress": (0.06, 0.16, 0.28, 0.32, 0.18),
    "satisfaction": (0.07, 0.16, 0.20, 0.40, 0.17),
    "work_control": (0.12, 0.23, 0.35, 0.22, 0.08),
    "documentation_time": (0.15, 0.25, 0.33, 0.20, 0.07),
    "ehr_home_time": (0.15, 0.22, 0.30, 0.20, 0.13),
    "ehr_frustration": (0.20, 0.28, 0.25, 0.17, 0.10),
    "teamwork": (0.06, 0.14, 0.32, 0.33, 0.15),
    "values_alignment": (0.08, 0.17, 0.30, 0.32, 0.13),
    "work_atmosphere": (0.14, 0.26, 0.35, 0.17, 0.08),
    "feel_valued": (0.12, 0.22, 0.22, 0.32, 0.12),
}


def wave_labels(waves: int) -> list[str]:
    """Wave labels ending in LAST_WAVE_YEAR, counting back: 3 -> ['2024', '2025', '2026']."""
    return [str(LAST_WAVE_YEAR - waves + 1 + i) for i in range(waves)]


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` (rows sum to 1): the chosen column index."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1).clip(0, probs.shape[1] - 1)


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _units() -> pd.DataFrame:
    """The (site, department, role) units and each one's expected share of respondents."""
    site_by_name = {s.name: s for s in SITES}
    rows = []
    for dept_index, dept in enumerate(DEPARTMENTS):
        site = site_by_name[dept.site]
        mix = np.array(ROLE_MIX[dept.kind], dtype=float)
        if site.academic:
            mix[3] = RESIDENT_SHARE[dept.kind]
        mix = mix / mix.sum()
        site_size = sum(d.size for d in DEPARTMENTS if d.site == dept.site)
        for role_index, share in enumerate(mix):
            if share > 0:
                weight = site.weight * dept.size / site_size * share
                rows.append((dept_index, role_index, weight))
    units = pd.DataFrame(rows, columns=["dept_index", "role_index", "weight"])
    units["weight"] /= units["weight"].sum()
    return units


def _structure(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Department effects (fixed hotspots plus random variation)."""
    n = len(DEPARTMENTS)
    site_index = {s.name: i for i, s in enumerate(SITES)}
    return {
        "dept_site": np.array([site_index[d.site] for d in DEPARTMENTS]),
        "dept_strain": np.array([d.strain for d in DEPARTMENTS]) + rng.normal(0, 0.15, n),
        "dept_culture": np.array([d.culture for d in DEPARTMENTS]) + rng.normal(0, 0.25, n),
        "dept_call": np.array([d.call for d in DEPARTMENTS]),
        "dept_ehr": np.array([d.ehr for d in DEPARTMENTS]),
        "dept_inbox": np.array([d.inbox for d in DEPARTMENTS]),
        "site_strain": np.array([s.strain for s in SITES]),
        "site_culture": np.array([s.culture for s in SITES]),
    }


def _people(
    rng: np.random.Generator,
    dept: np.ndarray,
    role: np.ndarray,
    year: np.ndarray,
    st: dict,
) -> dict[str, np.ndarray]:
    """Demographics, work-pattern drivers and the two latent factors, vectorised."""
    n = len(dept)
    site = st["dept_site"][dept]
    # Improvement over time (a well-being programme): 2024 is the reference year.
    period = np.clip(year - 2024, -3, 2).astype(float)

    age = _pick(rng, AGE_BY_ROLE[role])
    tenure = _pick(rng, TENURE_BY_AGE[age])
    is_res = role == 3
    tenure[is_res] = _pick(rng, np.broadcast_to(RESIDENT_TENURE, (int(is_res.sum()), 5)))
    gender = _pick(rng, GENDER_BY_ROLE[role])

    fte_probs = FTE_BY_ROLE[role].copy()
    fte_probs[age >= 4] = [0.30, 0.10, 0.20, 0.10, 0.15, 0.15]  # 65+: more part-time
    fte = FTE_VALUES[_pick(rng, fte_probs)]

    # Drivers: gamma-Poisson call nights, gamma after-hours EHR and inbox.
    call_mean = st["dept_call"][dept] * CALL_MULT[role] * fte
    call = rng.poisson(rng.gamma(2.0, 1.0, n) * call_mean / 2.0).clip(0, 31)
    ehr_mean = st["dept_ehr"][dept] * EHR_MULT[role] * (0.5 + 0.5 * fte) * (1 - 0.04 * period)
    ehr = np.round(rng.gamma(2.5, 1.0, n) * ehr_mean / 2.5, 1).clip(0, 80)
    inbox_mean = st["dept_inbox"][dept] * INBOX_MULT[role] * (0.4 + 0.6 * fte)
    inbox = np.round(rng.gamma(3.0, 1.0, n) * inbox_mean / 3.0, 1).clip(0, 500)

    z1 = rng.standard_normal(n)
    z2 = rng.standard_normal(n)
    load = 0.08 * call + 0.07 * ehr + 0.005 * inbox
    strain = st["site_strain"][site] + st["dept_strain"][dept] + ROLE_STRAIN[role] + load - 0.07 * period + 0.9 * z1
    culture = st["site_culture"][site] + st["dept_culture"][dept] - 0.05 * period + 0.45 * z1 + 0.85 * z2
    return {
        "site": site,
        "role": role,
        "period": period,
        "age": age,
        "tenure": tenure,
        "gender": gender,
        "fte": fte,
        "call": call,
        "ehr": ehr,
        "inbox": inbox,
        "strain": strain,
        "culture": culture,
    }


def _answers(rng: np.random.Generator, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Items, intentions, leave path and reasons from the people drawn by `_people`."""
    n = len(p["role"])
    role, age, tenure, gender = p["role"], p["age"], p["tenure"], p["gender"]
    fte, call, ehr, inbox, period = (
        p["fte"],
        p["call"],
        p["ehr"],
        p["inbox"],
        p["period"],
    )
    strain, culture = p["strain"], p["culture"]
    is_res = role == 3
    items: dict[str, np.ndarray] = {}
    for name in contract.ITEM_NAMES:
        y = _item_latent(name, strain, culture, p, rng.standard_normal(n))
        items[name] = 1 + np.searchsorted(np.array(ITEM_THRESHOLDS[name]), y)

    burned = items["burnout_level"] >= 3
    valued_unfav = items["feel_valued"] <= 2
    control_unfav = items["work_control"] <= 2
    values_unfav = items["values_alignment"] <= 2

    # Intent to leave: ordered logit whose ITL (>= 3) cut is a logistic model of burnout and drivers.
    itl_logit = (
        -2.1
        + 0.55 * burned
        + 0.55 * valued_unfav
        + 0.30 * control_unfav
        + 0.40 * values_unfav
        + 0.07 * call
        + 0.05 * ehr
        + 0.25 * (fte < 0.8)
        + ROLE_ITL[role]
        + 0.20 * (age == 0)
        + 0.35 * (age == 4)
        + 0.15 * (tenure == 0)
        - 0.12 * period
    )
    latent = itl_logit + rng.logistic(size=n)
    itl = 1 + np.searchsorted(np.array([-1.4, 0.0, 1.3, 2.6]), latent)
    has_itl = itl >= contract.ITL_THRESHOLD

    reduce_logit = (
        -1.45
        + 0.75 * burned
        + 0.35 * control_unfav
        + 0.03 * call
        + 0.4 * (age >= 3)
        + 0.25 * ((age == 1) & (gender == 0))
        - 0.6 * (fte <= 0.6)
        - 0.8 * is_res
    )
    reduce = rng.random(n) < _logistic(reduce_logit)

    # Reasons: propensities from each person's drivers (columns in contract.LEAVE_REASONS order).
    nurse = role == 2
    reason_logit = np.column_stack(
        [
            -2.0 + 2.2 * burned,  # burnout
            -2.3 + 0.28 * ehr + 0.015 * inbox,  # ehr_admin
            -2.6 + 0.45 * call,  # call_schedule
            -1.6 + 1.3 * control_unfav + 0.5 * nurse,  # workload_staffing
            -2.2 + 0.8 * (age == 1) + 0.3 * (age == 2) + 0.4 * (gender == 0),  # family_caregiving
            -2.8 + 0.6 * (age >= 3) + 0.6 * burned,  # own_health
            -2.4 + 0.5 * (age == 0),  # geography
            -2.1 + 0.8 * (age == 0) + 0.5 * (tenure <= 1) + 0.4 * is_res,  # career_growth
            -1.5 + 0.4 * (nurse | (role == 1)),  # compensation
            -2.1 + 1.2 * values_unfav + 1.0 * valued_unfav,  # leadership_culture
        ]
    )
    reason_p = _logistic(reason_logit)
    reasons = rng.random(reason_p.shape) < reason_p
    r = {name: reasons[:, i] for i, name in enumerate(contract.LEAVE_REASONS)}

    # Leave path: multinomial logit (Gumbel-max) in contract.LEAVE_PATHS order.
    path_score = np.column_stack(
        [
            np.where(has_itl, -1.0, 3.0) - 1.2 * reduce,  # stay
            1.6 * reduce + 0.8 * r["family_caregiving"] + 0.8 * r["own_health"] + 0.3 * r["call_schedule"],
            -1.5 + 1.2 * r["family_caregiving"] + 1.2 * r["own_health"] + 0.5 * r["burnout"],
            -0.5 + 1.8 * has_itl + 1.0 * r["geography"] + 0.9 * r["compensation"] + 0.8 * r["leadership_culture"],
            -1.5 + 0.6 * has_itl + 1.6 * r["career_growth"] + 0.4 * r["ehr_admin"],
            -1.9 + 0.8 * has_itl + 0.7 * r["burnout"] + 0.5 * r["ehr_admin"] + 0.2 * burned,
            -4.0 + 3.2 * (age == 3) + 5.5 * (age == 4) + 1.0 * has_itl - 3.0 * is_res,
        ]
    )
    path = np.argmax(path_score + rng.gumbel(size=path_score.shape), axis=1)

    # Reasons are asked of anyone considering a change; stayers with no intent leave them empty.
    asked = has_itl | reduce | (path != 0)
    none_picked = asked & ~reasons.any(axis=1)
    if none_picked.any():  # at least one reason: the most likely one, with some noise
        top = np.argmax(
            reason_logit[none_picked] + rng.gumbel(size=(int(none_picked.sum()), 10)),
            axis=1,
        )
        reasons[np.flatnonzero(none_picked), top] = True
    reasons[~asked] = False

    return {
        "items": items,
        "itl": itl,
        "reduce": reduce,
        "path": path,
        "reasons": reasons,
    }


def _specialty(rng: np.random.Generator, role: np.ndarray, dept: np.ndarray) -> np.ndarray:
    """A specialty per respondent, from the department and role."""
    u = rng.random(len(role))
    out = np.empty(len(role), dtype=object)
    for d_index, d in enumerate(DEPARTMENTS):
        sel = dept == d_index
        options = np.array(SPECIALTIES[d.name], dtype=object)
        out[sel] = options[(u[sel] * len(options)).astype(int)]
    out[role == 2] = NURSE_SPECIALTY
    other = role == 4
    options = np.array(OTHER_SPECIALTIES, dtype=object)
    out[other] = options[(u[other] * len(options)).astype(int)]
    return out


def _text(values: np.ndarray, missing: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Object array -> pandas string array with missing cells as NA."""
    out = values.astype(object)
    out[missing] = None
    return pd.array(out, dtype="str")


def _calibrate_thresholds(seed: int = 12345, n: int = 600_000) -> dict[str, tuple[float, ...]]:
    """Development helper: item thresholds that reproduce ITEM_TARGETS on a pooled 2024-2026 draw.

    Run once after changing the latent model and paste the result into ITEM_THRESHOLDS.
    """
    rng = np.random.default_rng(seed)
    units = _units()
    st = _structure(rng)
    idx = rng.choice(len(units), size=n, p=units["weight"].to_numpy())
    dept = units["dept_index"].to_numpy()[idx]
    role = units["role_index"].to_numpy()[idx]
    people = _people(rng, dept, role, rng.integers(2024, 2027, n), st)
    out = {}
    for name in contract.ITEM_NAMES:
        y = _item_latent(name, people["strain"], people["culture"], people, rng.standard_normal(n))
        cuts = np.cumsum(ITEM_TARGETS[name])[:-1]
        out[name] = tuple(round(float(q), 3) for q in np.quantile(y, cuts))
    return out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def _reason_strings() -> np.ndarray:
    """Lookup from a reasons bitmask (bit i = contract.LEAVE_REASONS[i]) to the ';'-joined codes."""
    k = len(contract.LEAVE_REASONS)
    table = np.empty(2**k, dtype=object)
    for mask in range(2**k):
        table[mask] = ";".join(r for i, r in enumerate(contract.LEAVE_REASONS) if mask >> i & 1)
    table[0] = None
    return table


def generate(
    respondents_per_wave: int = 3000, waves: int = 3, seed: int = 7
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Synthetic survey waves and a headcount roster.

    Returns ({wave label: responses}, roster). Each responses frame has exactly the columns
    contract.FIELD_NAMES and holds the values as the canonical CSV writes them (item codes as text,
    some missing item answers as "Prefer not to answer", other missing cells NA), so
    `frame.to_csv(index=False)` is the canonical file. Deterministic for a seed.
    """
    if respondents_per_wave < 1:
        raise ValueError("respondents_per_wave must be at least 1")
    if not 1 <= waves <= 20:
        raise ValueError("waves must be between 1 and 20")
    # Independent streams per stage, so tuning one stage leaves the others' draws unchanged.
    streams = np.random.SeedSequence(seed).spawn(6)
    r_structure, r_counts, r_people, r_answers, r_specialty, r_missing = (np.random.default_rng(s) for s in streams)
    units = _units()
    st = _structure(r_structure)
    labels = wave_labels(waves)
    n_units = len(units)
    weights = units["weight"].to_numpy()

    # Headcount per unit from its expected respondents and a response rate of 50-70%; each wave's
    # respondents are then drawn without replacement from the units' willing staff, so every unit
    # answers at a plausible rate and never reaches its headcount.
    rate = r_counts.uniform(0.50, 0.70, n_units)
    headcount = np.ceil(respondents_per_wave * weights / rate).astype(np.int64) + 1
    willing = np.minimum(np.ceil(headcount * rate * 1.25).astype(np.int64), headcount - 1)
    if willing.sum() < respondents_per_wave:
        willing = headcount - 1  # sums to at least respondents_per_wave by construction
    counts = np.stack([r_counts.multivariate_hypergeometric(willing, respondents_per_wave) for _ in range(waves)])
    unit = np.concatenate([r_counts.permutation(np.repeat(np.arange(n_units), counts[w])) for w in range(waves)])
    wave = np.repeat(np.arange(waves), respondents_per_wave)
    year = np.array([int(label) for label in labels])[wave]
    dept = units["dept_index"].to_numpy()[unit]
    role = units["role_index"].to_numpy()[unit]
    n = len(unit)

    people = _people(r_people, dept, role, year, st)
    answers = _answers(r_answers, people)
    specialty = _specialty(r_specialty, role, dept)

    # Missing answers (MCAR), per column; site, department, role and leave_reasons excluded.
    optional = [f for f in contract.FIELD_NAMES if f not in (*contract.DIMENSIONS, "leave_reasons")]
    rates = r_missing.uniform(*MISSING_RATE_RANGE, len(optional))
    missing = {name: r_missing.random(n) < rate for name, rate in zip(optional, rates, strict=True)}

    site_names = np.array([s.name for s in SITES], dtype=object)
    dept_names = np.array([d.name for d in DEPARTMENTS], dtype=object)
    roles = np.array(contract.ROLES, dtype=object)
    no_missing = np.zeros(n, dtype=bool)
    columns: dict[str, object] = {
        "site": _text(site_names[people["site"]], no_missing),
        "department": _text(dept_names[dept], no_missing),
        "role": _text(roles[role], no_missing),
        "specialty": _text(specialty, missing["specialty"]),
        "tenure_band": _text(
            np.array(contract.TENURE_BANDS, dtype=object)[people["tenure"]],
            missing["tenure_band"],
        ),
        "age_band": _text(
            np.array(contract.AGE_BANDS, dtype=object)[people["age"]],
            missing["age_band"],
        ),
        "gender": _text(
            np.array(contract.GENDERS, dtype=object)[people["gender"]],
            missing["gender"],
        ),
        "clinical_fte": pd.arrays.FloatingArray(people["fte"].astype(float), missing["clinical_fte"]),
        "call_nights_per_month": pd.arrays.IntegerArray(
            people["call"].astype(np.int64), missing["call_nights_per_month"]
        ),
        "ehr_after_hours_per_week": pd.arrays.FloatingArray(
            people["ehr"].astype(float), missing["ehr_after_hours_per_week"]
        ),
        "inbox_messages_per_day": pd.arrays.FloatingArray(
            people["inbox"].astype(float), missing["inbox_messages_per_day"]
        ),
    }
    code_text = np.array(["", "1", "2", "3", "4", "5"], dtype=object)
    scored = {**answers["items"], "intent_to_leave": answers["itl"]}
    for name in (*contract.ITEM_NAMES, "intent_to_leave"):
        token = missing[name] & (r_missing.random(n) < PREFER_NOT_SHARE)
        out = code_text[scored[name]]
        out[token] = PREFER_NOT
        columns[name] = _text(out, missing[name] & ~token)
    columns["intent_to_reduce_fte"] = _text(
        np.where(answers["reduce"], "yes", "no").astype(object),
        missing["intent_to_reduce_fte"],
    )
    columns["leave_path"] = _text(
        np.array(contract.LEAVE_PATHS, dtype=object)[answers["path"]],
        missing["leave_path"],
    )
    bits = answers["reasons"].astype(np.int64) @ (1 << np.arange(len(contract.LEAVE_REASONS)))
    reason_text = _reason_strings()[bits]
    columns["leave_reasons"] = _text(reason_text, pd.isna(reason_text))

    frame = pd.DataFrame({name: columns[name] for name in contract.FIELD_NAMES})
    bounds = np.arange(waves + 1) * respondents_per_wave
    responses = {label: frame.iloc[bounds[w] : bounds[w + 1]].reset_index(drop=True) for w, label in enumerate(labels)}

    roster = pd.DataFrame(
        {
            "site": pd.array(site_names[st["dept_site"][units["dept_index"]]], dtype="str"),
            "department": pd.array(dept_names[units["dept_index"]], dtype="str"),
            "role": pd.array(roles[units["role_index"]], dtype="str"),
            "headcount": headcount,
            "replacement_cost": [REPLACEMENT_COST[r] for r in roles[units["role_index"]]],
        }
    )
    return responses, roster


def write_sample(out_dir: str | Path, respondents_per_wave: int = 3000, waves: int = 3, seed: int = 7) -> list[Path]:
    """Write wave_<label>.csv per wave and headcount.csv into out_dir; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    responses, roster = generate(respondents_per_wave, waves, seed)
    written = []
    for label, frame in responses.items():
        path = out / f"wave_{label}.csv"
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        written.append(path)
    path = out / "headcount.csv"
    roster.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# Realism summary (re-reads written files; used by the CLI and for sample_data/README.md)
# --------------------------------------------------------------------------------------------
def read_wave(path: str | Path) -> pd.DataFrame:
    """Read a canonical wave CSV back with codes as numbers and missing tokens as NA."""
    frame = pd.read_csv(path, na_values=[PREFER_NOT], keep_default_na=True)
    return frame


def odds_ratio(exposed: pd.Series, outcome: pd.Series) -> float:
    """Plain 2x2 odds ratio of outcome for exposed vs not, on rows where both are known."""
    known = exposed.notna() & outcome.notna()
    e = exposed[known].astype(bool)
    o = outcome[known].astype(bool)
    a, b = int((e & o).sum()), int((e & ~o).sum())
    c, d = int((~e & o).sum()), int((~e & ~o).sum())
    return (a * d) / (b * c) if b * c else float("inf")


def _flag(values: pd.Series, op: str, threshold: int) -> pd.Series:
    flag = values >= threshold if op == ">=" else values <= threshold
    return flag.where(values.notna())


def realism(out_dir: str | Path) -> dict[str, dict[str, float]]:
    """Realism figures per wave file in out_dir: rates, odds ratios, missingness, response rate."""
    out = Path(out_dir)
    roster = pd.read_csv(out / "headcount.csv")
    figures: dict[str, dict[str, float]] = {}
    for path in sorted(out.glob("wave_*.csv")):
        frame = read_wave(path)
        burned = _flag(frame["burnout_level"], ">=", 3)
        itl = _flag(frame["intent_to_leave"], ">=", contract.ITL_THRESHOLD)
        unvalued = _flag(frame["feel_valued"], "<=", 2)
        reduce = (frame["intent_to_reduce_fte"] == "yes").where(frame["intent_to_reduce_fte"].notna())
        by_role = itl.groupby(frame["role"]).mean()
        checked = [c for c in contract.FIELD_NAMES if c not in (*contract.DIMENSIONS, "leave_reasons")]
        missing = frame[checked].isna().mean()
        units = frame.groupby(["site", "department", "role"]).size()
        figures[path.stem.removeprefix("wave_")] = {
            "respondents": float(len(frame)),
            "response_rate": len(frame) / float(roster["headcount"].sum()),
            "burnout_rate": float(burned.mean()),
            "itl_rate": float(itl.mean()),
            "reduce_fte_rate": float(reduce.mean()),
            "itl_nurse": float(by_role.get("nurse", np.nan)),
            "itl_app": float(by_role.get("app", np.nan)),
            "itl_physician": float(by_role.get("physician", np.nan)),
            "or_itl_burnout": odds_ratio(burned, itl),
            "or_itl_not_valued": odds_ratio(unvalued, itl),
            "missing_min": float(missing.min()),
            "missing_max": float(missing.max()),
            "units": float(len(units)),
            "units_under_5": float((units < 5).sum()),
        }
    return figures
