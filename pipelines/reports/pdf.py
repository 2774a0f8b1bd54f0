"""The PDF board report: Jinja2 templates (templates/pdf/*.html.j2) + CSS (templates/report.css)
through WeasyPrint, vector SVG charts.

Sections: cover; executive summary (sentences generated from the released numbers); key measures;
risk by unit; drivers; intentions and reasons; retention options (saved scenarios compared); trends;
methodology, sources and caveats, with the confidentiality threshold. A section whose released table
is not in the warehouse yet says so in a sentence. Charts come from the dashboard's own builders
(pipelines.charts), so the report shows what the screen shows.

The Python here computes what each section shows (tables as rows of text, charts as SVG); the
templates hold all the markup, with autoescape on, so every unit name, label and figure is text,
never markup.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from pipelines import charts, contract
from pipelines.charts import format_change, format_value, metric_label, unit_label
from pipelines.charts import report as chart_render
from pipelines.contract.levels import DIMENSIONS
from pipelines.models import intentions
from pipelines.narrative import forecast
from pipelines.release import privacy
from pipelines.release.tables import (
    BENCHMARKS,
    DRIVER_IMPORTANCE,
    LEAVE_PATHS,
    LEAVE_REASONS,
    METRICS,
    SAVED_SCENARIOS,
    TURNOVER_CHECK,
    TURNOVER_CONVERSION,
    UNIT_RISK,
)
from pipelines.reports import summary
from pipelines.reports.data import ReportData
from pipelines.reports.summary import missing, money, pct, visible

KEY_TABLE_METRICS = (
    "burnout",
    "itl",
    "high_stress",
    "reduce_fte",
    "satisfied",
    "valued",
    "unfav_work_control",
    "ehr_after_hours_median",
    "inbox_median",
    "call_nights",
    "mini_z",
)
TREND_METRICS = ("burnout", "itl", "high_stress", "unfav_feel_valued")
FIG_WIDTH = 900
Progress = Callable[[float, str], None] | None


def css() -> str:
    return resources.files("pipelines.reports").joinpath("templates", "report.css").read_text(encoding="utf-8")


@functools.cache
def environment() -> jinja2.Environment:
    """The report's templates, autoescaped (every value is text; markup lives in the templates)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pipelines.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render(template: str, **context: Any) -> Markup:
    return Markup(environment().get_template(f"pdf/{template}.html.j2").render(**context))


@dataclass(frozen=True)
class Figure:
    title: str
    src: str  # data: URI of the SVG
    caption: str = ""


@dataclass(frozen=True)
class Cell:
    text: str
    cls: str = ""


@dataclass(frozen=True)
class Table:
    head: list[Cell]
    rows: list[list[Cell]]
    css_class: str = ""


def figure(fig, caption: str = "", height: int | None = None) -> Figure:
    """The chart as vector SVG under its finding-style title (real text, so it wraps and is searchable)."""
    title = chart_render.figure_title(fig)
    svg = chart_render.render_svg(fig, FIG_WIDTH, height)
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return Figure(title or "", f"data:image/svg+xml;base64,{data}", caption)


def table(
    frame: pd.DataFrame, num: Iterable[str] = (), hidden_text: str = "fewer than", css_class: str = ""
) -> Table | None:
    """A table's cells as text; cells that read 'fewer than k'/'hidden' are greyed; the header
    repeats on each page (CSS). None for no rows."""
    if frame is None or frame.empty:
        return None
    num = set(num)
    head = [Cell(str(c), "num" if c in num else "") for c in frame.columns]
    rows = []
    for rec in frame.itertuples(index=False):
        cells = []
        for c, v in zip(frame.columns, rec, strict=True):
            text = "" if missing(v) else (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
            cls = []
            if c in num:
                cls.append("num")
            if text.startswith(hidden_text) or text == "hidden" or text == privacy.SUPPRESSED_TEXT:
                cls.append("hidden")
            cells.append(Cell(text, " ".join(cls)))
        rows.append(cells)
    return Table(head, rows, css_class)


# ------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------
CONTENTS = ("Executive summary", "Key measures", "Risk by unit", "Forecast checks", "Drivers", "Intentions and reasons",
            "Retention options", "Trends", "Methodology, sources and caveats")  # fmt: skip


def cover(data: ReportData) -> Markup:
    return render(
        "cover",
        scope=data.scope,
        wave=data.wave,
        waves=data.waves,
        generated_at=data.generated_at,
        k=data.k,
        intentions_k=data.intentions_k,
        contents=CONTENTS,
        glance=summary.change_sentence(data) or "",
    )


def executive_summary(data: ReportData) -> Markup:
    return render(
        "executive_summary",
        headlines=summary.headlines(data),
        findings=summary.executive_summary(data),
        steps=summary.next_steps(data),
    )


def _metric_rows(data: ReportData, metrics: Iterable[str]) -> pd.DataFrame:
    rows = []
    k = data.k
    for m in metrics:
        r = summary.scope_metric(data, m)
        if r is None:
            continue
        hidden = bool(r["suppressed"])
        interval = "" if hidden or missing(r.get("lo")) else f"{100 * r['lo']:.1f}–{100 * r['hi']:.1f}%"
        change = "" if hidden else format_change(r.get("change"), r["stat"], r.get("exceeds_noise"))
        rows.append(
            {
                "Measure": metric_label(m, short=False),
                "Value": f"fewer than {k}" if hidden else format_value(r["value"], r["stat"], r["display"]),
                "95% interval": interval,
                "Answered": None if hidden or missing(r.get("answered")) else int(r["answered"]),
                f"Change since {data.previous_wave or 'last wave'}": change,
                "Beyond noise": "yes" if summary.flag(r.get("exceeds_noise")) else "",
            }
        )
    return pd.DataFrame(rows)


def key_measures(data: ReportData) -> Markup:
    metrics = data.table(METRICS)
    if metrics is None:
        return render("key_measures", absent=METRICS)
    level = summary.unit_level(data)
    units = summary.units(data, METRICS, levels=(level,))
    heatmap = None
    if not units.empty:
        noun = {"site": "site", "department": "department", "department_role": "role"}[level]
        heatmap = figure(
            charts.heatmap_figure(units, data.k),
            f"Key measures by {noun}. Colour ranks each unit within its column (darker = worse); grey cells are hidden.",
        )
    benchmark = None
    bench = data.table(BENCHMARKS)
    if bench is not None and not bench.empty:
        sel = data.scope.scope_rows(metrics, data.wave)
        sel = sel[sel["role"].isna()] if "role" in sel else sel
        btable = charts.benchmark_table(sel, bench)
        if not btable.empty:
            benchmark = figure(
                charts.benchmark_figure(btable, who=data.scope.title()),
                height=300,
                caption="Published figures are mostly about physicians and come from other populations: a guide, not a target.",
            )
    return render(
        "key_measures",
        absent=None,
        who=data.scope.describe(),
        wave=data.wave,
        measures=table(_metric_rows(data, KEY_TABLE_METRICS), num={"Value", "95% interval", "Answered"}),
        heatmap=heatmap,
        benchmark=benchmark,
    )


def _rank_level(data: ReportData) -> str:
    return summary.rank_level(data)


def _role_level(data: ReportData) -> str:
    return summary.role_level(data)


def risk_section(data: ReportData) -> Markup:
    k = data.k
    context: dict[str, Any] = {"itl_note": charts.ITL_NOTE, "absent": None, "observed": None, "ranking": None,
                               "roles": None, "sites": None, "units": None, "noun": ""}  # fmt: skip
    if not data.has(UNIT_RISK):
        units = summary.units(data, METRICS, levels=(_rank_level(data),))
        itl = units[units["metric"] == "itl"] if not units.empty else units
        if not itl.empty:
            context["observed"] = table(charts.metrics_table(itl.sort_values("shrunk", ascending=False, na_position="last"), k),
                                        num={"Value", "95% interval", "n", "Change"}, css_class="compact")  # fmt: skip
        return render("risk", **{**context, "absent": UNIT_RISK})
    level = _rank_level(data)
    units = summary.units(data, UNIT_RISK, levels=(level,))
    observed = summary.units(data, METRICS, levels=(level,))
    observed = observed[observed["metric"] == "itl"] if not observed.empty else observed
    if not units.empty:
        context["ranking"] = figure(
            charts.risk_ranking_figure(units, k, top=15),
            "Model-estimated share stating intent to leave (mean predicted probability) with 95% intervals; "
            "the 15 highest units are shown; hidden units are listed in the table below.",
        )
    roles = summary.units(data, UNIT_RISK, levels=(_role_level(data),))
    if not roles.empty:
        roles = (
            roles.assign(_h=roles["suppressed"].fillna(True).astype(bool))
            .sort_values(["_h", "expected_departures"], ascending=[True, False], na_position="last")
            .drop(columns="_h")
        )
        dep = charts.departures_table(roles, k).drop(columns=["Headcount from"], errors="ignore")
        source = roles["headcount_source"].dropna()
        basis = None
        if not source.empty:
            basis = "the roster" if source.iloc[0] == "roster" else "respondents (no roster loaded)"
        context["roles"] = {
            "figure": figure(
                charts.departures_by_role_figure(roles, k),
                height=320,
                caption="Expected departures within two years by role (bars, 95% interval) and replacement-cost exposure "
                "(in the bars). Departures convert stated intent with published rates; they are not a list of people.",
            ),
            "table": table(dep, num=set(dep.columns[1:]), css_class="compact"),
            "basis": basis,
        }
    if data.scope.level == "organisation":
        sites = summary.units(data, UNIT_RISK, levels=("site",))
        obs_sites = summary.units(data, METRICS, levels=("site",))
        obs_sites = obs_sites[obs_sites["metric"] == "itl"] if not obs_sites.empty else obs_sites
        if not sites.empty:
            context["sites"] = _risk_table(sites, obs_sites, k)
    if not units.empty:
        context["noun"] = "department" if level == "department" else "role in the department"
        context["units"] = _risk_table(units, observed, k)
    return render("risk", **context)


def _risk_table(units: pd.DataFrame, observed: pd.DataFrame, k: int) -> Table | None:
    order = units.assign(_h=units["suppressed"].fillna(True).astype(bool)).sort_values(
        ["_h", "predicted_itl_rate"], ascending=[True, False], na_position="last"
    )
    t = charts.risk_table(order.drop(columns="_h"), k, observed)
    keep = [
        "Unit",
        "Respondents",
        "Estimated ITL",
        "ITL 95% interval",
        "Stated ITL (survey)",
        "Expected departures (2 yrs)",
        "Cost exposure",
    ]
    t = t[[c for c in keep if c in t.columns]]
    return table(t, num=set(keep[1:]), css_class="compact")


def forecast_section(data: ReportData) -> Markup:
    """How far to trust the departure forecast: its intervals (sampling and conversion), last wave's
    model on this wave (drift), and the forecast against actual turnover with the conversion rates the
    organisation's own history taught. Released tables only; model quality is organisation-wide, so it
    is shown only in an organisation-wide report (as on the dashboard)."""
    k = data.k
    ctx: dict[str, Any] = {"intervals": "", "quality": "", "drift": "", "drifted": False, "quality_note": "",
                           "turnover": None, "turnover_empty": charts.TURNOVER_EMPTY.replace("`", ""), "conversion": None}  # fmt: skip
    ctx["intervals"] = forecast.intervals_sentence(summary.scope_row(data, UNIT_RISK))
    if data.scope.level == "organisation":
        ctx["quality"] = forecast.quality_sentence(data.diagnostics)
        ctx["drift"], ctx["drifted"] = forecast.drift_sentence(data.diagnostics)
    else:
        ctx["quality_note"] = (
            "Model quality and the previous-wave drift check are organisation-wide figures, shown in the organisation-wide report."
        )
    check = data.table(TURNOVER_CHECK)
    if check is not None and not check.empty:
        periods = sorted({str(p) for p in check["wave"].dropna()})
        own = pd.DataFrame([r for p in periods if (r := summary.scope_row(data, TURNOVER_CHECK, wave=p)) is not None])
        latest = periods[-1]
        units = summary.units(data, TURNOVER_CHECK, levels=(_rank_level(data),), wave=latest)
        ctx["turnover"] = {
            "lines": [
                t
                for p in periods
                if (t := forecast.turnover_summary(summary.scope_row(data, TURNOVER_CHECK, wave=p), p))
            ],
            "periods": table(charts.turnover_periods_table(own, k), css_class="compact") if not own.empty else None,
            "figure": figure(
                charts.turnover_check_figure(units, k, top=15),
                f"{latest}: actual ÷ forecast leavers per unit (1 = as forecast), 95% intervals. Vermillion: more "
                "left than the forecast's 95% range (conversion-rate uncertainty and chance included); blue: fewer.",
            )
            if not units.empty
            else None,
            "units": table(charts.turnover_check_table(units, k).drop(columns="Period"), css_class="compact")
            if not units.empty
            else None,
            "latest": latest,
        }
    conv = data.table(TURNOVER_CONVERSION)
    if conv is not None and not conv.empty and not bool(conv["suppressed"].fillna(True).astype(bool).iloc[0]):
        row = conv.iloc[0]
        ctx["conversion"] = {
            "sentence": charts.conversion_sentence(row),
            "table": table(charts.conversion_table(row), css_class="compact"),
        }
    return render("forecast", **ctx)


def drivers_section(data: ReportData) -> Markup:
    who = data.scope.describe()
    context: dict[str, Any] = {"who": who, "wave": data.wave}
    if not data.has(DRIVER_IMPORTANCE):
        return render("drivers", **context, absent=DRIVER_IMPORTANCE, importance=None)
    long = summary.driver_rows(data)
    if long.empty or long["importance"].isna().all():
        return render("drivers", **context, absent=None, importance=None)
    rows = []
    for _, r in long.iterrows():
        hidden_unfav = missing(r.get("unfavourable"))
        rows.append(
            {
                "Driver": r["driver_label"],
                "Share of explained ITL": pct(r["share"]),
                "Importance 95% interval": ""
                if missing(r.get("importance_lo"))
                else f"{float(r['importance_lo']):.4f} – {float(r['importance_hi']):.4f}",
                "Direction": "worse → more ITL" if r["sign"] > 0 else "protective" if r["sign"] < 0 else "unclear",
                "Unfavourable answers here": (r.get("unfavourable_display") or "–")
                if hidden_unfav
                else pct(r["unfavourable"], 1),
            }
        )
    return render(
        "drivers",
        **context,
        absent=None,
        importance=figure(charts.importance_figure(long), "Associations in survey answers, not proof of cause."),
        rows=table(
            pd.DataFrame(rows), num={"Share of explained ITL", "Importance 95% interval", "Unfavourable answers here"}
        ),
        borrowed=str(long["weights_source"].iloc[0]) == "organisation",
    )


def _intent_long(data: ReportData, name: str, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    wide = rows
    if wide is None:
        row = summary.scope_row(data, name)
        wide = pd.DataFrame([row]) if row is not None else pd.DataFrame()
    if wide.empty:
        return wide
    long = intentions.to_long(wide.reset_index(drop=True))
    per = len(long) // len(wide)
    long["suppressed"] = list(wide["suppressed"].fillna(True).astype(bool)) * per
    return long


def intentions_section(data: ReportData) -> Markup:
    k = data.intentions_k
    if not data.has(LEAVE_PATHS) and not data.has(LEAVE_REASONS):
        return render("intentions", absent=LEAVE_PATHS)
    questions = []
    for name, question, title in ((LEAVE_PATHS, "path", "Leave paths"), (LEAVE_REASONS, "reason", "Reasons given")):
        q: dict[str, Any] = {"title": title, "absent": None, "figure": None, "by_role": None}
        questions.append(q)
        if not data.has(name):
            q["absent"] = name
            continue
        long = _intent_long(data, name)
        if long.empty or long["pct"].isna().all():
            continue
        q["figure"] = figure(charts.intentions_figure(long, question, k), "")
        roles = summary.units(data, name, levels=(_role_level(data),))
        if not roles.empty:
            q["by_role"] = _intent_pivot(_intent_long(data, name, roles), question, k)
    options = None
    opts = intentions.option_map()
    opts = opts[(opts["source"] == "path") & (opts["code"] != "stay")]
    if not opts.empty:
        grouped = opts.groupby("source_label", sort=False)["option_label"].apply(lambda s: "; ".join(dict.fromkeys(s)))
        options = table(
            pd.DataFrame({"If they plan to…": grouped.index, "options that could keep them": grouped.values}),
            css_class="compact",
        )
    return render("intentions", absent=None, who=data.scope.describe(), k=k, questions=questions, options=options)


def _intent_pivot(long: pd.DataFrame, question: str, k: int) -> Table | None:
    """Answers as rows, groups (roles) as columns: narrow enough for any number of answers."""
    frame = long[long["question"] == question]
    labels = list(dict.fromkeys(frame["label"]))
    columns: dict[str, dict[str, str]] = {}
    for _, g in frame.groupby(["role"], sort=True, dropna=False):
        first = g.iloc[0]
        name = (
            contract.ROLE_LABELS.get(str(first["role"]), str(first["role"]))
            if not missing(first["role"])
            else unit_label(first)
        )
        hidden = bool(first["suppressed"])
        col = {"Answered": f"fewer than {k}" if hidden or missing(first["n"]) else f"{int(first['n']):,}"}
        for label in labels:
            cell = g[g["label"] == label].iloc[0]
            col[label] = "" if hidden else (cell.get("display") or "–") if missing(cell["pct"]) else pct(cell["pct"])
        columns[name] = col
    rows = [{"": label, **{name: col[label] for name, col in columns.items()}} for label in ["Answered", *labels]]
    return table(pd.DataFrame(rows), num=set(columns), css_class="compact")


def compare_frame(levers: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The headline row of each saved scenario in the shape of scenarios.compare_scenarios."""
    from pipelines.scenarios import RESULT_METRICS

    names = list(dict.fromkeys(levers["scenario"]))
    data: dict[str, list] = {"metric": [label for _, label in RESULT_METRICS]}
    for name in names:
        res = levers[levers["scenario"] == name]
        comb = res[res["lever"] == "combined"]
        head = (comb if len(comb) else res).iloc[0]
        data[name] = [head.get(m) for m, _ in RESULT_METRICS]
        data[f"{name} low"] = [head.get(f"{m}_lo") for m, _ in RESULT_METRICS]
        data[f"{name} high"] = [head.get(f"{m}_hi") for m, _ in RESULT_METRICS]
    return pd.DataFrame(data), names


def scenario_rows(res: pd.DataFrame) -> pd.DataFrame:
    """One saved scenario's options, estimates only except the net (with its 95% interval)."""
    rows = []
    for _, r in res.iterrows():
        hidden = bool(r.get("suppressed", False)) or missing(r.get("net"))
        effect = {"model": "survey model", "assumed": "assumed rate", "combined": "all together"}.get(
            r.get("kind"), r.get("kind")
        )
        rows.append(
            {
                "Option": r["label"],
                "Effect from": effect,
                "Eligible": "hidden" if hidden else f"{float(r['eligible_headcount']):,.0f}",
                "Departures avoided": "" if hidden else f"{float(r['departures_avoided']):.1f}",
                "Cost avoided": "" if hidden else money(r["cost_avoided"]),
                "Programme cost": "" if hidden else money(r["programme_cost"]),
                "Net (95% interval)": ""
                if hidden
                else f"{money(r['net'])} ({money(r['net_lo'])} to {money(r['net_hi'])})",
                "ROI": "" if hidden or missing(r.get("roi")) else f"{100 * float(r['roi']):.0f}%",
            }
        )
    return pd.DataFrame(rows)


def scenarios_section(data: ReportData) -> Markup:
    frame = data.table(SAVED_SCENARIOS)
    sentence = summary.options_sentence(data)
    if frame is None or frame.empty:
        return render("scenarios", scenarios=[], sentence=sentence)
    shown = visible(frame)
    shown = shown[shown["net"].notna()] if "net" in shown else shown.iloc[0:0]
    compare = None
    if not shown.empty:
        compare_table, names = compare_frame(shown)
        compare = figure(
            charts.scenario_compare_figure(compare_table, names),
            "Net saving (replacement cost avoided minus programme cost) over the planning horizon, 95% interval.",
        )
    scenarios = []
    for name, res in frame.groupby("scenario", sort=False):
        scope_bits = [str(v) for v in (res["site"].iloc[0], res["department"].iloc[0]) if not missing(v)]
        role = res["role"].iloc[0]
        if not missing(role):
            scope_bits.append(contract.ROLE_LABELS.get(str(role), str(role)))
        ev = charts.scenario_table(res)[["Option", "Published evidence", "Strength of evidence"]]
        ev = ev[(ev["Published evidence"] != "") & (ev["Option"] != "All levers together")]
        scenarios.append(
            {
                "name": name,
                "scope": " · ".join(scope_bits) or "whole organisation",
                "wave": res["wave"].iloc[0],
                "options": table(
                    scenario_rows(res),
                    num={
                        "Eligible",
                        "Departures avoided",
                        "Cost avoided",
                        "Programme cost",
                        "Net (95% interval)",
                        "ROI",
                    },
                    css_class="compact",
                ),
                "evidence": table(ev, css_class="compact"),
            }
        )
    return render("scenarios", scenarios=scenarios, sentence=sentence, who=data.scope.describe(), compare=compare)


def trends_section(data: ReportData) -> Markup:
    metrics = data.table(METRICS)
    if metrics is None:
        return render("trends", absent=METRICS)
    scope = data.scope
    rows = metrics[metrics["level"] == scope.level]
    for d in DIMENSIONS:
        want = getattr(scope, d, None)
        rows = rows[rows[d].isna()] if want is None else rows[rows[d].astype(object) == want]
    trend = None
    if len(data.waves) >= 2:
        trend = figure(chart_render.scope_trend_figure(rows, TREND_METRICS, scope.describe(), data.k),
                       "Rings mark a change from the previous wave larger than sampling noise; bars are 95% intervals.")  # fmt: skip
    table_rows = []
    for m in (*TREND_METRICS, "satisfied", "valued", "ehr_after_hours_median"):
        rec = {"Measure": metric_label(m, short=False)}
        for w in data.waves:
            r = rows[(rows["metric"] == m) & (rows["wave"].astype(object) == w)]
            if r.empty:
                rec[w] = ""
                continue
            r = r.iloc[0]
            rec[w] = (
                f"fewer than {data.k}" if bool(r["suppressed"]) else format_value(r["value"], r["stat"], r["display"])
            )
        last = rows[(rows["metric"] == m) & (rows["wave"].astype(object) == data.wave)]
        rec["Latest change"] = (
            ""
            if last.empty
            else format_change(last.iloc[0].get("change"), last.iloc[0]["stat"], last.iloc[0].get("exceeds_noise"))
        )
        table_rows.append(rec)
    return render(
        "trends",
        absent=None,
        wave=data.wave,
        trend=trend,
        table=table(pd.DataFrame(table_rows), num={*data.waves, "Latest change"}),
    )


SOURCES = (
    "Shanafelt et al., Mayo Clin Proc 2019, 2022, 2025: US physician burnout 2011–2023.",
    "AMA Organizational Biopsy, 2022–2024 (AMA news releases): burnout, intent to leave, satisfaction.",
    "Sinsky et al. 2021, Mayo Clin Proc Innov Qual Outcomes: intent to leave by role (20,665 staff).",
    "Hamidi et al. 2018, BMC Health Serv Res (doi:10.1186/s12913-018-3663-z): stated intent vs actual departure.",
    "Rittenhouse et al. 2004: stated intent predicted leaving with PPV 35%.",
    "Shanafelt, Goh & Sinsky 2017, JAMA Intern Med: the business case; physician replacement cost $500k–$1M.",
    "NSI National Health Care Retention & RN Staffing Report 2025 (secondary): RN turnover cost $61,110.",
    "Linzer et al. (Mini-Z); items paraphrased, not reproduced.",
)


def methodology_section(data: ReportData) -> Markup:
    a = data.assumptions
    caveats = [
        "Intent to leave (ITL) is stated intent, not departures. In follow-up studies about a third of those who said "
        "they would leave actually left (Rittenhouse 2004, PPV 35%); this report never counts ITL as leavers.",
        "Expected departures = headcount × [p × P(leave | ITL) + (1 − p) × P(leave | no ITL)], with "
        f"P(leave | ITL) = {pct(a.get('p_leave_given_itl'))} and P(leave | no ITL) = {pct(a.get('p_leave_given_no_itl'))} "
        "(derived from Hamidi et al. 2018; editable assumptions).",
        "Drivers and retention-option effects are associations in cross-sectional survey answers, not proof of cause.",
        "Changes between waves are called real only when their 95% interval excludes zero. Ranks use rates shrunk "
        "towards the average (empirical Bayes), so small noisy units are not singled out by chance.",
        "Benchmarks come from published surveys of other populations (mostly physicians): a guide, not a target.",
    ]
    diag = data.diagnostics
    model = (
        "Attrition risk: logistic regression of stated intent to leave on the drivers (burnout, the 1–5 items, "
        "after-hours EHR, inbox, call nights, clinical FTE) adjusted for role, site and tenure, fitted per wave. "
        "Unit risk is the mean predicted probability over the unit's respondents."
    )
    if diag:
        model += f" Cross-validated quality this wave: AUROC {float(diag['auroc']):.2f}; {diag.get('verdict') or ''}"
    costs = []
    for role in contract.ROLES:
        v = a.get(f"replacement_cost_{role}")
        if v is not None:
            costs.append({"Role": contract.ROLE_LABELS[role], "Replacement cost per departure": money(v)})
    defs = charts.metric_definitions()
    used = defs[defs["code"].isin([*KEY_TABLE_METRICS, *TREND_METRICS])]
    return render(
        "methodology",
        k=data.k,
        intentions_k=data.intentions_k,
        scope=data.scope,
        caveats=caveats,
        model=model,
        costs=table(pd.DataFrame(costs), num={"Replacement cost per departure"}, css_class="compact")
        if costs
        else None,
        definitions=table(
            used[["measure", "number shown", "definition"]].rename(columns=str.capitalize), css_class="compact defs"
        ),
        sources=SOURCES,
        generated_at=data.generated_at,
        built_at=data.built_at,
    )


SECTIONS = (
    ("Executive summary", executive_summary),
    ("Key measures", key_measures),
    ("Risk by unit", risk_section),
    ("Forecast checks", forecast_section),
    ("Drivers", drivers_section),
    ("Intentions and reasons", intentions_section),
    ("Retention options", scenarios_section),
    ("Trends", trends_section),
    ("Methodology", methodology_section),
)


def build_html(data: ReportData, progress: Progress = None) -> str:
    body = [cover(data)]
    for i, (label, fn) in enumerate(SECTIONS):
        if progress:
            progress(0.1 + 0.7 * i / len(SECTIONS), f"Drawing: {label}")
        body.append(fn(data))
    return render(
        "report",
        title=f"Clinician retention report · {data.scope.title()} · wave {data.wave}",
        css=Markup(css()),  # the package's own stylesheet, not data: inside <style> it must stay as written
        sections=body,
    )


def build_pdf(data: ReportData, progress: Progress = None) -> bytes:
    import weasyprint

    document = build_html(data, progress)
    if progress:
        progress(0.85, "Laying out the PDF")
    return weasyprint.HTML(string=document).write_pdf()
