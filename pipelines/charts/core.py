"""Shared figure builders and finding text for the dashboard, the exports and the CLI.

Every builder takes rows of a released table (rel_metrics, rel_groups, ref_benchmarks) and returns a
Plotly figure or plain words: no Streamlit, no SQL, no statistics beyond reading what the
confidentiality layer released. Titles state the finding; hover carries n and the 95% interval;
colours come from the Okabe-Ito palette, which stays distinguishable with colour-blindness.
Suppressed cells carry no value (the pipeline nulled it), so nothing here can reveal one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from pipelines import contract
from pipelines.metrics.released import METRICS_BY_NAME

__all__ = [
    "BENCHMARK_METRICS",
    "HIGHER_IS_WORSE",
    "KEY_METRICS",
    "OKABE_ITO",
    "SUPPRESSED_GREY",
    "Tile",
    "benchmark_figure",
    "benchmark_table",
    "empty_reason",
    "error_bars",
    "findings",
    "format_change",
    "format_value",
    "heatmap_figure",
    "item_definitions",
    "metric_definitions",
    "settings_definitions",
    "metric_label",
    "metrics_table",
    "money",
    "risk_tiles",
    "tiles",
    "trend_figure",
    "unit_label",
]

# Okabe & Ito (2008), "Color universal design": safe for the common colour-vision deficiencies.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",
)
SUPPRESSED_GREY = "#D9D9D9"
# Sequential scale for "share with a problem": pale to dark orange-vermillion (one hue family,
# readable in greyscale and for red-green colour-blindness).
PROBLEM_SCALE = [[0.0, "#FFF5EB"], [0.5, "#FDAE6B"], [1.0, "#A63603"]]

# The metrics a leader reads first, all phrased so that higher = worse.
KEY_METRICS: tuple[str, ...] = (
    "burnout",
    "itl",
    "high_stress",
    "unfav_feel_valued",
    "unfav_work_control",
    "ehr_after_hours_median",
)
HIGHER_IS_WORSE: frozenset[str] = frozenset(
    {
        "burnout",
        "itl",
        "high_stress",
        "reduce_fte",
        "call_heavy",
        "call_nights",
        "ehr_after_hours_median",
        "ehr_after_hours_p75",
        "inbox_median",
        *(f"unfav_{i.name}" for i in contract.ITEMS),
    }
)
BENCHMARK_METRICS: tuple[str, ...] = ("burnout", "itl", "high_stress", "satisfied", "valued")
SHORT_LABELS: dict[str, str] = {
    "burnout": "Burnout",
    "itl": "Intend to leave (2 yrs)",
    "high_stress": "High stress",
    "unfav_feel_valued": "Do not feel valued",
    "unfav_work_control": "Poor control of workload",
    "ehr_after_hours_median": "After-hours EHR (h/wk)",
    "satisfied": "Satisfied with job",
    "valued": "Feel valued",
}
_DIMS = ("site", "department", "role")
_NOUNS = {
    "burnout": "burnout",
    "itl": "stated intent to leave",
    "high_stress": "high stress",
    "satisfied": "job satisfaction",
    "valued": "feeling valued",
}


def metric_label(metric: str, short: bool = True) -> str:
    """A reader's name for a metric (short for axes, long for tables)."""
    if short and metric in SHORT_LABELS:
        return SHORT_LABELS[metric]
    m = METRICS_BY_NAME.get(metric)
    return m.label if m else metric.replace("_", " ")


def _missing(x: object) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _flag(x: object) -> bool | None:
    """A nullable boolean from pandas/numpy as True, False or None."""
    return None if _missing(x) else bool(x)


def format_value(value: object, stat: str, display: object = None) -> str:
    """'41.2%' for rates, '1.8' otherwise; the released display text when the value is hidden."""
    if _missing(value):
        return "" if _missing(display) else str(display)
    return f"{100 * float(value):.1f}%" if stat == "rate" else f"{float(value):.1f}"


def format_change(change: object, stat: str, exceeds_noise: object = None) -> str:
    """'+3.1 pts' / '-0.2'; '(within noise)' when the 95% interval of the change includes 0."""
    if _missing(change):
        return ""
    text = f"{100 * float(change):+.1f} pts" if stat == "rate" else f"{float(change):+.1f}"
    return f"{text} (within noise)" if _flag(exceeds_noise) is False else text


def unit_label(row: pd.Series | dict) -> str:
    """'Riverside · Cardiology · Nurse' from whichever dimensions the row is broken down by."""
    parts = []
    for dim in _DIMS:
        value = row.get(dim)
        if not _missing(value):
            parts.append(contract.ROLE_LABELS.get(str(value), str(value)) if dim == "role" else str(value))
    return " · ".join(parts) or "Whole organisation"


def _plot_text(text: str) -> str:
    """Unit names are user data: stop Plotly reading them as its HTML subset (<a>, <b>, <br>)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_bars(values: pd.Series, lo: pd.Series, hi: pd.Series, scale: float = 1.0, **style: object) -> dict:
    """Plotly's asymmetric error-bar spec for values and their 95% interval (same index), scaled
    (100 for percentages); a missing end draws no bar. `style`: color, thickness, width."""
    v = values.astype("float64") * scale
    return {
        "type": "data",
        "symmetric": False,
        "array": (hi.astype("float64") * scale - v).clip(lower=0).fillna(0).tolist(),
        "arrayminus": (v - lo.astype("float64") * scale).clip(lower=0).fillna(0).tolist(),
        **style,
    }


def _interval_text(row: pd.Series) -> str:
    if _missing(row.get("lo")) or _missing(row.get("hi")):
        return "no interval"
    return f"95% interval {100 * row['lo']:.1f}–{100 * row['hi']:.1f}%"


def empty_reason(frame: pd.DataFrame, k: int, what: str = "this selection") -> str | None:
    """Words for an empty or fully hidden view, or None when there is something to show."""
    if frame is None or frame.empty:
        return f"No released results for {what}. Load a survey wave on the Upload page, or widen the filters."
    if "suppressed" in frame and frame["suppressed"].astype(bool).all():
        return (
            f"Every group in {what} has fewer than {k} respondents (or hiding it protects a smaller "
            "group), so no figures are shown. Widen the filters to see results."
        )
    return None


# ------------------------------------------------------------------------------------------
# Headline tiles
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tile:
    """One headline number with its change since the previous wave."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "off"  # "inverse" when higher is worse and the change is beyond noise
    help: str = ""


def tiles(selection: pd.DataFrame, group: pd.DataFrame, k: int) -> list[Tile]:
    """Respondents/response rate, burnout and intent-to-leave tiles for one group in one wave.

    `selection` is rel_metrics rows of the group (one wave), `group` its rel_groups row.
    """
    out: list[Tile] = []
    g = group.iloc[0] if not group.empty else None
    if g is None or bool(g["suppressed"]):
        out.append(Tile("Respondents", f"fewer than {k}", help="Hidden to protect confidentiality."))
    else:
        out.append(Tile("Respondents", f"{int(g['n']):,}", help="People who answered the survey in this wave."))
        rate = g.get("response_rate")
        if not _missing(rate):
            out.append(
                Tile(
                    "Response rate",
                    f"{100 * float(rate):.0f}%",
                    help=f"Respondents / roster headcount ({int(g['headcount']):,}). Low response rates "
                    "make every figure less certain.",
                )
            )
    for metric, note in (
        ("burnout", "Share answering 3 or more on the single-item burnout measure."),
        (
            "itl",
            "Share who say leaving within two years is moderately likely or more. Stated intent "
            "over-predicts actual departure: this is not the number of people who will leave.",
        ),
    ):
        rows = selection[selection["metric"] == metric] if not selection.empty else selection
        if rows.empty:
            continue
        r = rows.iloc[0]
        if bool(r["suppressed"]):
            out.append(Tile(metric_label(metric), f"fewer than {k}", help="Hidden to protect confidentiality."))
            continue
        exceeds = _flag(r.get("exceeds_noise"))
        delta = format_change(r.get("change"), r["stat"], exceeds) or None
        colour = "inverse" if exceeds is True else "off"
        help_text = f"{note} n = {int(r['answered']) if not _missing(r['answered']) else '–'}; {_interval_text(r)}."
        if delta:
            help_text += " Change since the previous wave" + (
                " is larger than sampling noise." if exceeds is True else " is within sampling noise."
            )
        out.append(
            Tile(metric_label(metric), format_value(r["value"], r["stat"], r["display"]), delta, colour, help_text)
        )
    return out


def money(x: object) -> str:
    """'$12.9B', '$1.2M', '$85k', '-$3.0M'; '–' when missing. One format for every page and export."""
    if _missing(x):
        return "–"
    x = float(x)
    sign = "-" if x < 0 else ""
    x = abs(x)
    for size, suffix, digits in ((1e9, "B", 1), (1e6, "M", 1), (1e3, "k", 0)):
        if round(x / size, digits) >= 1:
            return f"{sign}${x / size:.{digits}f}{suffix}"
    return f"{sign}${x:.0f}"


def risk_tiles(risk: pd.DataFrame) -> list[Tile]:
    """Expected two-year departures and replacement-cost exposure for one group (rel_unit_risk row),
    or nothing when the row is absent or hidden."""
    if risk.empty:
        return []
    r = risk.iloc[0]
    if bool(r.get("suppressed", False)) or _missing(r.get("expected_departures")):
        return []
    basis = "roster headcount" if r.get("headcount_source") == "roster" else "respondents as headcount"
    out = [
        Tile(
            "Expected departures (2 yrs)",
            f"{r['expected_departures']:,.0f} ({r['expected_departures_lo']:,.0f}–{r['expected_departures_hi']:,.0f})",
            help="Model estimate from stated intent converted with published departure rates "
            f"(Hamidi 2018), on {basis}; 95% interval in brackets. Not a list of people.",
        )
    ]
    if not _missing(r.get("cost_exposure")):
        out.append(
            Tile(
                "Replacement-cost exposure",
                f"{money(r['cost_exposure'])} ({money(r['cost_exposure_lo'])}–{money(r['cost_exposure_hi'])})",
                help="Expected departures × replacement cost by role (editable in Settings); 95% interval.",
            )
        )
    return out


# ------------------------------------------------------------------------------------------
# Heatmap: units x key metrics
# ------------------------------------------------------------------------------------------
def heatmap_figure(frame: pd.DataFrame, k: int, metrics: Sequence[str] = KEY_METRICS) -> go.Figure:
    """Units (rows) × key metrics (columns). Colour is the unit's place within each column
    (so hours and percentages share one scale); text is the released value; hidden cells grey."""
    frame = frame[frame["metric"].isin(metrics)].copy()
    frame["unit"] = [_plot_text(unit_label(r)) for _, r in frame.iterrows()]
    metrics = [m for m in metrics if m in set(frame["metric"])]
    units = sorted(frame["unit"].unique(), key=str.lower)
    z, text, hover = [], [], []
    for unit in units:
        zr, tr, hr = [], [], []
        for metric in metrics:
            cell = frame[(frame["unit"] == unit) & (frame["metric"] == metric)]
            col = frame[(frame["metric"] == metric) & frame["value"].notna()]["value"].astype(float)
            if cell.empty:
                zr.append(None), tr.append(""), hr.append(f"{unit}<br>{metric_label(metric)}: no data")
                continue
            c = cell.iloc[0]
            if bool(c["suppressed"]):
                zr.append(None), tr.append(f"fewer than {k}")
                hr.append(
                    f"{unit}<br>{metric_label(metric)}: hidden (fewer than {k} respondents, or it protects a smaller group)"
                )
                continue
            value = c["value"]
            if _missing(value) or col.empty:
                zr.append(None)
            else:
                lo, hi = col.min(), col.max()
                zr.append(0.5 if hi == lo else (float(value) - lo) / (hi - lo))
            shown = format_value(value, c["stat"], c["display"])
            tr.append(shown)
            n = "–" if _missing(c["answered"]) else f"{int(c['answered']):,}"
            interval = _interval_text(c) if c["stat"] == "rate" else c["stat"]
            hr.append(f"{unit}<br>{metric_label(metric)}: {shown}<br>n = {n}; {interval}")
        z.append(zr), text.append(tr), hover.append(hr)
    grey = [
        [1 if (t.startswith("fewer than") or (zz is None and t)) else None for t, zz in zip(tr, zr, strict=True)]
        for tr, zr in zip(text, z, strict=True)
    ]
    labels = [metric_label(m).replace(" (", "<br>(").replace("Poor control", "Poor control<br>") for m in metrics]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=grey,
            x=labels,
            y=units,
            colorscale=[[0, SUPPRESSED_GREY], [1, SUPPRESSED_GREY]],
            showscale=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=labels,
            y=units,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale=PROBLEM_SCALE,
            zmin=0,
            zmax=1,
            colorbar={"title": "Within column", "tickvals": [0, 1], "ticktext": ["best", "worst"]},
            xgap=2,
            ygap=2,
        )
    )
    fig.update_layout(
        title=_heatmap_title(frame, k),
        yaxis={"autorange": "reversed"},
        xaxis={"side": "top", "tickangle": 0},
        height=max(280, 150 + 28 * len(units)),
        margin={"l": 10, "r": 10, "t": 110, "b": 10},
        title_y=0.98,
        title_yanchor="top",
    )
    return fig


def _heatmap_title(frame: pd.DataFrame, k: int) -> str:
    burnout = frame[(frame["metric"] == "burnout") & frame["value"].notna()]
    hidden = int(frame.drop_duplicates("unit")["suppressed"].astype(bool).sum())
    tail = f"; {hidden} unit(s) hidden (fewer than {k})" if hidden else ""
    if burnout.empty:
        return "Key measures by unit" + tail
    top = burnout.sort_values("value", ascending=False).iloc[0]
    return f"Burnout is highest in {top['unit']} ({100 * top['value']:.0f}%){tail}"


# ------------------------------------------------------------------------------------------
# Benchmarks
# ------------------------------------------------------------------------------------------
def benchmark_table(selection: pd.DataFrame, benchmarks: pd.DataFrame, role: str | None = None) -> pd.DataFrame:
    """The selection's rate next to the latest published figure per metric and population.

    Benchmarks are chosen for the selected role, else physicians (most published figures are
    about physicians; the table says so)."""
    wanted = role or "physician"
    rows = []
    for metric in BENCHMARK_METRICS:
        own = (
            selection[(selection["metric"] == metric) & selection["value"].notna()]
            if not selection.empty
            else selection
        )
        if own.empty:
            continue
        o = own.iloc[0]
        refs = benchmarks[(benchmarks["metric"] == metric) & (benchmarks["role"] == wanted)]
        refs = refs[refs["note"].fillna("") == ""]
        for population, group in refs.groupby("population", sort=False):
            b = group.sort_values("year").iloc[-1]
            rows.append(
                {
                    "metric": metric,
                    "measure": metric_label(metric),
                    "organisation": float(o["value"]),
                    "lo": float(o["lo"]),
                    "hi": float(o["hi"]),
                    "n": int(o["answered"]),
                    "benchmark": float(b["value"]),
                    "population": population,
                    "year": int(b["year"]),
                    "role": wanted,
                    "source": b["source"],
                }
            )
    return pd.DataFrame(rows)


def benchmark_figure(table: pd.DataFrame, who: str = "Your organisation") -> go.Figure:
    """Dot plot: our rate with its interval vs each published figure, one row per measure."""
    fig = go.Figure()
    ours = table.drop_duplicates("metric")
    fig.add_trace(
        go.Scatter(
            x=100 * ours["organisation"],
            y=ours["measure"],
            mode="markers",
            name=who,
            marker={"color": OKABE_ITO[0], "size": 13},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": 100 * (ours["hi"] - ours["organisation"]),
                "arrayminus": 100 * (ours["organisation"] - ours["lo"]),
                "color": OKABE_ITO[0],
            },
            customdata=list(zip(ours["n"], 100 * ours["lo"], 100 * ours["hi"], strict=True)),
            hovertemplate="%{y}: %{x:.1f}%<br>n = %{customdata[0]:,}; 95% interval %{customdata[1]:.1f}–%{customdata[2]:.1f}%<extra>"
            + who
            + "</extra>",
        )
    )
    symbols = ("diamond", "square", "triangle-up")
    for i, (population, group) in enumerate(table.groupby("population", sort=False)):
        fig.add_trace(
            go.Scatter(
                x=100 * group["benchmark"],
                y=group["measure"],
                mode="markers",
                name=_short_population(population),
                marker={"color": OKABE_ITO[1 + i % 6], "size": 11, "symbol": symbols[i % 3]},
                customdata=list(zip(group["year"], group["source"], strict=True)),
                hovertemplate="%{y}: %{x:.1f}% (%{customdata[0]})<br>%{customdata[1]}<extra>"
                + _short_population(population)
                + "</extra>",
            )
        )
    fig.update_layout(
        title=_benchmark_title(table, who),
        xaxis={"title": "% of respondents", "rangemode": "tozero"},
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "y": -0.25},
        height=340,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def _short_population(population: str) -> str:
    if population.startswith("Physicians in organisations taking part in the AMA"):
        return "AMA Organizational Biopsy"
    if population.startswith("US physicians"):
        return "US physicians (national)"
    if population.startswith("US health-care staff"):
        return "US health-care staff"
    return population[:40]


def _benchmark_title(table: pd.DataFrame, who: str) -> str:
    burnout = table[table["metric"] == "burnout"]
    if burnout.empty:
        return f"{who} compared with published figures"
    b = burnout.sort_values("year").iloc[-1]
    own, ref = b["organisation"], b["benchmark"]
    if b["lo"] <= ref <= b["hi"]:
        verdict = "in line with"
    else:
        verdict = "below" if own < ref else "above"
    return f"Burnout ({100 * own:.0f}%) is {verdict} the {_short_population(b['population'])} figure ({100 * ref:.0f}%, {b['year']})"


# ------------------------------------------------------------------------------------------
# Trends
# ------------------------------------------------------------------------------------------
def trend_figure(frame: pd.DataFrame, metric: str, k: int) -> go.Figure:
    """One metric across waves, one line per group, 95% interval bars; a ring marks a change from
    the previous wave larger than sampling noise. Hidden waves leave a gap, never a value."""
    frame = frame[frame["metric"] == metric].copy()
    frame["unit"] = [_plot_text(unit_label(r)) for _, r in frame.iterrows()]
    frame = frame.sort_values("wave")
    is_rate = (frame["stat"] == "rate").any()
    scale = 100.0 if is_rate else 1.0
    fig = go.Figure()
    for i, (unit, g) in enumerate(frame.groupby("unit", sort=True)):
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        y = g["value"].astype(float) * scale
        lo = g["lo"].astype(float) * scale
        hi = g["hi"].astype(float) * scale
        hover = [
            f"{unit}, wave {r['wave']}: "
            + (
                f"hidden (fewer than {k})"
                if bool(r["suppressed"])
                else f"{format_value(r['value'], r['stat'], r['display'])}<br>n = "
                + ("–" if _missing(r["answered"]) else f"{int(r['answered']):,}")
                + ("; " + _interval_text(r) if r["stat"] == "rate" else "")
                + (
                    f"<br>change {format_change(r['change'], r['stat'], r['exceeds_noise'])}"
                    if not _missing(r["change"])
                    else ""
                )
            )
            for _, r in g.iterrows()
        ]
        fig.add_trace(
            go.Scatter(
                x=g["wave"].astype(str),
                y=y,
                mode="lines+markers",
                name=unit,
                line={"color": colour},
                marker={"color": colour, "size": 8},
                error_y=error_bars(y, lo, hi, color=colour, thickness=1.2),
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                connectgaps=False,
            )
        )
        noisy = g[g["exceeds_noise"].fillna(False).astype(bool)]
        if not noisy.empty:
            fig.add_trace(
                go.Scatter(
                    x=noisy["wave"].astype(str),
                    y=noisy["value"].astype(float) * scale,
                    mode="markers",
                    marker={"symbol": "circle-open", "size": 18, "color": colour, "line": {"width": 2}},
                    name="change beyond noise",
                    legendgroup="noise",
                    showlegend=i == 0,
                    hoverinfo="skip",
                )
            )
    fig.update_layout(
        title={"text": _trend_title(frame, metric), "font": {"size": 14}},
        yaxis={"title": "% of respondents" if is_rate else metric_label(metric, short=False), "rangemode": "tozero"},
        xaxis={"title": "Wave", "type": "category"},
        legend={"orientation": "h", "y": -0.3},
        height=380,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def _trend_title(frame: pd.DataFrame, metric: str) -> str:
    label = metric_label(metric)
    visible = frame[frame["value"].notna()]
    waves = sorted(visible["wave"].unique())
    if len(waves) < 2:
        return f"{label}: only one wave so far, no trend yet"
    latest = visible[visible["wave"] == waves[-1]]
    moved = latest[latest["exceeds_noise"].fillna(False).astype(bool)]
    if moved.empty:
        return f"{label}: no change beyond noise since {waves[-2]}"
    parts = []
    for _, r in moved.head(3).iterrows():
        direction = "rose" if r["change"] > 0 else "fell"
        parts.append(f"{r['unit']} {direction}")
    more = f" and {len(moved) - 3} more" if len(moved) > 3 else ""
    return f"{label}: {', '.join(parts)}{more} since {waves[-2]} (beyond noise)"


# ------------------------------------------------------------------------------------------
# Tables under the charts ("Show data") and the three findings sentences
# ------------------------------------------------------------------------------------------
def metrics_table(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """A readable table of released rows: unit, measure, value, 95% interval, n, change."""
    if frame.empty:
        return pd.DataFrame(columns=["Wave", "Unit", "Measure", "Value", "95% interval", "n", "Change"])
    rows = []
    for _, r in frame.iterrows():
        hidden = bool(r["suppressed"])
        rows.append(
            {
                "Wave": r["wave"],
                "Unit": unit_label(r),
                "Measure": metric_label(r["metric"], short=False),
                "Value": f"fewer than {k}" if hidden else format_value(r["value"], r["stat"], r["display"]),
                "95% interval": "" if _missing(r.get("lo")) else f"{100 * r['lo']:.1f}–{100 * r['hi']:.1f}%",
                "n": None if _missing(r["answered"]) else int(r["answered"]),
                "Change": format_change(r.get("change"), r["stat"], r.get("exceeds_noise")),
            }
        )
    return pd.DataFrame(rows)


def findings(
    selection: pd.DataFrame, units: pd.DataFrame, bench: pd.DataFrame, who: str = "the organisation"
) -> list[str]:
    """Three sentences on what the released numbers say: level and change, where it is worst,
    and how it compares with published figures. Never calls intent to leave a departure count."""
    out: list[str] = []

    def row(metric: str) -> pd.Series | None:
        r = (
            selection[(selection["metric"] == metric) & selection["value"].notna()]
            if not selection.empty
            else selection
        )
        return None if r.empty else r.iloc[0]

    b, itl = row("burnout"), row("itl")
    if b is not None and itl is not None:
        text = (
            f"In {who}, {100 * b['value']:.0f}% report burnout and {100 * itl['value']:.0f}% say they "
            "may leave within two years (a stated intention, not a forecast of departures)"
        )
        moves = []
        for r in (b, itl):
            if _flag(r.get("exceeds_noise")):
                moves.append(
                    f"{_NOUNS[r['metric']]} {'rose' if r['change'] > 0 else 'fell'} {abs(100 * r['change']):.1f} points"
                )
        text += (
            f"; since the last wave {' and '.join(moves)}."
            if moves
            else "; neither moved beyond sampling noise since the last wave."
        )
        out.append(text)
    worst = units[(units["metric"] == "burnout") & units["value"].notna()] if not units.empty else units
    if not worst.empty:
        key = "shrunk" if worst["shrunk"].notna().any() else "value"
        top = worst.sort_values(key, ascending=False).iloc[0]
        out.append(
            f"Burnout is highest in {unit_label(top)} at {100 * top['value']:.0f}% "
            f"(95% interval {100 * top['lo']:.0f}–{100 * top['hi']:.0f}%, n = {int(top['answered'])}), "
            "ranked after allowing for small-unit noise."
        )
    if not bench.empty:
        r = bench[bench["metric"] == "itl"]
        r = r if not r.empty else bench
        r = r.sort_values("year").iloc[-1]
        if r["lo"] <= r["benchmark"] <= r["hi"]:
            verdict = "in line with"
        else:
            verdict = "lower than" if r["organisation"] < r["benchmark"] else "higher than"
        out.append(
            f"{_NOUNS.get(r['metric'], r['measure']).capitalize()} here ({100 * r['organisation']:.0f}%) is {verdict} the "
            f"{_short_population(r['population'])} figure of {100 * r['benchmark']:.0f}% ({r['year']})."
        )
    return out[:3]


# ------------------------------------------------------------------------------------------
# Definitions for the Methodology page, generated from the contract and the metric catalogue
# ------------------------------------------------------------------------------------------
_STAT_WORDS = {
    "rate": "share of those who answered (95% Wilson interval)",
    "mean": "average",
    "median": "median (half answer less)",
    "p75": "75th centile (a quarter answer more)",
}


def _metric_rule(name: str) -> str:
    from pipelines.metrics import released as metrics

    items = contract.ITEMS_BY_NAME
    if name.startswith("unfav_"):
        item = items[name.removeprefix("unfav_")]
        return f"“{item.question}” answered {item.unfavourable_text()}"
    if name == "burnout":
        return f"“{items['burnout_level'].question}” answered {items['burnout_level'].unfavourable_text()}"
    if name == "high_stress":
        return f"“{items['stress'].question}” answered {items['stress'].unfavourable_text()}"
    if name in ("satisfied", "valued"):
        item = items["satisfaction" if name == "satisfied" else "feel_valued"]
        at = metrics.SATISFIED_AT if name == "satisfied" else metrics.VALUED_AT
        return f"“{item.question}” answered {' or '.join(f'“{x}”' for x in item.labels[at - 1 :])}"
    if name == "itl":
        return (
            f"Intent to leave answered “{contract.INTENT_TO_LEAVE_LABELS[contract.ITL_THRESHOLD - 1]}” or higher "
            "(a stated intention, not a departure)"
        )
    if name in ("mini_z", "joyful"):
        reversed_ = ", ".join(contract.MINI_Z_REVERSED)
        base = f"Sum of the {len(contract.MINI_Z_ITEMS)} Mini-Z-style items (1-5 each; {reversed_} reversed)"
        return base + (f"; joyful when {contract.MINI_Z_JOYFUL_AT} or more" if name == "joyful" else "")
    if name == "call_heavy":
        return f"{metrics.CALL_HEAVY_AT} or more call nights a month"
    if name == "reduce_fte":
        return contract.FIELDS_BY_NAME["intent_to_reduce_fte"].description
    field_names = {
        "ehr_after_hours_median": "ehr_after_hours_per_week",
        "ehr_after_hours_p75": "ehr_after_hours_per_week",
        "inbox_median": "inbox_messages_per_day",
        "call_nights": "call_nights_per_month",
        "clinical_fte": "clinical_fte",
    }
    return contract.FIELDS_BY_NAME[field_names[name]].description if name in field_names else ""


def metric_definitions() -> pd.DataFrame:
    """Every released metric: name, label, what the number is, and who counts."""
    return pd.DataFrame(
        [
            {
                "measure": m.label,
                "code": m.name,
                "number shown": _STAT_WORDS.get(m.stat, m.stat),
                "definition": _metric_rule(m.name),
            }
            for m in METRICS_BY_NAME.values()
        ]
    )


def item_definitions() -> pd.DataFrame:
    """Every 1-5 survey item: question, the five answer labels, and the unfavourable rule."""
    return pd.DataFrame(
        [
            {
                "item": i.short,
                "question": i.question,
                "answers (1 to 5)": " | ".join(i.labels),
                "counted as unfavourable": i.unfavourable_text(),
            }
            for i in contract.ITEMS
        ]
    )


def settings_definitions(settings: Iterable, values: dict) -> pd.DataFrame:
    """Registered settings with their current value, default, description and source."""
    return pd.DataFrame(
        [
            {
                "setting": s.key,
                "current": values.get(s.key, s.default),
                "default": s.default,
                "meaning": s.description,
                "source": s.source,
            }
            for s in settings
        ]
    )
