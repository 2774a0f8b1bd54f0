"""The Overview page's figures: headline tiles, the units x key-measures heatmap, benchmarks.

Rows of rel_metrics / rel_groups / rel_unit_risk in, tiles or a Plotly figure out. The join of a
selection with the published figures is pipelines.metrics.comparison; this module labels and draws it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from pipelines.charts.formats import (
    KEY_METRICS,
    OKABE_ITO,
    PROBLEM_SCALE,
    SUPPRESSED_GREY,
    Tile,
    flag,
    format_change,
    format_value,
    interval_text,
    is_missing,
    metric_label,
    money,
    plot_text,
    short_population,
    unit_label,
)
from pipelines.metrics import comparison

__all__ = [
    "benchmark_figure",
    "benchmark_table",
    "heatmap_figure",
    "risk_tiles",
    "tiles",
]


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
        if not is_missing(rate):
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
        exceeds = flag(r.get("exceeds_noise"))
        delta = format_change(r.get("change"), r["stat"], exceeds) or None
        colour = "inverse" if exceeds is True else "off"
        help_text = f"{note} n = {int(r['answered']) if not is_missing(r['answered']) else '–'}; {interval_text(r)}."
        if delta:
            help_text += " Change since the previous wave" + (
                " is larger than sampling noise." if exceeds is True else " is within sampling noise."
            )
        out.append(
            Tile(metric_label(metric), format_value(r["value"], r["stat"], r["display"]), delta, colour, help_text)
        )
    return out


def risk_tiles(risk: pd.DataFrame) -> list[Tile]:
    """Expected two-year departures and replacement-cost exposure for one group (rel_unit_risk row),
    or nothing when the row is absent or hidden."""
    if risk.empty:
        return []
    r = risk.iloc[0]
    if bool(r.get("suppressed", False)) or is_missing(r.get("expected_departures")):
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
    if not is_missing(r.get("cost_exposure")):
        out.append(
            Tile(
                "Replacement-cost exposure",
                f"{money(r['cost_exposure'])} ({money(r['cost_exposure_lo'])}–{money(r['cost_exposure_hi'])})",
                help="Expected departures × replacement cost by role (editable in Settings); 95% interval.",
            )
        )
    return out


def heatmap_figure(frame: pd.DataFrame, k: int, metrics: Sequence[str] = KEY_METRICS) -> go.Figure:
    """Units (rows) × key metrics (columns). Colour is the unit's place within each column
    (so hours and percentages share one scale); text is the released value; hidden cells grey."""
    frame = frame[frame["metric"].isin(metrics)].copy()
    frame["unit"] = [plot_text(unit_label(r)) for _, r in frame.iterrows()]
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
            if is_missing(value) or col.empty:
                zr.append(None)
            else:
                lo, hi = col.min(), col.max()
                zr.append(0.5 if hi == lo else (float(value) - lo) / (hi - lo))
            shown = format_value(value, c["stat"], c["display"])
            tr.append(shown)
            n = "–" if is_missing(c["answered"]) else f"{int(c['answered']):,}"
            interval = interval_text(c) if c["stat"] == "rate" else c["stat"]
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


def benchmark_table(selection: pd.DataFrame, benchmarks: pd.DataFrame, role: str | None = None) -> pd.DataFrame:
    """The selection's rate next to the latest published figure per metric and population
    (pipelines.metrics.comparison.benchmark_rows), with each measure's reader's name.

    Benchmarks are chosen for the selected role, else physicians (most published figures are
    about physicians; the table says so)."""
    table = comparison.benchmark_rows(selection, benchmarks, role)
    if not table.empty:
        table.insert(1, "measure", [metric_label(m) for m in table["metric"]])
    return table


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
                name=short_population(population),
                marker={"color": OKABE_ITO[1 + i % 6], "size": 11, "symbol": symbols[i % 3]},
                customdata=list(zip(group["year"], group["source"], strict=True)),
                hovertemplate="%{y}: %{x:.1f}% (%{customdata[0]})<br>%{customdata[1]}<extra>"
                + short_population(population)
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
    return f"Burnout ({100 * own:.0f}%) is {verdict} the {short_population(b['population'])} figure ({100 * ref:.0f}%, {b['year']})"
