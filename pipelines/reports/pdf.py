"""The PDF board report: HTML + CSS (templates/report.css) through WeasyPrint, vector SVG charts.

Sections: cover; executive summary (sentences generated from the released numbers); key measures;
risk by unit; drivers; intentions and reasons; retention options (saved scenarios compared); trends;
methodology, sources and caveats, with the confidentiality threshold. A section whose released table
is not in the warehouse yet says so in a sentence. Charts come from the dashboard's own builders
(pipelines.charts), so the report shows what the screen shows; unit names are escaped everywhere.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable
from importlib import resources

import pandas as pd

from pipelines import charts, contract
from pipelines.charts import report as chart_render
from pipelines.charts.core import format_change, format_value, metric_label, unit_label
from pipelines.models import intentions
from pipelines.release import privacy
from pipelines.release.tables import (
    BENCHMARKS,
    DRIVER_IMPORTANCE,
    LEAVE_PATHS,
    LEAVE_REASONS,
    METRICS,
    SAVED_SCENARIOS,
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


def esc(x: object) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def css() -> str:
    return resources.files("pipelines.reports").joinpath("templates", "report.css").read_text(encoding="utf-8")


def figure(fig, caption: str = "", height: int | None = None) -> str:
    """The chart as vector SVG under its finding-style title (real text, so it wraps and is searchable)."""
    title = chart_render.figure_title(fig)
    svg = chart_render.render_svg(fig, FIG_WIDTH, height)
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    head = f'<div class="figtitle">{esc(title)}</div>' if title else ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure>{head}<img alt="{esc(title) or "chart"}" src="data:image/svg+xml;base64,{data}"/>{cap}</figure>'


def table(frame: pd.DataFrame, num: Iterable[str] = (), hidden_text: str = "fewer than", css_class: str = "") -> str:
    """An HTML table; cells that read 'fewer than k'/'hidden' are greyed; header repeats on each page."""
    if frame is None or frame.empty:
        return ""
    num = set(num)
    head = "".join(f'<th class="{"num" if c in num else ""}">{esc(c)}</th>' for c in frame.columns)
    body = []
    for rec in frame.itertuples(index=False):
        cells = []
        for c, v in zip(frame.columns, rec, strict=True):
            text = "" if missing(v) else (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
            cls = []
            if c in num:
                cls.append("num")
            if text.startswith(hidden_text) or text == "hidden" or text == privacy.SUPPRESSED_TEXT:
                cls.append("hidden")
            cells.append(f'<td class="{" ".join(cls)}">{esc(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def not_yet(what: str, table_name: str) -> str:
    return (
        f'<div class="missing">{esc(what)} cannot be shown yet: the released table <b>{esc(table_name)}</b> is not in '
        "this warehouse. It appears once the model is part of the build (python -m pipelines build).</div>"
    )


# ------------------------------------------------------------------------------------------
# Sections
# ------------------------------------------------------------------------------------------
def cover(data: ReportData) -> str:
    s = data.scope
    glance = summary.change_sentence(data) or ""
    sections = ["Executive summary", "Key measures", "Risk by unit", "Drivers", "Intentions and reasons",
                "Retention options", "Trends", "Methodology, sources and caveats"]  # fmt: skip
    return f"""
<div class="cover">
  <div class="band">
    <div class="kicker">Board report · clinician retention</div>
    <h1>Clinician retention report</h1>
    <p class="scope runhead">{esc(s.title())} · survey wave {esc(data.wave)}</p>
  </div>
  <dl>
    <dt>Scope</dt><dd>{esc(s.title())}</dd>
    <dt>Survey wave</dt><dd>{esc(data.wave)}{f" (trends include {esc(', '.join(data.waves))})" if len(data.waves) > 1 else ""}</dd>
    <dt>Generated</dt><dd>{data.generated_at:%d %B %Y, %H:%M}</dd>
    <dt>Confidentiality threshold</dt><dd>k = {data.k} respondents ({data.intentions_k} for leave paths and reasons)</dd>
    <dt>Contents</dt><dd>{" · ".join(sections)}</dd>
  </dl>
  <div class="glance"><b>At a glance.</b> {esc(glance)}</div>
  <div class="box">
    <p><b>Confidential.</b> Every number comes from tables released through the confidentiality layer, the same
    ones the dashboard shows. No group with fewer than {data.k} respondents is shown, and some larger groups are
    hidden as well so that a small one cannot be worked out by subtraction. No figure about any individual appears
    anywhere.</p>
    <p>Intent to leave is what people <i>say</i> about the next two years, not a count of people who will leave.</p>
    <p>How to read it: percentages are shares of those who answered each question, with 95% intervals. A change
    is called real only when it is larger than sampling noise (its 95% interval excludes zero). Hidden figures
    read “fewer than {data.k}”.</p>
  </div>
  <p class="foot confidential">Confidential · no group under {data.k} respondents is shown</p>
</div>"""


def executive_summary(data: ReportData) -> str:
    tiles = "".join(
        f'<div class="tile"><div class="label">{esc(h.label)}</div><div class="value">{esc(h.value)}</div>'
        f'<div class="sub">{esc(h.note)}</div></div>'
        for h in summary.headlines(data)
    )
    findings = "".join(f"<li>{esc(s)}</li>" for s in summary.executive_summary(data))
    steps = "".join(f"<li>{esc(s)}</li>" for s in summary.next_steps(data))
    return f"""
<section class="chapter">
  <h2>Executive summary</h2>
  <div class="tiles">{tiles}</div>
  <ul class="findings">{findings}</ul>
  <h3>Suggested next steps</h3>
  <ol class="steps">{steps}</ol>
</section>"""


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


def key_measures(data: ReportData) -> str:
    who = data.scope.describe()
    metrics = data.table(METRICS)
    if metrics is None:
        return f'<section class="chapter"><h2>Key measures</h2>{not_yet("Key measures", METRICS)}</section>'
    parts = [
        f'<section class="chapter"><h2>Key measures</h2><p class="lead">How clinicians in {esc(who)} answered in wave {esc(data.wave)}.</p>'
    ]
    parts.append(table(_metric_rows(data, KEY_TABLE_METRICS), num={"Value", "95% interval", "Answered"}))
    level = {"organisation": "site", "site": "department", "department": "department_role"}[data.scope.level]
    units = summary.units(data, METRICS, levels=(level,))
    if not units.empty:
        noun = {"site": "site", "department": "department", "department_role": "role"}[level]
        parts.append(
            figure(
                charts.heatmap_figure(units, data.k),
                f"Key measures by {noun}. Colour ranks each unit within its column (darker = worse); grey cells are hidden.",
            )
        )
    bench = data.table(BENCHMARKS)
    if bench is not None and not bench.empty:
        sel = data.scope.scope_rows(metrics, data.wave)
        sel = sel[sel["role"].isna()] if "role" in sel else sel
        btable = charts.benchmark_table(sel, bench)
        if not btable.empty:
            parts.append(
                figure(
                    charts.benchmark_figure(btable, who=data.scope.title()),
                    height=300,
                    caption="Published figures are mostly about physicians and come from other populations: a guide, not a target.",
                )
            )
    parts.append("</section>")
    return "".join(parts)


def _rank_level(data: ReportData) -> str:
    return {"organisation": "department", "site": "department", "department": "department_role"}[data.scope.level]


def _role_level(data: ReportData) -> str:
    return {"organisation": "role", "site": "site_role", "department": "department_role"}[data.scope.level]


def risk_section(data: ReportData) -> str:
    k = data.k
    name = UNIT_RISK if data.has(UNIT_RISK) else None
    parts = ['<section class="chapter"><h2>Risk by unit</h2>']
    parts.append(f'<div class="callout">{esc(charts.ITL_NOTE)}</div>')
    if name is None:
        parts.append(not_yet("Model-estimated risk, expected departures and cost exposure", UNIT_RISK))
        units = summary.units(data, METRICS, levels=(_rank_level(data),))
        itl = units[units["metric"] == "itl"] if not units.empty else units
        if not itl.empty:
            parts.append("<h3>Stated intent to leave by unit (survey answers)</h3>")
            parts.append(table(charts.metrics_table(itl.sort_values("shrunk", ascending=False, na_position="last"), k),
                               num={"Value", "95% interval", "n", "Change"}, css_class="compact"))  # fmt: skip
        parts.append("</section>")
        return "".join(parts)
    level = _rank_level(data)
    units = summary.units(data, name, levels=(level,))
    observed = summary.units(data, METRICS, levels=(level,))
    observed = observed[observed["metric"] == "itl"] if not observed.empty else observed
    if not units.empty:
        parts.append(
            figure(
                charts.risk_ranking_figure(units, k, top=15),
                "Model-estimated share stating intent to leave (mean predicted probability) with 95% intervals; "
                "the 15 highest units are shown; hidden units are listed in the table below.",
            )
        )
    roles = summary.units(data, name, levels=(_role_level(data),))
    if not roles.empty:
        roles = (
            roles.assign(_h=roles["suppressed"].fillna(True).astype(bool))
            .sort_values(["_h", "expected_departures"], ascending=[True, False], na_position="last")
            .drop(columns="_h")
        )
        parts.append(
            figure(
                charts.departures_by_role_figure(roles, k),
                height=320,
                caption="Expected departures within two years by role (bars, 95% interval) and replacement-cost exposure "
                "(in the bars). Departures convert stated intent with published rates; they are not a list of people.",
            )
        )
        parts.append("<h3>Expected departures and cost by role</h3>")
        dep = charts.departures_table(roles, k).drop(columns=["Headcount from"], errors="ignore")
        parts.append(table(dep, num=set(dep.columns[1:]), css_class="compact"))
        source = roles["headcount_source"].dropna()
        if not source.empty:
            basis = "the roster" if source.iloc[0] == "roster" else "respondents (no roster loaded)"
            parts.append(f'<p class="note">Headcount from {basis}.</p>')
    if data.scope.level == "organisation":
        sites = summary.units(data, name, levels=("site",))
        obs_sites = summary.units(data, METRICS, levels=("site",))
        obs_sites = obs_sites[obs_sites["metric"] == "itl"] if not obs_sites.empty else obs_sites
        if not sites.empty:
            parts.append("<h3>Risk by site</h3>")
            parts.append(_risk_table(sites, obs_sites, k))
    if not units.empty:
        noun = "department" if level == "department" else "role in the department"
        parts.append(f"<h3>Risk by {noun}, highest estimated intent to leave first</h3>")
        parts.append(_risk_table(units, observed, k))
    parts.append("</section>")
    return "".join(parts)


def _risk_table(units: pd.DataFrame, observed: pd.DataFrame, k: int) -> str:
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


def drivers_section(data: ReportData) -> str:
    name = DRIVER_IMPORTANCE if data.has(DRIVER_IMPORTANCE) else None
    parts = ['<section class="chapter"><h2>Drivers</h2>']
    if name is None:
        parts.append(not_yet("Driver importance", DRIVER_IMPORTANCE))
        parts.append("</section>")
        return "".join(parts)
    long = summary.driver_rows(data)
    who = data.scope.describe()
    if long.empty or long["importance"].isna().all():
        parts.append(f'<div class="missing">Driver importance cannot be shown for {esc(who)} in wave {esc(data.wave)} '
                     f"(too few respondents, or hidden to protect a smaller group).</div></section>")  # fmt: skip
        return "".join(parts)
    parts.append(
        f'<p class="lead">Which conditions go with stated intent to leave in {esc(who)}: each bar is the driver’s share of '
        "what the drivers together explain (general dominance analysis), with a 95% bootstrap interval. Vermillion: "
        "worse conditions go with more intent to leave.</p>"
    )
    parts.append(figure(charts.importance_figure(long), "Associations in survey answers, not proof of cause."))
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
    parts.append(
        table(
            pd.DataFrame(rows), num={"Share of explained ITL", "Importance 95% interval", "Unfavourable answers here"}
        )
    )
    if str(long["weights_source"].iloc[0]) == "organisation":
        parts.append('<p class="note">This group has too few respondents for its own driver analysis, so it borrows the '
                     "organisation-wide importance weights; the unfavourable shares are its own.</p>")  # fmt: skip
    parts.append(
        '<p class="note">Importance is the average gain in McFadden pseudo-R² a driver group brings to the logistic model of '
        "intent to leave, over every combination of the other groups. Job satisfaction is left out on purpose: it is close "
        "to an outcome of the same experience rather than something leaders can change.</p></section>"
    )
    return "".join(parts)


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


def intentions_section(data: ReportData) -> str:
    k = data.intentions_k
    parts = ['<section class="chapter"><h2>Intentions and reasons</h2>']
    if not data.has(LEAVE_PATHS) and not data.has(LEAVE_REASONS):
        parts.append(not_yet("Leave paths and reasons", LEAVE_PATHS))
        parts.append("</section>")
        return "".join(parts)
    who = data.scope.describe()
    parts.append(
        f'<p class="lead">What clinicians in {esc(who)} say they would do, and why. Shown only for groups of at least '
        f"{k} who answered the question.</p>"
    )
    for name, question, title in ((LEAVE_PATHS, "path", "Leave paths"), (LEAVE_REASONS, "reason", "Reasons given")):
        if not data.has(name):
            parts.append(not_yet(title, name))
            continue
        long = _intent_long(data, name)
        if long.empty or long["pct"].isna().all():
            parts.append(
                f'<div class="missing">{esc(title)} cannot be shown for {esc(who)}: fewer than {k} answered.</div>'
            )
            continue
        parts.append(figure(charts.intentions_figure(long, question, k), ""))
        roles = summary.units(data, name, levels=(_role_level(data),))
        if not roles.empty:
            parts.append(f"<h3>{esc(title)} by role</h3>")
            parts.append(_intent_pivot(_intent_long(data, name, roles), question, k))
    opts = intentions.option_map()
    opts = opts[(opts["source"] == "path") & (opts["code"] != "stay")]
    if not opts.empty:
        grouped = opts.groupby("source_label", sort=False)["option_label"].apply(lambda s: "; ".join(dict.fromkeys(s)))
        parts.append("<h3>Which retention option answers which plan</h3>")
        parts.append(
            table(
                pd.DataFrame({"If they plan to…": grouped.index, "options that could keep them": grouped.values}),
                css_class="compact",
            )
        )
    parts.append("</section>")
    return "".join(parts)


def _intent_pivot(long: pd.DataFrame, question: str, k: int) -> str:
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
    from pipelines.scenarios.engine import RESULT_METRICS

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


def scenarios_section(data: ReportData) -> str:
    parts = ['<section class="chapter"><h2>Retention options</h2>']
    frame = data.table(SAVED_SCENARIOS)
    who = data.scope.describe()
    if frame is None or frame.empty:
        parts.append(f'<div class="missing">{esc(summary.options_sentence(data))}</div></section>')
        return "".join(parts)
    parts.append(
        f'<p class="lead">Saved retention scenarios for {esc(who)}, compared. {esc(summary.options_sentence(data))}</p>'
    )
    shown = visible(frame)
    shown = shown[shown["net"].notna()] if "net" in shown else shown.iloc[0:0]
    if not shown.empty:
        compare, names = compare_frame(shown)
        parts.append(
            figure(
                charts.scenario_compare_figure(compare, names),
                "Net saving (replacement cost avoided minus programme cost) over the planning horizon, 95% interval.",
            )
        )
    for name, res in frame.groupby("scenario", sort=False):
        scope_bits = [str(v) for v in (res["site"].iloc[0], res["department"].iloc[0]) if not missing(v)]
        role = res["role"].iloc[0]
        if not missing(role):
            scope_bits.append(contract.ROLE_LABELS.get(str(role), str(role)))
        parts.append(
            f"<h3>“{esc(name)}” · {esc(' · '.join(scope_bits) or 'whole organisation')} · wave {esc(res['wave'].iloc[0])}</h3>"
        )
        parts.append(
            table(
                scenario_rows(res),
                num={"Eligible", "Departures avoided", "Cost avoided", "Programme cost", "Net (95% interval)", "ROI"},
                css_class="compact",
            )
        )
        ev = charts.scenario_table(res)[["Option", "Published evidence", "Strength of evidence"]]
        ev = ev[(ev["Published evidence"] != "") & (ev["Option"] != "All levers together")]
        if not ev.empty:
            parts.append(table(ev, css_class="compact"))
    parts.append(
        '<p class="note">Model-based options use g-computation on the survey model (without adjusting for burnout, which '
        "lies on the path from the option to intent to leave); options with no survey measure use the leave paths and reasons "
        "to size who is eligible and an assumed retention rate. Cross-sectional survey associations are not proof that an "
        "option causes the change: treat every figure as a planning range.</p></section>"
    )
    return "".join(parts)


def trends_section(data: ReportData) -> str:
    parts = ['<section class="chapter"><h2>Trends</h2>']
    metrics = data.table(METRICS)
    if metrics is None:
        parts.append(not_yet("Trends", METRICS))
        parts.append("</section>")
        return "".join(parts)
    scope = data.scope
    rows = metrics[metrics["level"] == scope.level]
    for d in ("site", "department", "role"):
        want = getattr(scope, d, None)
        rows = rows[rows[d].isna()] if want is None else rows[rows[d].astype(object) == want]
    if len(data.waves) < 2:
        parts.append(
            f'<div class="missing">Only one survey wave ({esc(data.wave)}) is released so far: trends start with the next wave.</div>'
        )
    else:
        parts.append(figure(chart_render.scope_trend_figure(rows, TREND_METRICS, scope.describe(), data.k),
                            "Rings mark a change from the previous wave larger than sampling noise; bars are 95% intervals."))  # fmt: skip
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
    parts.append(table(pd.DataFrame(table_rows), num={*data.waves, "Latest change"}))
    parts.append("</section>")
    return "".join(parts)


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


def methodology_section(data: ReportData) -> str:
    k, ki = data.k, data.intentions_k
    a = data.assumptions
    parts = ['<section class="chapter"><h2>Methodology, sources and caveats</h2>']
    parts.append(
        f"""<h3>Confidentiality</h3>
<p>Every table in this report was released through the product's confidentiality layer before it was read here,
exactly as on the dashboard. The minimum reporting group is <b>k = {k}</b> respondents ({ki} for leave paths and
reasons): a smaller group shows no figure, only “fewer than {k}”. When one small group is hidden next to its parent's
total, the next smallest is hidden too, so no hidden group can be worked out by subtraction. Below 10 answers, a rate of
0% or 100% would reveal everyone's answer, so it is shown as a band (for example “≤20%”). Model estimates are averages
over units; no individual probability is stored or shown.
{"This report is limited to " + esc(data.scope.describe()) + ": rows about other sites and organisation-wide totals are left out." if data.scope.level != "organisation" else ""}</p>"""
    )
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
    parts.append("<h3>Caveats</h3><ul>" + "".join(f"<li>{esc(c)}</li>" for c in caveats) + "</ul>")
    diag = data.diagnostics
    model = (
        "Attrition risk: logistic regression of stated intent to leave on the drivers (burnout, the 1–5 items, "
        "after-hours EHR, inbox, call nights, clinical FTE) adjusted for role, site and tenure, fitted per wave. "
        "Unit risk is the mean predicted probability over the unit's respondents."
    )
    if diag:
        model += f" Cross-validated quality this wave: AUROC {float(diag['auroc']):.2f}; {diag.get('verdict') or ''}"
    parts.append(f"<h3>Models</h3><p>{esc(model)}</p>")
    costs = []
    for role in contract.ROLES:
        v = a.get(f"replacement_cost_{role}")
        if v is not None:
            costs.append({"Role": contract.ROLE_LABELS[role], "Replacement cost per departure": money(v)})
    if costs:
        parts.append("<h3>Cost assumptions (editable in Settings)</h3>")
        parts.append(table(pd.DataFrame(costs), num={"Replacement cost per departure"}, css_class="compact"))
    defs = charts.metric_definitions()
    used = defs[defs["code"].isin([*KEY_TABLE_METRICS, *TREND_METRICS])]
    parts.append("<h3>What the measures mean</h3>")
    parts.append(
        table(used[["measure", "number shown", "definition"]].rename(columns=str.capitalize), css_class="compact defs")
    )
    parts.append("<h3>Sources</h3><ul class='sources'>" + "".join(f"<li>{esc(s)}</li>" for s in SOURCES) + "</ul>")
    built = f" Released tables built {data.built_at:%Y-%m-%d %H:%M}." if data.built_at is not None else ""
    parts.append(f'<p class="note">Generated {data.generated_at:%Y-%m-%d %H:%M}.{built} Every number can be reproduced '
                 "from the Excel and CSV exports and the command line (python -m pipelines metrics).</p></section>")  # fmt: skip
    return "".join(parts)


SECTIONS = (
    ("Executive summary", executive_summary),
    ("Key measures", key_measures),
    ("Risk by unit", risk_section),
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
    title = f"Clinician retention report · {data.scope.title()} · wave {data.wave}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{css()}</style></head><body>{''.join(body)}</body></html>"
    )


def build_pdf(data: ReportData, progress: Progress = None) -> bytes:
    import weasyprint

    document = build_html(data, progress)
    if progress:
        progress(0.85, "Laying out the PDF")
    return weasyprint.HTML(string=document).write_pdf()
