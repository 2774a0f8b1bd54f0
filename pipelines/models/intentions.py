"""What clinicians intend: leave paths and stated reasons by unit, and the mapping from each path and
reason to the retention options that could answer it.

The tables are unit aggregates with one row per unit (dimension columns wave/site/department/role,
`level`, and `n` = respondents who answered that question in the unit), counts and shares per path or
reason in wide columns. They must be released under the intentions floor (10 respondents; see
METHODS.md) by `privacy.release(df, kind="intentions")`; `to_long` reshapes a released table for charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd

from pipelines import contract
from pipelines.models.risk import LEVELS, _filter_units


@dataclass(frozen=True)
class OptionLink:
    source: str  # "path" | "reason"
    code: str
    option: str  # a scenario lever key, or an option outside the lever library
    rationale: str


# Options that are not levers in the scenario library (no model or sizing behind them).
NON_LEVER_OPTIONS: dict[str, str] = {
    "none_needed": "No retention option needed",
    "phased_retirement": "Phased retirement (reduced FTE before retiring)",
    "compensation_review": "Compensation review",
    "leadership_culture": "Leadership and culture work (local listening, leader development)",
    "staffing_review": "Staffing and workload review",
}

RETENTION_OPTION_MAP: tuple[OptionLink, ...] = (
    # Leave paths
    OptionLink("path", "stay", "none_needed", "They intend to stay as they are; keep what is working."),
    OptionLink(
        "path",
        "reduce_hours",
        "reduced_fte",
        "They want fewer clinical hours: offering reduced FTE keeps them in the organisation instead of losing all their time.",
    ),
    OptionLink(
        "path",
        "reduce_hours",
        "dropped_call",
        "Dropping night call cuts hours where they hurt most, often enough to make full-time sustainable.",
    ),
    OptionLink(
        "path",
        "temporary_break",
        "temporary_break",
        "They plan a pause: a sabbatical or leave with a guaranteed return keeps them on the staff.",
    ),
    OptionLink(
        "path", "temporary_break", "schedule_flexibility", "A flexible schedule can remove the need for a full break."
    ),
    OptionLink(
        "path",
        "other_organisation",
        "internal_move",
        "They still want clinical work, just elsewhere: a move to another site or department keeps them.",
    ),
    OptionLink(
        "path",
        "clinical_adjacent_role",
        "clinical_adjacent_role",
        "They want quality, informatics, leadership or teaching work: offering that role here keeps their expertise.",
    ),
    OptionLink(
        "path",
        "leave_patient_care",
        "clinical_adjacent_role",
        "Leaving patient care often means a non-clinical role; a clinical-adjacent role here can keep them.",
    ),
    OptionLink(
        "path",
        "leave_patient_care",
        "temporary_break",
        "Some who plan to leave patient care need recovery time more than a new career.",
    ),
    OptionLink(
        "path",
        "retire",
        "phased_retirement",
        "Phased retirement (reduced FTE, no call) can delay an exit and ease hand-over.",
    ),
    OptionLink("path", "retire", "reduced_fte", "Reduced FTE is the usual route to phased retirement."),
    # Reasons
    OptionLink(
        "reason", "burnout", "ehr_support", "EHR and inbox load is a leading, modifiable contributor to burnout."
    ),
    OptionLink("reason", "burnout", "dropped_call", "Frequent night call is associated with higher burnout."),
    OptionLink(
        "reason", "burnout", "reduced_fte", "Fewer clinical hours lower exposure to the work that causes burnout."
    ),
    OptionLink("reason", "burnout", "temporary_break", "A break allows recovery before burnout becomes an exit."),
    OptionLink("reason", "burnout", "schedule_flexibility", "Control over the schedule protects against burnout."),
    OptionLink(
        "reason",
        "ehr_admin",
        "ehr_support",
        "EHR and inbox support (scribes, inbox triage) targets this reason directly.",
    ),
    OptionLink(
        "reason",
        "call_schedule",
        "dropped_call",
        "Removing or reducing night call answers the call part of this reason.",
    ),
    OptionLink(
        "reason",
        "call_schedule",
        "schedule_flexibility",
        "Schedule flexibility answers the schedule part of this reason.",
    ),
    OptionLink(
        "reason",
        "workload_staffing",
        "staffing_review",
        "Workload and staffing need a staffing review; no single individual offer fixes them.",
    ),
    OptionLink(
        "reason", "workload_staffing", "reduced_fte", "Reduced FTE lowers an individual's load while staffing is fixed."
    ),
    OptionLink(
        "reason", "family_caregiving", "temporary_break", "Caregiving often needs a period away with a way back."
    ),
    OptionLink(
        "reason",
        "family_caregiving",
        "schedule_flexibility",
        "Predictable, flexible hours make caregiving compatible with clinical work.",
    ),
    OptionLink("reason", "own_health", "temporary_break", "Time to recover, with a guaranteed return."),
    OptionLink("reason", "own_health", "schedule_flexibility", "Flexible hours help staff manage their own health."),
    OptionLink(
        "reason", "geography", "internal_move", "A move to a site nearer their new home keeps them in the organisation."
    ),
    OptionLink(
        "reason",
        "career_growth",
        "clinical_adjacent_role",
        "Quality, informatics, leadership or teaching roles give growth without leaving.",
    ),
    OptionLink(
        "reason",
        "compensation",
        "compensation_review",
        "Pay is outside the scenario library; review it against the market.",
    ),
    OptionLink(
        "reason",
        "leadership_culture",
        "leadership_culture",
        "Leadership and culture need local work with leaders; not an individual offer.",
    ),
    OptionLink(
        "reason",
        "leadership_culture",
        "internal_move",
        "A move to another team can help when the problem is the local leadership.",
    ),
)


PATH_RATES: tuple[str, ...] = tuple(f"path_{c}" for c in contract.LEAVE_PATHS)
REASON_RATES: tuple[str, ...] = tuple(f"reason_{c}" for c in contract.LEAVE_REASONS)


def option_map() -> pd.DataFrame:
    """The mapping from leave paths and reasons to retention options, with labels and rationale."""
    from pipelines.scenarios import LEVERS  # local import: scenarios imports risk, which is heavy

    labels = {**NON_LEVER_OPTIONS, **{k: v.label for k, v in LEVERS.items()}}
    rows = []
    for link in RETENTION_OPTION_MAP:
        source_label = (contract.LEAVE_PATH_LABELS if link.source == "path" else contract.LEAVE_REASON_LABELS)[
            link.code
        ]
        rows.append(
            {
                "source": link.source,
                "code": link.code,
                "source_label": source_label,
                "option": link.option,
                "option_label": labels[link.option],
                "in_scenario_library": link.option in LEVERS,
                "rationale": link.rationale,
            }
        )
    return pd.DataFrame(rows)


def _distribution(
    con: duckdb.DuckDBPyConnection, wave_list: Sequence[str] | None, question: str, levels: Sequence[str]
) -> pd.DataFrame:
    """Counts per wave and unit of every level in one pass over the responses (GROUPING SETS); `wave_list`
    None = every wave. Rows come out ordered by wave, then level (in `levels` order), then unit."""
    codes = contract.LEAVE_PATHS if question == "path" else contract.LEAVE_REASONS
    prefix = "path" if question == "path" else "reason"
    if question == "path":
        answered = "leave_path is not null"
        counts = ", ".join(f"count(*) filter (where leave_path = '{c}') as {prefix}_{c}_count" for c in codes)
    else:
        answered = "len(leave_reasons) > 0"
        counts = ", ".join(
            f"count(*) filter (where list_contains(leave_reasons, '{c}')) as {prefix}_{c}_count" for c in codes
        )  # codes come from the contract, never from user input
    where, params = f"where {answered}", []
    if wave_list is not None:
        where += " and coalesce(wave, '') in (select unnest(?))"
        params = [list(wave_list)]
    dims = contract.DIMENSIONS
    sets = ", ".join("(" + ", ".join(("wave", *LEVELS[level])) + ")" for level in levels)
    flags = ", ".join(f"grouping({d}) as _g_{d}" for d in dims)
    frame = con.execute(
        f"""select wave, {", ".join(dims)}, {flags}, count(*) as n, {counts}
            from (select coalesce(wave, '') as wave, * exclude (wave) from responses {where})
            group by grouping sets ({sets})""",
        params,
    ).df()
    kept = {tuple(d in LEVELS[level] for d in dims): level for level in levels}
    frame.insert(
        1,
        "level",
        [kept[tuple(g == 0 for g in row)] for row in frame[[f"_g_{d}" for d in dims]].itertuples(index=False)],
    )
    frame = frame.drop(columns=[f"_g_{d}" for d in dims])
    for d in dims:  # a grouped-away dimension is None, as in every released table
        frame[d] = frame[d].astype(object).where(frame["level"].map(lambda lv, d=d: d in LEVELS[lv]), None)
    order = {level: i for i, level in enumerate(levels)}
    frame = (
        frame.assign(_level=frame["level"].map(order))
        .sort_values(["wave", "_level", *dims], kind="stable", na_position="first")
        .drop(columns="_level")
        .reset_index(drop=True)
    )
    for c in codes:
        frame[f"{prefix}_{c}_count"] = frame[f"{prefix}_{c}_count"].astype("int64")
        frame[f"{prefix}_{c}"] = frame[f"{prefix}_{c}_count"] / frame["n"]
    ordered = ["wave", "site", "department", "role", "level", "n"]
    ordered += [col for c in codes for col in (f"{prefix}_{c}", f"{prefix}_{c}_count")]
    return frame[ordered]


# Leave paths and reasons are not released by department × role: under the intentions floor of 10
# most such cells are hidden, and the few that show let the hidden ones be pinned by subtraction
# (issue 11: zeros carried from one breakdown to another). A department's plans are shown by role
# only at the site level; within a department, as a whole.
INTENTIONS_LEVELS: tuple[str, ...] = tuple(level for level in LEVELS if level != "department_role")


def leave_paths(
    con: duckdb.DuckDBPyConnection,
    *,
    wave: str | None = None,
    levels: Sequence[str] = INTENTIONS_LEVELS,
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
) -> pd.DataFrame:
    """Leave-path distribution per unit: n = respondents who chose a path; path_<code> (share, 0-1)
    and path_<code>_count. Release with rates=PATH_RATES so each share and its count hide together."""
    frame = _distribution(con, None if wave is None else [wave], "path", levels)
    return _filter_units(frame, site, department, role).reset_index(drop=True)


def leave_reasons(
    con: duckdb.DuckDBPyConnection,
    *,
    wave: str | None = None,
    levels: Sequence[str] = INTENTIONS_LEVELS,
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
) -> pd.DataFrame:
    """Reasons per unit: n = respondents who gave at least one reason; reason_<code> (share, 0-1) and
    reason_<code>_count (multi-select, so shares add up to more than 100%). Release with
    rates=REASON_RATES."""
    frame = _distribution(con, None if wave is None else [wave], "reason", levels)
    return _filter_units(frame, site, department, role).reset_index(drop=True)


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """One row per unit x answer (question, code, label, count, pct) from a released wide table."""
    base = ["wave", "site", "department", "role", "level", "n", "suppressed"]
    base = [c for c in base if c in wide.columns]
    parts = []
    for question, codes, labels in (
        ("path", contract.LEAVE_PATHS, contract.LEAVE_PATH_LABELS),
        ("reason", contract.LEAVE_REASONS, contract.LEAVE_REASON_LABELS),
    ):
        for code in codes:
            pct_col, n_col = f"{question}_{code}", f"{question}_{code}_count"
            if n_col not in wide.columns:
                continue
            part = wide[base].copy()
            part["question"] = question
            part["code"] = code
            part["label"] = labels[code]
            part["count"] = wide[n_col]
            part["pct"] = wide[pct_col] if pct_col in wide.columns else None
            if f"{pct_col}_display" in wide.columns:
                part["display"] = wide[f"{pct_col}_display"]
            parts.append(part)
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=[*base, "question", "code", "label", "count", "pct"])
    )
