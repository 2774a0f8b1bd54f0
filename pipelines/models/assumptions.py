"""Editable modelling assumptions (conversion rates, replacement costs, programme costs, retention
rates), each registered in the settings store with a plain-words description and its source.

Importing this module registers the settings; `risk`, `drivers` and `scenarios` import it, so the
Settings page and the CLI see them as soon as any model module is loaded. Figures come from
REFERENCE.md; figures that have no published source say "Assumption" and should be replaced by
local HR or finance numbers.
"""

from __future__ import annotations

from typing import Any

import duckdb

from pipelines import contract
from pipelines.store import settings
from pipelines.store.settings import Setting

ASSUMPTION = "Assumption (no published figure in REFERENCE.md); replace with your own HR/finance figure."

# Two-year conversion of stated intent to actual departure (METHODS.md, REFERENCE.md).
P_LEAVE_ITL = "p_leave_given_itl"
P_LEAVE_NO_ITL = "p_leave_given_no_itl"
HAMIDI = (
    "Derived from Hamidi et al. 2018, BMC Health Serv Res (doi:10.1186/s12913-018-3663-z): 28% stated "
    "intent to leave, 13% left within two years, ITL holders about 3x as likely to leave (a derivation, "
    "not a published figure)."
)

# Replacement cost per departure, by role.
REPLACEMENT_COST_SOURCES: dict[str, tuple[float, str]] = {
    "physician": (
        750_000.0,
        "Midpoint of $500k-$1M (2-3x annual salary), Shanafelt, Goh & Sinsky 2017, JAMA Intern Med, "
        "'The business case for investing in physician well-being'.",
    ),
    "nurse": (
        61_110.0,
        "Bedside RN turnover cost $61,110 (range $49,500-$72,700), NSI National Health Care Retention & "
        "RN Staffing Report 2025 (secondary).",
    ),
    "app": (150_000.0, ASSUMPTION + " Placed between the nurse and physician figures."),
    "resident": (50_000.0, ASSUMPTION + " Recruitment and lost training investment for one trainee."),
    "other_clinical": (40_000.0, ASSUMPTION),
}


def replacement_cost_key(role: str) -> str:
    return f"replacement_cost_{role}"


LEVER_SOURCES = {
    "call": "Associational only: surgeons on >= 2 nights of call a week report burnout 44-46% vs 30% at "
    "<= 1 (Balch/Shanafelt 2010). 8 nights a month is about 2 a week.",
}
# Shanafelt, Goh & Sinsky 2017 (JAMA Intern Med), worked example: a $1M-a-year programme for an
# organisation of 450 physicians, i.e. about $2,200 per clinician per year. The only published
# programme cost in REFERENCE.md; used for organisation-run options that have no price of their own.
PROGRAMME_SCALE = 2_200.0
PROGRAMME_SOURCE = (
    "Shanafelt, Goh & Sinsky 2017, JAMA Intern Med ('The business case for investing in physician "
    "well-being'), worked example: $1M a year for 450 physicians, about $2,200 per clinician per year. In "
    "that example the programme only just paid for itself on turnover alone (2.5% -> 2.0% turnover saved "
    "about $1.125M a year). Replace with your own quote."
)

# Checked against REFERENCE.md and METHODS.md (2026-12-02, issue 12), default by default:
# - P(leave | ITL) 0.25, P(leave | no ITL) 0.08: solve 0.28 a + 0.72 b = 0.13 with a = 3 b (Hamidi 2018)
#   -> b = 0.083, a = 0.25. Agrees.
# - Replacement cost: physician $750k = midpoint of $500k-$1M (Shanafelt, Goh & Sinsky 2017); nurse
#   $61,110 (NSI 2025). Agree. APP, resident, other clinical: no figure in REFERENCE.md (ASSUMPTION).
# - Horizon 2 years = the ITL item's horizon and Hamidi's follow-up. Agrees; departures avoided convert
#   with (a - b) over that horizon (METHODS.md, "Expected departures").
# - EHR support: 0.90 after-hours hours a week removed (ambient AI scribe, REFERENCE.md). Agrees. Its
#   cost and schedule flexibility's: Shanafelt 2017's worked example, $1M a year / 450 physicians =
#   $2,222 per clinician per year (PROGRAMME_SCALE). Agrees (the only programme cost published there).
# - Call cover, backfilled FTE, sabbatical cover, internal move, adjacent-role time, every assumed
#   retention rate and the inbox reduction: REFERENCE.md has no figure, so they are labelled ASSUMPTION
#   and left as they were; none disagrees with a source. The Retention-options page shows, per option,
#   the programme cost and the number of clinicians kept at which it breaks even, so a leader can set
#   a local quote against it instead of trusting these placeholders.
# - EHR eligibility: REFERENCE.md's threshold is after-hours EHR above 68 min per clinical FTE a week;
#   the setting is absolute hours on a 0.5 h grid (1.0 h), the nearest grid point. Not per FTE: noted.
SETTINGS_DEFINED: tuple[Setting, ...] = (
    Setting(
        P_LEAVE_ITL,
        0.25,
        "Probability that a person who states intent to leave actually leaves within two years.",
        HAMIDI,
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        P_LEAVE_NO_ITL,
        0.08,
        "Probability that a person who does not state intent to leave leaves within two years anyway.",
        HAMIDI,
        minimum=0.0,
        maximum=1.0,
    ),
    *(
        Setting(
            replacement_cost_key(role),
            cost,
            f"Cost of replacing one {contract.ROLE_LABELS[role].lower()} who leaves (US dollars). "
            "A roster's replacement_cost column, when given, overrides this for its cells.",
            source,
            minimum=0.0,
            maximum=10_000_000.0,
        )
        for role, (cost, source) in REPLACEMENT_COST_SOURCES.items()
    ),
    Setting(
        "scenario_horizon_years",
        2.0,
        "Years over which retention scenarios count departures avoided and programme cost. Two years "
        "matches the intent-to-leave question and the departure conversion above.",
        "Matches the two-year horizon of the intent-to-leave item (DATA_CONTRACT.md) and Hamidi et al. 2018.",
        minimum=1.0,
        maximum=5.0,
    ),
    # Lever parameters and programme costs.
    Setting(
        "lever_call_threshold",
        8,
        "Nights of call a month at or above which a clinician is eligible for the 'drop night call' option.",
        LEVER_SOURCES["call"],
        minimum=1,
        maximum=31,
    ),
    Setting(
        "lever_call_cost_per_person",
        20_000.0,
        "Yearly cost of covering the night call of one eligible clinician (nocturnist/locum cover).",
        ASSUMPTION + " No published cost of call cover is in REFERENCE.md (at 8 nights a month, $20,000 a "
        "year is about $210 a night); use your own nocturnist or locum rate. Each option's result shows the "
        "cost per person at which it breaks even.",
        minimum=0.0,
        maximum=1_000_000.0,
    ),
    Setting(
        "lever_fte_target",
        0.8,
        "Clinical FTE offered to eligible clinicians under the 'reduced FTE' option.",
        "Associational only (REFERENCE.md): reduced FTE is also an outcome of burnout (Dyrbye et al. 2016).",
        minimum=0.2,
        maximum=1.0,
    ),
    Setting(
        "lever_fte_cost_per_person",
        25_000.0,
        "Yearly net cost per eligible clinician of backfilling the reduced clinical time.",
        ASSUMPTION,
        minimum=0.0,
        maximum=1_000_000.0,
    ),
    Setting(
        "lever_ehr_hours_reduction",
        0.9,
        "Hours a week of after-hours EHR time removed by EHR support (for example an ambient AI scribe).",
        "Ambient AI scribe: 0.90 fewer after-hours documentation hours a week (pre/post quality-improvement "
        "study, secondary; REFERENCE.md).",
        minimum=0.0,
        maximum=40.0,
    ),
    Setting(
        "lever_inbox_reduction_pct",
        20.0,
        "Per cent of in-basket messages removed by inbox support (triage pools, message routing).",
        ASSUMPTION,
        minimum=0.0,
        maximum=100.0,
    ),
    Setting(
        "lever_ehr_min_hours",
        1.0,
        "After-hours EHR hours a week per clinical FTE at or above which a clinician is eligible for EHR/inbox "
        "support (the published threshold, 68 min, is about 1.1 h).",
        "Adler-Milstein et al. 2020: after-hours EHR above 68 min per clinical FTE a week is linked to high "
        "exhaustion (associational).",
        minimum=0.0,
        maximum=80.0,
    ),
    Setting(
        "lever_ehr_cost_per_person",
        PROGRAMME_SCALE,
        "Yearly cost per eligible clinician of EHR and inbox support (inbox triage, message routing, "
        "documentation support). An ambient-scribe seat may cost more: use your vendor's quote.",
        PROGRAMME_SOURCE + " No published price for EHR and inbox support is in REFERENCE.md.",
        minimum=0.0,
        maximum=1_000_000.0,
    ),
    Setting(
        "lever_schedule_flex_retention",
        0.20,
        "Assumed share of eligible intent-to-leave holders whose intent a flexible schedule resolves.",
        ASSUMPTION + " Only associational evidence exists for schedule flexibility (REFERENCE.md).",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "lever_schedule_flex_cost_per_person",
        PROGRAMME_SCALE,
        "Yearly cost per eligible clinician of a flexible schedule (scheduling, cover).",
        PROGRAMME_SOURCE,
        minimum=0.0,
        maximum=1_000_000.0,
    ),
    Setting(
        "lever_break_retention",
        0.30,
        "Assumed share of eligible intent-to-leave holders whom a temporary break (sabbatical) keeps.",
        ASSUMPTION,
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "lever_break_cost_per_person",
        30_000.0,
        "Yearly cost per eligible clinician of a temporary break (cover during the break).",
        ASSUMPTION,
        minimum=0.0,
        maximum=1_000_000.0,
    ),
    Setting(
        "lever_internal_move_retention",
        0.15,
        "Assumed share of eligible intent-to-leave holders whom a move to another site or department keeps.",
        ASSUMPTION,
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "lever_internal_move_cost_per_person",
        2_500.0,
        "Yearly cost per eligible clinician of an internal move: a one-off $5,000 of onboarding and "
        "credentialing spread over the two-year horizon (a move is paid once, not every year).",
        ASSUMPTION,
        minimum=0.0,
        maximum=1_000_000.0,
    ),
    Setting(
        "lever_adjacent_role_retention",
        0.25,
        "Assumed share of eligible intent-to-leave holders whom a clinical-adjacent role here (quality, "
        "informatics, leadership, teaching) keeps.",
        ASSUMPTION,
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "lever_adjacent_role_cost_per_person",
        15_000.0,
        "Yearly cost per eligible clinician of protected clinical-adjacent time.",
        ASSUMPTION,
        minimum=0.0,
        maximum=1_000_000.0,
    ),
    Setting(
        "drivers_min_unit_size",
        25,
        "Smallest unit that gets its own driver importance weights; smaller units borrow the organisation's.",
        "METHODS.md (per-unit driver analysis only for groups of at least 25 respondents).",
        minimum=25,
        maximum=1000,
    ),
)

for _setting in SETTINGS_DEFINED:
    settings.register(_setting)

KEYS: tuple[str, ...] = tuple(s.key for s in SETTINGS_DEFINED)


def values(con: duckdb.DuckDBPyConnection | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Current value of every model assumption (stored value, else default), with overrides applied."""
    out = {s.key: s.default for s in SETTINGS_DEFINED}
    if con is not None:
        for key in KEYS:
            out[key] = settings.get(con, key)
    for key, value in (overrides or {}).items():
        if key in out:
            out[key] = settings.validate(key, value)
    return out


def table() -> list[dict[str, Any]]:
    """The assumptions as rows (key, default, description, source) for the Methodology page."""
    return [
        {"key": s.key, "default": s.default, "description": s.description, "source": s.source} for s in SETTINGS_DEFINED
    ]
