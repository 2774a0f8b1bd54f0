"""The data contract in code: the single source of truth for the canonical survey record.

Importers, validation, the warehouse schema, the docs and the Methodology page all read these
definitions. Change a field here and every one of them follows. See docs/data-contract.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CONTRACT_VERSION = "1.0"

# --------------------------------------------------------------------------------------------
# Organisation
# --------------------------------------------------------------------------------------------
ROLES: tuple[str, ...] = ("physician", "app", "nurse", "resident", "other_clinical")
ROLE_LABELS: dict[str, str] = {
    "physician": "Physician",
    "app": "Advanced practice provider",
    "nurse": "Nurse",
    "resident": "Resident / fellow",
    "other_clinical": "Other clinical",
}
# Normalised synonym (see normalise_label) -> role code.
ROLE_SYNONYMS: dict[str, str] = {
    "physician": "physician",
    "physicians": "physician",
    "md": "physician",
    "do": "physician",
    "mddo": "physician",
    "attending": "physician",
    "attendingphysician": "physician",
    "consultant": "physician",
    "doctor": "physician",
    "surgeon": "physician",
    "staffphysician": "physician",
    "app": "app",
    "apps": "app",
    "advancedpracticeprovider": "app",
    "advancedpracticeclinician": "app",
    "advancedpracticeprofessional": "app",
    "np": "app",
    "nursepractitioner": "app",
    "pa": "app",
    "pac": "app",
    "physicianassistant": "app",
    "physicianassociate": "app",
    "crna": "app",
    "nurseanesthetist": "app",
    "cnm": "app",
    "nursemidwife": "app",
    "nurse": "nurse",
    "nurses": "nurse",
    "rn": "nurse",
    "registerednurse": "nurse",
    "lpn": "nurse",
    "lvn": "nurse",
    "bedsidenurse": "nurse",
    "staffnurse": "nurse",
    "resident": "resident",
    "residents": "resident",
    "fellow": "resident",
    "fellows": "resident",
    "residentfellow": "resident",
    "trainee": "resident",
    "intern": "resident",
    "housestaff": "resident",
    "registrar": "resident",
    "otherclinical": "other_clinical",
    "other": "other_clinical",
    "otherclinician": "other_clinical",
    "alliedhealth": "other_clinical",
    "pharmacist": "other_clinical",
    "therapist": "other_clinical",
    "psychologist": "other_clinical",
}

# --------------------------------------------------------------------------------------------
# Bands (quasi-identifiers). Exact values are never stored.
# --------------------------------------------------------------------------------------------
TENURE_BANDS: tuple[str, ...] = ("<2", "2-5", "6-10", "11-20", ">20")
# (lower inclusive, upper exclusive, band) in years.
TENURE_EDGES: tuple[tuple[float, float, str], ...] = (
    (0, 2, "<2"),
    (2, 6, "2-5"),
    (6, 11, "6-10"),
    (11, 21, "11-20"),
    (21, 100, ">20"),
)
AGE_BANDS: tuple[str, ...] = ("<35", "35-44", "45-54", "55-64", "65+")
AGE_EDGES: tuple[tuple[float, float, str], ...] = (
    (16, 35, "<35"),
    (35, 45, "35-44"),
    (45, 55, "45-54"),
    (55, 65, "55-64"),
    (65, 110, "65+"),
)
GENDERS: tuple[str, ...] = ("woman", "man", "nonbinary", "undisclosed")
GENDER_SYNONYMS: dict[str, str] = {
    "woman": "woman",
    "female": "woman",
    "f": "woman",
    "w": "woman",
    "women": "woman",
    "man": "man",
    "male": "man",
    "m": "man",
    "men": "man",
    "nonbinary": "nonbinary",
    "nb": "nonbinary",
    "genderqueer": "nonbinary",
    "other": "nonbinary",
    "selfdescribe": "nonbinary",
    "undisclosed": "undisclosed",
    "prefernottosay": "undisclosed",
    "prefernottoanswer": "undisclosed",
    "declined": "undisclosed",
    "notdisclosed": "undisclosed",
}

# --------------------------------------------------------------------------------------------
# Well-being items (1-5)
# --------------------------------------------------------------------------------------------
AGREE_5 = ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree")
POOR_OPTIMAL_5 = ("Poor", "Marginal", "Satisfactory", "Good", "Optimal")


@dataclass(frozen=True)
class Item:
    """A 1-5 well-being item. `labels[i]` is the text of code i+1."""

    name: str
    short: str
    question: str
    labels: tuple[str, ...]
    unfavourable: tuple[str, int]  # (">=" | "<=", threshold): the answers shown as a problem
    higher_is_better: bool
    synonyms: tuple[str, ...] = ()  # column names that mean this item

    def is_unfavourable_sql(self, column: str) -> str:
        op, threshold = self.unfavourable
        return f"({column} {op} {threshold})"

    def unfavourable_text(self) -> str:
        op, threshold = self.unfavourable
        picked = [
            lab
            for code, lab in enumerate(self.labels, start=1)
            if (code >= threshold if op == ">=" else code <= threshold)
        ]
        return " or ".join(f"“{p}”" for p in picked)


ITEMS: tuple[Item, ...] = (
    Item(
        "burnout_level",
        "Burnout",
        "Using your own definition of burnout, which best describes you?",
        (
            "I enjoy my work; I have no symptoms of burnout",
            "Occasionally I am under stress, but I don't feel burned out",
            "I am definitely burning out and have one or more symptoms of burnout",
            "The symptoms of burnout that I'm experiencing won't go away",
            "I feel completely burned out",
        ),
        (">=", 3),
        False,
        ("burnout", "burnout_item", "single_item_burnout"),
    ),
    Item(
        "stress",
        "High stress",
        "I feel a great deal of stress because of my job.",
        AGREE_5,
        (">=", 4),
        False,
        ("job_stress", "stress_level"),
    ),
    Item(
        "satisfaction",
        "Job satisfaction",
        "Overall, I am satisfied with my current job.",
        AGREE_5,
        ("<=", 2),
        True,
        ("job_satisfaction", "satisfied"),
    ),
    Item(
        "work_control",
        "Control over workload",
        "My control over my workload is…",
        POOR_OPTIMAL_5,
        ("<=", 2),
        True,
        ("control_over_workload", "workload_control"),
    ),
    Item(
        "documentation_time",
        "Time for documentation",
        "Sufficiency of time for documentation is…",
        POOR_OPTIMAL_5,
        ("<=", 2),
        True,
        ("time_for_documentation", "documentation"),
    ),
    Item(
        "ehr_home_time",
        "EHR time at home",
        "The amount of time I spend on the EHR at home is…",
        ("Excessive", "Moderately high", "Satisfactory", "Modest", "Minimal/none"),
        ("<=", 2),
        True,
        ("ehr_at_home", "ehr_time_at_home"),
    ),
    Item(
        "ehr_frustration",
        "EHR frustration",
        "The EHR adds to the frustration of my day.",
        tuple(reversed(AGREE_5)),
        ("<=", 2),
        True,
        ("ehr_frustrating",),
    ),
    Item(
        "teamwork",
        "Teamwork",
        "My care team works efficiently together.",
        POOR_OPTIMAL_5,
        ("<=", 2),
        True,
        ("team_efficiency", "care_team"),
    ),
    Item(
        "values_alignment",
        "Values alignment",
        "My professional values are well aligned with those of my department leaders.",
        AGREE_5,
        ("<=", 2),
        True,
        ("values_aligned", "alignment_with_leaders"),
    ),
    Item(
        "work_atmosphere",
        "Work atmosphere",
        "The atmosphere in my primary work area is…",
        ("Hectic, chaotic", "Busy, somewhat chaotic", "Busy but reasonable", "Somewhat calm", "Calm"),
        ("<=", 2),
        True,
        ("atmosphere", "work_environment"),
    ),
    Item(
        "feel_valued",
        "Feeling valued",
        "I feel valued by my organisation.",
        AGREE_5,
        ("<=", 2),
        True,
        ("valued", "feel_valued_by_organisation", "feel_valued_by_organization"),
    ),
)
ITEMS_BY_NAME: dict[str, Item] = {i.name: i for i in ITEMS}
ITEM_NAMES: tuple[str, ...] = tuple(i.name for i in ITEMS)

# Mini-Z-style index: ten items (all but feel_valued), oriented so 5 is best, summed to 10-50.
MINI_Z_ITEMS: tuple[str, ...] = tuple(n for n in ITEM_NAMES if n != "feel_valued")
MINI_Z_REVERSED: tuple[str, ...] = ("burnout_level", "stress")
MINI_Z_JOYFUL_AT: int = 40

# --------------------------------------------------------------------------------------------
# Intentions
# --------------------------------------------------------------------------------------------
INTENT_TO_LEAVE_LABELS: tuple[str, ...] = ("None", "Slight", "Moderate", "Likely", "Definitely")
INTENT_TO_LEAVE_SYNONYMS: dict[str, int] = {
    "none": 1,
    "no": 1,
    "notatall": 1,
    "verylow": 1,
    "slight": 2,
    "low": 2,
    "unlikely": 2,
    "moderate": 3,
    "maybe": 3,
    "possible": 3,
    "possibly": 3,
    "likely": 4,
    "high": 4,
    "definitely": 5,
    "definite": 5,
    "certain": 5,
    "veryhigh": 5,
    "verylikely": 5,
}
ITL_THRESHOLD = 3  # intent_to_leave >= 3 counts as intent to leave

LEAVE_PATHS: tuple[str, ...] = (
    "stay",
    "reduce_hours",
    "temporary_break",
    "other_organisation",
    "clinical_adjacent_role",
    "leave_patient_care",
    "retire",
)
LEAVE_PATH_LABELS: dict[str, str] = {
    "stay": "Stay as I am",
    "reduce_hours": "Reduce my clinical hours",
    "temporary_break": "Take a temporary break",
    "other_organisation": "Move to another organisation",
    "clinical_adjacent_role": "Move to a clinical-adjacent role here",
    "leave_patient_care": "Leave patient care",
    "retire": "Retire",
}
LEAVE_REASONS: tuple[str, ...] = (
    "burnout",
    "ehr_admin",
    "call_schedule",
    "workload_staffing",
    "family_caregiving",
    "own_health",
    "geography",
    "career_growth",
    "compensation",
    "leadership_culture",
)
LEAVE_REASON_LABELS: dict[str, str] = {
    "burnout": "Burnout",
    "ehr_admin": "EHR and administrative burden",
    "call_schedule": "Call or schedule",
    "workload_staffing": "Workload or staffing",
    "family_caregiving": "Family or caregiving",
    "own_health": "My own health",
    "geography": "Geography or relocation",
    "career_growth": "Career growth",
    "compensation": "Compensation",
    "leadership_culture": "Leadership or culture",
}
# Separators accepted between reasons in one cell (canonical: ";").
YES_NO: dict[str, bool] = {
    "yes": True,
    "y": True,
    "true": True,
    "t": True,
    "1": True,
    "no": False,
    "n": False,
    "false": False,
    "f": False,
    "0": False,
    "2": False,  # Qualtrics yes/no questions often code No as 2
}

# Answers that mean "no answer": stored as NULL, never counted as unfavourable.
MISSING_TOKENS: frozenset[str] = frozenset(
    {
        "",
        "na",
        "n/a",
        "n.a.",
        "nan",
        "null",
        "none given",
        "-",
        "--",
        "-99",
        "-999",
        ".",
        "missing",
        "prefer not to answer",
        "prefer not to say",
        "prefernottoanswer",
        "i prefer not to answer",
        "decline to answer",
        "declined",
        "not applicable",
        "don't know",
        "dont know",
        "unknown",
        "[not completed]",
        "not completed",
        "skipped",
        "no answer",
    }
)


# --------------------------------------------------------------------------------------------
# Fields of the canonical record
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | role | band | gender | fte | integer | number | item | itl | yesno | path | reasons
    sql_type: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    synonyms: tuple[str, ...] = field(default_factory=tuple)
    values: tuple[str, ...] = ()


FIELDS: tuple[Field, ...] = (
    Field(
        "site",
        "text",
        "VARCHAR",
        True,
        description="Site or campus",
        synonyms=("campus", "location", "hospital", "facility", "site_name"),
    ),
    Field(
        "department",
        "text",
        "VARCHAR",
        True,
        description="Department, service line or unit",
        synonyms=("dept", "unit", "service_line", "service", "division", "department_name"),
    ),
    Field(
        "role",
        "role",
        "VARCHAR",
        True,
        description="Clinical role",
        synonyms=("job_role", "position", "job_title", "staff_role", "profession", "role_type", "clinician_type"),
        values=ROLES,
    ),
    Field(
        "specialty", "text", "VARCHAR", description="Specialty (optional)", synonyms=("speciality", "specialty_name")
    ),
    Field(
        "tenure_band",
        "band",
        "VARCHAR",
        description="Years at the organisation, banded",
        synonyms=(
            "tenure",
            "years_at_organisation",
            "years_at_organization",
            "years_in_practice",
            "tenure_years",
            "years_of_service",
        ),
        values=TENURE_BANDS,
    ),
    Field(
        "age_band",
        "band",
        "VARCHAR",
        description="Age, banded",
        synonyms=("age", "age_years", "age_group"),
        values=AGE_BANDS,
    ),
    Field("gender", "gender", "VARCHAR", description="Gender", synonyms=("sex", "gender_identity"), values=GENDERS),
    Field(
        "clinical_fte",
        "fte",
        "DOUBLE",
        minimum=0.0,
        maximum=1.0,
        description="Clinical FTE (0-1; 80 or 80% read as 0.8)",
        synonyms=("fte", "clinical_fte_percent", "cfte"),
    ),
    Field(
        "call_nights_per_month",
        "integer",
        "INTEGER",
        minimum=0,
        maximum=31,
        description="Nights on call per month",
        synonyms=("call_nights", "night_call", "call_per_month", "nights_on_call"),
    ),
    Field(
        "ehr_after_hours_per_week",
        "number",
        "DOUBLE",
        minimum=0,
        maximum=80,
        description="Hours a week on the EHR outside scheduled time",
        synonyms=("ehr_after_hours", "pajama_time", "after_hours_ehr", "ehr_hours_after_hours"),
    ),
    Field(
        "inbox_messages_per_day",
        "number",
        "DOUBLE",
        minimum=0,
        maximum=500,
        description="In-basket messages a day",
        synonyms=("inbox_messages", "inbox_per_day", "inbasket", "in_basket_messages"),
    ),
    *(
        Field(i.name, "item", "TINYINT", minimum=1, maximum=5, description=i.question, synonyms=i.synonyms)
        for i in ITEMS
    ),
    Field(
        "intent_to_leave",
        "itl",
        "TINYINT",
        minimum=1,
        maximum=5,
        description="Likelihood of leaving this organisation within two years (1 none … 5 definitely)",
        synonyms=("itl", "intention_to_leave", "likely_to_leave", "intent_leave"),
    ),
    Field(
        "intent_to_reduce_fte",
        "yesno",
        "BOOLEAN",
        description="Intends to reduce clinical FTE within twelve months",
        synonyms=("intent_to_reduce", "reduce_fte", "intention_to_reduce_fte", "reduce_hours"),
    ),
    Field(
        "leave_path",
        "path",
        "VARCHAR",
        description="What the respondent would most likely do",
        synonyms=("path", "next_step", "leave_plan"),
        values=LEAVE_PATHS,
    ),
    Field(
        "leave_reasons",
        "reasons",
        "VARCHAR[]",
        description="Reasons for considering leaving (multi-select)",
        synonyms=("reasons", "reasons_to_leave", "leave_reason"),
        values=LEAVE_REASONS,
    ),
)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
DIMENSIONS: tuple[str, ...] = ("site", "department", "role")

# Optional column giving the wave inside a file (one upload is still one wave).
WAVE_COLUMN_SYNONYMS = ("wave", "survey_wave", "wave_label")
# Source columns that hold exact age or tenure in years (banded at ingest, never stored exactly).
EXACT_AGE_NAMES = ("age", "age_years", "age_in_years")
EXACT_TENURE_NAMES = (
    "tenure",
    "tenure_years",
    "years_at_organisation",
    "years_at_organization",
    "years_in_practice",
    "years_of_service",
)

# Headcount roster
HEADCOUNT_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("wave", "VARCHAR", False),
    ("site", "VARCHAR", True),
    ("department", "VARCHAR", True),
    ("role", "VARCHAR", True),
    ("headcount", "INTEGER", True),
    ("replacement_cost", "DOUBLE", False),
)

# --------------------------------------------------------------------------------------------
# Identifiers and free text: matched on the normalised column name (see normalise_name).
# A column that matches is dropped at ingest and named in the report. Anything not mapped to a
# contract field is dropped too; these patterns only decide the reason given.
# --------------------------------------------------------------------------------------------
IDENTIFIER_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(^|_)(first|last|full|middle|given|family|sur)_?name($|_)", "a person's name"),
    (r"^name$|^respondent_?name$|^recipient", "a person's name or recipient field"),
    (r"e_?mail", "an email address"),
    (r"phone|telephone|mobile|cell_?number", "a phone number"),
    (r"(^|_)(street|address|zip|postcode|postal_code)($|_)|^address", "an address"),
    (r"ip_?address|^ip$", "an IP address"),
    (r"latitude|longitude|location_?accuracy|^lat$|^lon$|^lng$", "a location"),
    (r"external_?(data_?)?ref", "an external reference"),
    (
        r"(employee|staff|badge|person|personnel|payroll)_?(id|no|number|num)|^emp_?id$|^npi$|(^|_)npi($|_)|(^|_)mrn($|_)|medical_record",
        "an employee, NPI or record number",
    ),
    (r"(^|_)dob($|_)|date_?of_?birth|birth_?date|birthday", "a date of birth"),
    (
        r"(^|_)(start|end|recorded|submit|submitted|completion|completed)_?(date|time|timestamp|at)($|_)|timestamp|^date$|_date$",
        "a date or timestamp",
    ),
    (r"duration", "a duration"),
    (r"user_?language|^language$", "the respondent's language"),
    (r"distribution_?channel", "the distribution channel"),
    (
        r"response_?(id|set)$|^_?record_?id$|^record$|participant_?id|respondent_?id|survey_?identifier|^response_?key$|^id$",
        "a response or participant id",
    ),
)
FREE_TEXT_PATTERNS: tuple[str, ...] = (
    r"comment",
    r"_text$",
    r"free_?text",
    r"open_?(ended|text|response)",
    r"^notes?$|_notes?$",
    r"please_(specify|explain|describe)",
    r"other_specify|specify$",
    r"suggestion",
)
# Survey tool bookkeeping: dropped without comment beyond "survey metadata".
METADATA_PATTERNS: tuple[str, ...] = (
    r"^status$",
    r"^progress$",
    r"^finished$",
    r"_complete$",
    r"^redcap_",
    r"^q_",
    r"^v\d+$",
    r"consent",
)


def normalise_name(name: str) -> str:
    """Column name -> snake-ish key: lower case, runs of non-alphanumerics become one underscore."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def normalise_label(value: str) -> str:
    """Answer text -> key for label matching: case- and punctuation-insensitive."""
    return re.sub(r"[^a-z0-9]+", "", str(value).strip().lower())


def classify_dropped(name: str) -> tuple[str, str]:
    """Why a source column that is not a contract field is dropped: (category, reason)."""
    key = normalise_name(name)
    for pattern, what in IDENTIFIER_PATTERNS:
        if re.search(pattern, key):
            return "identifier", f"direct identifier ({what})"
    for pattern in FREE_TEXT_PATTERNS:
        if re.search(pattern, key):
            return "free_text", "free-text answer (dropped by default)"
    for pattern in METADATA_PATTERNS:
        if re.search(pattern, key):
            return "metadata", "survey-tool metadata"
    return "unmapped", "not part of the data contract"


def scale_labels(item_or_field: str) -> dict[str, int]:
    """Every accepted text label of a 1-5 item or of intent_to_leave, normalised -> code."""
    out: dict[str, int] = {}
    if item_or_field == "intent_to_leave":
        out.update(INTENT_TO_LEAVE_SYNONYMS)
        for code, lab in enumerate(INTENT_TO_LEAVE_LABELS, start=1):
            out[normalise_label(lab)] = code
        return out
    item = ITEMS_BY_NAME[item_or_field]
    for code, lab in enumerate(item.labels, start=1):
        out[normalise_label(lab)] = code
    if item.labels == AGREE_5:
        out.update({"neutral": 3, "neither": 3, "somewhatdisagree": 2, "somewhatagree": 4})
    if item.labels == tuple(reversed(AGREE_5)):
        out.update({"neutral": 3, "neither": 3, "somewhatagree": 2, "somewhatdisagree": 4})
    if item.labels == POOR_OPTIMAL_5:
        out.update({"fair": 2, "verygood": 4, "excellent": 5})
    return out


def responses_columns() -> list[tuple[str, str]]:
    """(column, DuckDB type) of the responses table, provenance first."""
    return [
        ("response_key", "VARCHAR"),
        ("upload_id", "VARCHAR"),
        ("wave", "VARCHAR"),
        *((f.name, f.sql_type) for f in FIELDS),
    ]
