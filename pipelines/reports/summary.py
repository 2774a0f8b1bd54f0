"""Plain-words findings for the reports, generated from released numbers only.

Every sentence reads visible cells of the scoped `ReportData` (a hidden cell has no value, so it can
never be quoted); intent to leave is always a stated intention, never a count of people who will
leave; driver importance and scenario effects are associations, not causes. The same helpers feed the
PDF's executive summary and the slides, so both say the same thing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pandas as pd

from pipelines import contract
from pipelines.charts import (  # the dashboard's formats, one definition
    format_change,
    format_value,
    is_missing,
    metric_label,
    money,
    percent,
    unit_label,
)
from pipelines.contract.levels import CHILD_LEVELS, DIMENSIONS, LEVELS
from pipelines.release.tables import (
    DRIVER_IMPORTANCE,
    LEAVE_PATHS,
    LEAVE_REASONS,
    METRICS,
    SAVED_SCENARIOS,
    UNIT_RISK,
)
from pipelines.reports.data import ReportData

missing = is_missing
pct = percent


def lower_first(text: str) -> str:
    """'Burnout' -> 'burnout' but 'EHR and inbox burden' stays (an acronym keeps its capitals)."""
    text = str(text)
    return text if len(text) > 1 and text[1].isupper() else text[:1].lower() + text[1:]


def flag(x: object) -> bool:
    """A nullable boolean as True only when it is known and true."""
    return not missing(x) and bool(x)


def visible(frame: pd.DataFrame | None) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame() if frame is None else frame
    return frame[~frame["suppressed"].fillna(True).astype(bool)]


# ------------------------------------------------------------------------------------------
# Facts: the rows the sentences quote
# ------------------------------------------------------------------------------------------
def scope_row(data: ReportData, name: str, wave: str | None = None) -> pd.Series | None:
    """The scope group's own row of a released table (None when absent)."""
    frame = data.table(name)
    if frame is None:
        return None
    rows = data.scope.scope_rows(frame, wave or data.wave)
    for d in DIMENSIONS:
        if d in rows.columns:
            want = getattr(data.scope, d, None)
            rows = rows[rows[d].isna()] if want is None else rows[rows[d].astype(object) == want]
    return None if rows.empty else rows.iloc[0]


def scope_metric(data: ReportData, metric: str, wave: str | None = None) -> pd.Series | None:
    frame = data.table(METRICS)
    if frame is None:
        return None
    rows = frame[frame["metric"] == metric]
    if rows.empty:
        return None
    sub = dataclasses.replace(data, tables={METRICS: rows}, kinds={})
    return scope_row(sub, METRICS, wave=wave)


def units(data: ReportData, name: str, levels: tuple[str, ...] | None = None, wave: str | None = None) -> pd.DataFrame:
    """Rows of the units below the scope (child levels) in a wave, visible or not."""
    frame = data.table(name)
    if frame is None or frame.empty:
        return pd.DataFrame()
    levels = levels or data.scope.child_levels()
    rows = frame[frame["level"].isin(levels)]
    if "wave" in rows.columns:
        rows = rows[rows["wave"].astype(object) == (wave or data.wave)]
    return rows.reset_index(drop=True)


@dataclass(frozen=True)
class Headline:
    label: str
    value: str
    note: str = ""


def headlines(data: ReportData) -> list[Headline]:
    """Respondents, response rate, burnout, stated ITL, expected departures and cost exposure."""
    k = data.k
    out: list[Headline] = []
    g = scope_row(data, "rel_groups")
    if g is None or bool(g["suppressed"]):
        out.append(Headline("Respondents", f"fewer than {k}", "hidden to protect confidentiality"))
    else:
        out.append(Headline("Respondents", f"{int(g['n']):,}", f"wave {data.wave}"))
        if not missing(g.get("response_rate")):
            out.append(
                Headline("Response rate", pct(g["response_rate"]), f"of {float(g['headcount']):,.0f} on the roster")
            )
    for metric in ("burnout", "itl"):
        r = scope_metric(data, metric)
        if r is None:
            continue
        if bool(r["suppressed"]):
            out.append(Headline(metric_label(metric), f"fewer than {k}", "hidden"))
            continue
        change = format_change(r.get("change"), r["stat"], r.get("exceeds_noise"))
        note = f"{change} since {data.previous_wave}" if change else "no earlier wave to compare"
        label = "Stated intent to leave" if metric == "itl" else metric_label(metric)
        out.append(Headline(label, format_value(r["value"], r["stat"], r["display"]), note))
    risk = scope_row(data, UNIT_RISK)
    if risk is not None and not bool(risk["suppressed"]) and not missing(risk.get("expected_departures")):
        out.append(
            Headline(
                "Expected departures, 2 yrs",
                f"{float(risk['expected_departures']):,.0f}",
                f"95% interval {float(risk['expected_departures_lo']):,.0f}–{float(risk['expected_departures_hi']):,.0f}",
            )
        )
        if not missing(risk.get("cost_exposure")):
            out.append(
                Headline(
                    "Replacement-cost exposure",
                    money(risk["cost_exposure"]),
                    f"95% interval {money(risk['cost_exposure_lo'])}–{money(risk['cost_exposure_hi'])}",
                )
            )
    return out


# ------------------------------------------------------------------------------------------
# Sentences
# ------------------------------------------------------------------------------------------
def change_sentence(data: ReportData) -> str | None:
    """Level and change since the previous wave of burnout and stated ITL, with the noise verdict."""
    who = data.scope.describe()
    b, itl = scope_metric(data, "burnout"), scope_metric(data, "itl")
    shown = [r for r in (b, itl) if r is not None and not bool(r["suppressed"]) and not missing(r["value"])]
    if not shown:
        return f"Burnout and intent to leave cannot be shown for {who}: too few respondents (fewer than {data.k})."
    level = " and ".join(
        f"{format_value(r['value'], r['stat'], r['display'])} "
        + ("report burnout" if r["metric"] == "burnout" else "say they may leave within two years")
        for r in shown
    )
    text = f"In {who} (wave {data.wave}), {level}"
    prev = data.previous_wave
    if prev is None:
        return text + ". This is the first wave, so there is no change to report yet."
    moves, still = [], []
    for r in shown:
        noun = "burnout" if r["metric"] == "burnout" else "stated intent to leave"
        if missing(r.get("change")):
            continue
        pts = abs(100 * float(r["change"]))
        if flag(r.get("exceeds_noise")):
            moves.append(f"{noun} {'rose' if float(r['change']) > 0 else 'fell'} {pts:.1f} points")
        else:
            still.append(f"{noun} ({100 * float(r['change']):+.1f} points)")
    parts = []
    if moves:
        parts.append(f"since {prev}, {' and '.join(moves)}, more than sampling noise would explain")
    if still:
        verb = "is" if len(still) == 1 else "are"
        lead = "the change in " if moves else f"since {prev}, the change in "
        parts.append(f"{lead}{' and '.join(still)} {verb} within sampling noise")
    if not parts:
        return text + f". No comparable figure from {prev} is released for this group."
    return text + "; " + "; ".join(parts) + "."


def risk_sentence(data: ReportData) -> str | None:
    """Where model-estimated risk concentrates, with expected departures and cost exposure."""
    who = data.scope.describe()
    if not data.has(UNIT_RISK):
        return _observed_risk_sentence(data)
    rows = visible(units(data, UNIT_RISK, levels=_rank_levels(data)))
    rows = rows[rows["predicted_itl_rate"].notna()] if not rows.empty else rows
    scope = scope_row(data, UNIT_RISK)
    text = []
    if not rows.empty:
        top = rows.sort_values("predicted_itl_rate", ascending=False).head(3)
        named = [f"{unit_label(r)} ({pct(r['predicted_itl_rate'])})" for _, r in top.iterrows()]
        text.append(
            f"Model-estimated intent to leave is highest in {_join(named)}"
            + (
                f", against {pct(scope['predicted_itl_rate'])} across {who}"
                if scope is not None and not missing(scope.get("predicted_itl_rate"))
                else ""
            )
            + "."
        )
    if scope is not None and not bool(scope["suppressed"]) and not missing(scope.get("expected_departures")):
        text.append(
            f"Converting stated intent with published departure rates, about {float(scope['expected_departures']):,.0f} "
            f"clinicians (95% interval {float(scope['expected_departures_lo']):,.0f}–{float(scope['expected_departures_hi']):,.0f}) "
            f"may leave {who} within two years"
            + (
                f", a replacement-cost exposure of {money(scope['cost_exposure'])}"
                f" ({money(scope['cost_exposure_lo'])}–{money(scope['cost_exposure_hi'])})."
                if not missing(scope.get("cost_exposure"))
                else " (the cost exposure is hidden here: with the roles' costs it would single out small groups)."
            )
        )
        roles = visible(units(data, UNIT_RISK, levels=(role_level(data),)))
        if missing(scope.get("cost_exposure")):
            roles = roles.iloc[0:0]
        roles = roles[roles["cost_exposure"].notna()] if not roles.empty else roles
        if not roles.empty:
            t = roles.sort_values("cost_exposure", ascending=False).iloc[0]
            role = contract.ROLE_LABELS.get(str(t["role"]), str(t["role"]))
            share = float(t["cost_exposure"]) / float(scope["cost_exposure"]) if float(scope["cost_exposure"]) else None
            text.append(
                f"{role}s carry the largest share of that exposure ({money(t['cost_exposure'])}"
                + (f", {pct(share)}" if share is not None else "")
                + ")."
            )
    return " ".join(text) if text else f"No unit-level risk can be shown for {who} (groups too small)."


def _observed_risk_sentence(data: ReportData) -> str | None:
    rows = visible(units(data, METRICS, levels=_rank_levels(data)))
    if rows.empty:
        return None
    rows = rows[(rows["metric"] == "itl") & rows["value"].notna()]
    if rows.empty:
        return None
    key = "shrunk" if rows["shrunk"].notna().any() else "value"
    top = rows.sort_values(key, ascending=False).head(3)
    named = [f"{unit_label(r)} ({pct(r['value'])}, n = {int(r['answered'])})" for _, r in top.iterrows()]
    return (
        f"Stated intent to leave is highest in {_join(named)}, ranked after allowing for small-unit noise. "
        "(The attrition-risk model has not been built for this warehouse yet, so expected departures are not shown.)"
    )


# The breakdowns the exports show for a scope (levels from pipelines.contract.levels).
RANK_LEVEL = {"organisation": "department", "site": "department", "department": "department_role"}


def unit_level(data: ReportData) -> str:
    """The first level below the scope (sites, departments, or the department's roles)."""
    return CHILD_LEVELS[data.scope.level][0]


def rank_level(data: ReportData) -> str:
    """The units ranked by risk: departments (of the organisation or the site), or the department's roles."""
    return RANK_LEVEL[data.scope.level]


def role_level(data: ReportData) -> str:
    """The scope broken down by role: the scope's own dimensions plus role."""
    dims = (*LEVELS[data.scope.level], "role")
    return next(level for level, kept in LEVELS.items() if kept == dims)


def _rank_levels(data: ReportData) -> tuple[str, ...]:
    return (rank_level(data),)


def driver_rows(data: ReportData, wave: str | None = None) -> pd.DataFrame:
    """drivers.to_long rows of the scope group (one per driver group), visible values only."""
    row = scope_row(data, DRIVER_IMPORTANCE, wave=wave)
    if row is None or bool(row["suppressed"]):
        return pd.DataFrame()
    from pipelines.models import drivers

    wide = pd.DataFrame([row])
    long = drivers.to_long(wide)
    return long.sort_values("importance", ascending=False, na_position="last").reset_index(drop=True)


def driver_sentence(data: ReportData) -> str | None:
    who = data.scope.describe()
    if not data.has(DRIVER_IMPORTANCE):
        return None
    long = driver_rows(data)
    long = long[long["importance"].notna()] if not long.empty else long
    if long.empty:
        return f"Drivers of intent to leave cannot be estimated for {who} in wave {data.wave}."
    top = long.head(3)
    named = [f"{lower_first(r['driver_label'])} ({pct(r['share'])})" for _, r in top.iterrows()]
    borrowed = str(long["weights_source"].iloc[0]) == "organisation" if "weights_source" in long else False
    text = (
        f"Of what the survey's drivers explain about intent to leave in {who}, the largest shares go to {_join(named)}"
        + (
            " (weights borrowed from the organisation-wide analysis: too few respondents for their own)"
            if borrowed
            else ""
        )
        + "."
    )
    worst = long[long["unfavourable"].notna()].sort_values("unfavourable", ascending=False)
    if not worst.empty:
        w = worst.iloc[0]
        text += f" The most common unfavourable answers concern {lower_first(w['driver_label'])} ({pct(w['unfavourable'])})."
    return text + " These are associations in survey answers, not proof of cause."


def scenario_levers(data: ReportData) -> pd.DataFrame:
    """Visible per-lever rows of the saved scenarios in scope (the latest saved scenario per name)."""
    frame = data.table(SAVED_SCENARIOS)
    if frame is None or frame.empty:
        return pd.DataFrame()
    rows = visible(frame)
    return rows[rows["net"].notna()] if "net" in rows.columns else rows.iloc[0:0]


def options_sentence(data: ReportData) -> str:
    who = data.scope.describe()
    rows = scenario_levers(data)
    if rows.empty:
        return (
            f"No retention scenario has been saved for {who} yet: compare options on the Retention options page, save "
            "them, and they will appear in the next report."
        )
    single = rows[rows["lever"] != "combined"]
    pool = single if not single.empty else rows
    best = pool.sort_values("net", ascending=False).iloc[0]
    text = (
        f"Among the saved retention scenarios, {lower_first(best['label'])} (in “{best['scenario']}”) has the best expected "
        f"net return over the planning horizon: {money(best['net'])} (95% interval {money(best['net_lo'])} to "
        f"{money(best['net_hi'])}), from {float(best['departures_avoided']):.1f} departures avoided "
        f"({money(best['cost_avoided'])}) against a programme cost of {money(best['programme_cost'])}."
    )
    if float(best["net"]) < 0:
        text += " No saved option pays for itself on replacement cost alone at the programme costs entered."
    elif not missing(best.get("net_lo")) and float(best["net_lo"]) < 0:
        text += " Its interval includes a loss, so treat it as promising rather than certain."
    return (
        text
        + " Effects come from survey associations or stated assumptions, not proof that the option causes the change."
    )


def intentions_sentence(data: ReportData) -> str | None:
    who = data.scope.describe()
    parts = []
    path = scope_row(data, LEAVE_PATHS)
    if path is not None and not bool(path["suppressed"]):
        shares = {c: path.get(f"path_{c}") for c in contract.LEAVE_PATHS if c != "stay"}
        shares = {c: v for c, v in shares.items() if not missing(v)}
        if shares:
            c = max(shares, key=lambda x: float(shares[x]))
            parts.append(
                f"besides staying, the most common plan in {who} is to {lower_first(contract.LEAVE_PATH_LABELS[c])} "
                f"({pct(shares[c])} of those who answered)"
            )
    reason = scope_row(data, LEAVE_REASONS)
    if reason is not None and not bool(reason["suppressed"]):
        shares = {c: reason.get(f"reason_{c}") for c in contract.LEAVE_REASONS}
        shares = {c: v for c, v in shares.items() if not missing(v)}
        if shares:
            c = max(shares, key=lambda x: float(shares[x]))
            parts.append(
                f"the reason given most often is {lower_first(contract.LEAVE_REASON_LABELS[c])} ({pct(shares[c])})"
            )
    if not parts:
        return None
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def executive_summary(data: ReportData) -> list[str]:
    """The summary sentences, in the order a board reads them."""
    out = [
        change_sentence(data),
        risk_sentence(data),
        driver_sentence(data),
        intentions_sentence(data),
        options_sentence(data),
    ]
    return [s for s in out if s]


DRIVER_ACTIONS = {
    "burnout": "reduce burnout",
    "ehr_burden": "lighten EHR and inbox work",
    "call": "ease night call",
    "workload_control": "give them more control over their workload",
    "teamwork": "strengthen teamwork and the work atmosphere",
    "values_alignment": "bring leaders' priorities closer to their own values",
    "feel_valued": "make them feel more valued",
    "clinical_fte": "rebalance clinical time",
}


def next_steps(data: ReportData) -> list[str]:
    """Suggested next steps, derived from the findings (for the closing slide and the PDF)."""
    steps = []
    long = driver_rows(data)
    long = long[long["importance"].notna()] if not long.empty else long
    if not long.empty:
        action = DRIVER_ACTIONS.get(str(long.iloc[0]["driver"]), f"improve {lower_first(long.iloc[0]['driver_label'])}")
        steps.append(f"Ask clinicians in the units most at risk what would {action}, and act on what they say.")
    rows = visible(units(data, UNIT_RISK, levels=_rank_levels(data))) if data.has(UNIT_RISK) else pd.DataFrame()
    if not rows.empty and rows["predicted_itl_rate"].notna().any():
        top = rows.sort_values("predicted_itl_rate", ascending=False).iloc[0]
        steps.append(f"Start with {unit_label(top)}: the highest model-estimated intent to leave in scope.")
    if scenario_levers(data).empty:
        steps.append("Cost the retention options (reduced FTE, dropped call, EHR support) and save them as scenarios.")
    else:
        steps.append("Pilot the best-value saved option, with local programme costs, and measure it next wave.")
    steps.append("Repeat the survey next wave: changes beyond sampling noise show whether actions worked.")
    return steps


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
