"""The Retention-options page's figures: a scenario's tiles, costs against savings, saved scenarios compared.

No Streamlit, no SQL, no statistics: every number was computed and released by the pipeline. Titles
state the finding; hover carries n and the 95% interval; colours are Okabe-Ito. Suppressed rows carry
no value, so nothing here can reveal one: they are drawn as labelled grey rows, never as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pipelines.charts.formats import OKABE_ITO, Tile, money
from pipelines.charts.formats import count as _count
from pipelines.charts.formats import empty_figure as _empty_figure
from pipelines.charts.formats import interval as _interval
from pipelines.charts.formats import is_missing as _missing
from pipelines.charts.formats import model_error_bars as _error
from pipelines.charts.formats import plot_text as _text
from pipelines.charts.formats import suppressed as _suppressed

__all__ = [
    "OptionCard",
    "option_cards",
    "scenario_compare_figure",
    "scenario_compare_table",
    "scenario_figure",
    "scenario_table",
    "scenario_tiles",
]


def _est(row: pd.Series, metric: str, fmt) -> str:
    v = row.get(metric)
    if _missing(v):
        return "–"
    lo, hi = row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
    if _missing(lo) or _missing(hi):
        return fmt(v)
    return f"{fmt(v)} ({fmt(lo)} to {fmt(hi)})"


def scenario_tiles(results: pd.DataFrame) -> list[Tile]:
    """Headline tiles of a scenario: the combined row when there are several levers."""
    if results.empty:
        return []
    combined = results[results["lever"] == "combined"]
    r = (combined if len(combined) else results).iloc[0]
    if bool(r.get("suppressed", False)):
        return [Tile("Scenario", "hidden", help=str(r.get("notes", "")))]
    basis = "roster headcount" if r.get("headcount_source") == "roster" else "respondents standing in for headcount"
    pts = lambda v: f"{float(v):+.1f}"  # noqa: E731
    return [
        Tile(
            "Eligible headcount",
            f"{float(r['eligible_headcount']):,.0f}",
            help=f"People the option would be offered to, scaled to {basis}; "
            f"{_interval(r['eligible_headcount_lo'], r['eligible_headcount_hi'], lambda v: f'{v:,.0f}')}.",
        ),
        Tile(
            "Intent to leave among the eligible",
            f"{float(r['itl_change_eligible_pp']):+.1f} pts",
            help=f"Change in the share stating intent to leave among those offered the option; "
            f"{_interval(r['itl_change_eligible_pp_lo'], r['itl_change_eligible_pp_hi'], pts)}. "
            f"Whole selection: {_est(r, 'itl_change_pp', pts)} points.",
        ),
        Tile(
            "Departures avoided",
            f"{float(r['departures_avoided']):.1f}",
            help=f"Over the planning horizon; {_interval(r['departures_avoided_lo'], r['departures_avoided_hi'])}.",
        ),
        Tile(
            "Cost avoided",
            money(r["cost_avoided"]),
            help=f"Departures avoided × replacement cost; 95% interval {money(r['cost_avoided_lo'])} to {money(r['cost_avoided_hi'])}.",
        ),
        Tile(
            "Programme cost",
            money(r["programme_cost"]),
            help="Cost per eligible person × eligible headcount + fixed cost, over the horizon.",
        ),
        Tile(
            "Net",
            money(r["net"]),
            help=f"Cost avoided − programme cost; 95% interval {money(r['net_lo'])} to {money(r['net_hi'])}.",
        ),
        Tile(
            "Return on investment",
            "–" if _missing(r["roi"]) else f"{100 * float(r['roi']):.0f}%",
            help=f"Net ÷ programme cost; {_interval(r['roi_lo'], r['roi_hi'], lambda v: f'{100 * v:.0f}%')}.",
        ),
    ]


@dataclass(frozen=True)
class OptionCard:
    """One retention option at a glance: its net value with the 95% interval, whether it pays for
    itself, and what it would take to break even."""

    lever: str
    label: str
    net: str
    net_interval: str
    verdict: str  # "pays" | "loses" | "unclear" | "hidden"
    headline: str
    break_even: list[str]


def _verdict(r: pd.Series) -> tuple[str, str]:
    lo, hi = r.get("net_lo"), r.get("net_hi")
    if not _missing(lo) and float(lo) > 0:
        return "pays", "Pays for itself, even at the low end of the range."
    if not _missing(hi) and float(hi) < 0:
        return "loses", "Costs more than it saves at this programme cost."
    return "unclear", "May or may not pay for itself: the range runs from a loss to a saving."


def option_cards(results: pd.DataFrame, levers: Sequence[Mapping] | None = None) -> list[OptionCard]:
    """A card per option (and the combined scenario last): net value over the horizon with its 95%
    interval, and the break-even in two readings: how many clinicians it must keep (programme cost ÷
    the replacement cost each kept clinician saves, from the released cost avoided ÷ departures
    avoided), and the programme cost per eligible person a year at which net = 0 (released, with its
    interval) beside the cost entered. `levers`: the run's [{"key", "params"}], for the cost entered."""
    entered = {str(item["key"]): dict(item.get("params", {})) for item in (levers or [])}
    cards = []
    for _, r in results.iterrows():
        label = str(r.get("label") or r["lever"])
        if bool(r.get("suppressed", False)) or _missing(r.get("net")):
            cards.append(OptionCard(str(r["lever"]), label, "hidden", "", "hidden", str(r.get("notes") or ""), []))
            continue
        verdict, headline = _verdict(r)
        lines: list[str] = []
        kept, saved, cost = r.get("departures_avoided"), r.get("cost_avoided"), r.get("programme_cost")
        if _missing(kept) or float(kept) <= 0 or _missing(saved) or float(saved) <= 0:
            lines.append(
                "No programme cost breaks even: the estimate shows no departures avoided "
                f"({_est(r, 'departures_avoided', lambda v: f'{float(v):.1f}')})."
            )
        else:
            per_kept = float(saved) / float(kept)
            needed = float(cost) / per_kept if not _missing(cost) else float("nan")
            expected = _est(r, "departures_avoided", lambda v: f"{float(v):.1f}")
            if not math.isnan(needed):
                lines.append(
                    f"Pays for itself if it keeps ≥ {max(math.ceil(needed - 1e-9), 0):,} clinicians over the horizon "
                    f"(each kept saves about {money(per_kept)}). Departures avoided: {expected}."
                )
            be = r.get("break_even_cost_per_person")
            if not _missing(be) and r.get("lever") != "combined":
                now = entered.get(str(r["lever"]), {}).get("cost_per_person")
                be_range = (
                    ""
                    if _missing(r.get("break_even_cost_per_person_lo"))
                    else f" (95% interval {money(max(float(r['break_even_cost_per_person_lo']), 0))} to "
                    f"{money(max(float(r['break_even_cost_per_person_hi']), 0))})"
                )
                if float(be) <= 0:
                    lines.append("Its fixed cost alone is more than it saves.")
                else:
                    lines.append(
                        f"Breaks even at a programme cost of {money(be)} per eligible person a year{be_range}"
                        + ("" if now is None else f"; entered: {money(now)}")
                        + "."
                    )
        cards.append(
            OptionCard(
                str(r["lever"]),
                "All options together" if r.get("lever") == "combined" else label,
                money(r["net"]),
                f"95% interval {money(r['net_lo'])} to {money(r['net_hi'])}",
                verdict,
                headline,
                lines,
            )
        )
    return cards


def scenario_figure(results: pd.DataFrame) -> go.Figure:
    """Per lever: cost avoided and programme cost over the horizon, net shown in the hover and title."""
    frame = results[~_suppressed(results) & results["net"].notna()].copy()
    if frame.empty:
        return _empty_figure("No option in this scenario can be shown")
    frame["name"] = frame["label"].map(_text)
    hover_avoided = [
        f"{r['name']}: cost avoided {money(r['cost_avoided'])} ({money(r['cost_avoided_lo'])} to {money(r['cost_avoided_hi'])})"
        f"<br>departures avoided {float(r['departures_avoided']):.1f} ({_interval(r['departures_avoided_lo'], r['departures_avoided_hi'])})"
        f"<br>n = {int(r['n']):,} respondents in scope, {_count(r.get('n_eligible'))} eligible"
        for _, r in frame.iterrows()
    ]
    hover_cost = [
        f"{r['name']}: programme cost {money(r['programme_cost'])}<br>net {money(r['net'])} ({money(r['net_lo'])} to {money(r['net_hi'])})"
        for _, r in frame.iterrows()
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=frame["name"],
            x=frame["cost_avoided"].astype(float),
            orientation="h",
            name="Replacement cost avoided",
            marker={"color": OKABE_ITO[2]},
            error_x={
                **_error(frame["cost_avoided"], frame["cost_avoided_lo"], frame["cost_avoided_hi"]),
                "color": "#333333",
            },
            customdata=hover_avoided,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            y=frame["name"],
            x=frame["programme_cost"].astype(float),
            orientation="h",
            name="Programme cost",
            marker={"color": OKABE_ITO[1]},
            customdata=hover_cost,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    head = frame[frame["lever"] == "combined"]
    h = (head if len(head) else frame).iloc[0]
    if float(h["net_lo"]) > 0 if not _missing(h.get("net_lo")) else False:
        verdict = f"pays for itself: net {money(h['net'])} (95% interval {money(h['net_lo'])} to {money(h['net_hi'])})"
    elif not _missing(h.get("net_hi")) and float(h["net_hi"]) < 0:
        verdict = f"costs more than it saves: net {money(h['net'])} (95% interval {money(h['net_lo'])} to {money(h['net_hi'])})"
    else:
        verdict = f"may or may not pay for itself: net {money(h['net'])} (95% interval {money(h['net_lo'])} to {money(h['net_hi'])})"
    fig.update_layout(
        title=f"{_text(h['label'])} {verdict}",
        barmode="group",
        xaxis={"title": "US dollars over the planning horizon", "tickprefix": "$"},
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "y": -0.25},
        height=max(300, 140 + 60 * len(frame)),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def scenario_table(results: pd.DataFrame) -> pd.DataFrame:
    """Every lever with its estimates and 95% intervals, and the published evidence beside it."""
    rows = []
    for _, r in results.iterrows():
        hidden = bool(r.get("suppressed", False))
        rows.append(
            {
                "Option": r["label"],
                "Effect from": {
                    "model": "survey model",
                    "assumed": "your assumed retention rate",
                    "combined": "all options together",
                }.get(r["kind"], r["kind"]),
                "Eligible headcount": "hidden"
                if hidden
                else _est(r, "eligible_headcount", lambda v: f"{float(v):,.0f}"),
                "Change in ITL, eligible (pts)": ""
                if hidden
                else _est(r, "itl_change_eligible_pp", lambda v: f"{float(v):+.1f}"),
                "Change in ITL, whole scope (pts)": ""
                if hidden
                else _est(r, "itl_change_pp", lambda v: f"{float(v):+.2f}"),
                "Departures avoided": "" if hidden else _est(r, "departures_avoided", lambda v: f"{float(v):.1f}"),
                "Cost avoided": "" if hidden else _est(r, "cost_avoided", money),
                "Programme cost": "" if hidden else money(r["programme_cost"]),
                "Net": "" if hidden else _est(r, "net", money),
                "ROI": "" if hidden else _est(r, "roi", lambda v: f"{100 * float(v):.0f}%"),
                "Published evidence": r.get("published_effect") or "",
                "Strength of evidence": r.get("evidence") or "",
                "Notes": r.get("notes") or "",
            }
        )
    return pd.DataFrame(rows)


def scenario_compare_table(compare: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """compare_scenarios output as text: one row per measure, one column per scenario ('est (lo to hi)')."""
    rows = []
    for _, r in compare.iterrows():
        metric = str(r["metric"])
        row = {"Measure": metric}
        for name in names:
            v, lo, hi = r.get(name), r.get(f"{name} low"), r.get(f"{name} high")
            if _missing(v) or isinstance(v, str):
                row[name] = "" if _missing(v) else str(v)
                continue
            if "($)" in metric:
                fmt = money
            elif metric.startswith("Return"):
                fmt = lambda x: f"{100 * float(x):.0f}%"  # noqa: E731
            elif "points" in metric:
                fmt = lambda x: f"{float(x):+.1f}"  # noqa: E731
            elif metric.startswith("Eligible"):
                fmt = lambda x: f"{float(x):,.0f}"  # noqa: E731
            else:
                fmt = lambda x: f"{float(x):.1f}"  # noqa: E731
            row[name] = fmt(v) if _missing(lo) or _missing(hi) else f"{fmt(v)} ({fmt(lo)} to {fmt(hi)})"
        rows.append(row)
    return pd.DataFrame(rows)


def scenario_compare_figure(compare: pd.DataFrame, names: Sequence[str]) -> go.Figure:
    """Saved scenarios side by side: net saving with its 95% interval (from compare_scenarios)."""
    rows = compare.set_index("metric")
    label = next((m for m in rows.index if str(m).startswith("Net saving")), None)
    if label is None or not names:
        return _empty_figure("Nothing to compare")
    net = [rows.at[label, n] for n in names]
    lo = [rows.at[label, f"{n} low"] for n in names]
    hi = [rows.at[label, f"{n} high"] for n in names]
    dep_label = next((m for m in rows.index if str(m).startswith("Departures avoided")), None)
    deps = [rows.at[dep_label, n] if dep_label else None for n in names]
    values = pd.Series([np.nan if _missing(v) else float(v) for v in net])
    fig = go.Figure(
        go.Bar(
            x=[_text(n) for n in names],
            y=values,
            marker={"color": [OKABE_ITO[2] if v >= 0 else OKABE_ITO[5] for v in values.fillna(0)]},
            error_y={
                **_error(values, pd.Series(lo, dtype="float64"), pd.Series(hi, dtype="float64")),
                "color": "#333333",
            },
            customdata=[
                f"{_text(n)}: net {money(v)} (95% interval {money(a)} to {money(b)})<br>departures avoided "
                + ("–" if _missing(d) else f"{float(d):.1f}")
                for n, v, a, b, d in zip(names, net, lo, hi, deps, strict=True)
            ],
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    best = int(values.fillna(-np.inf).to_numpy().argmax())
    top = f"{_text(names[best])} ({money(values.iloc[best])})"
    if len(names) == 1:
        title = f"{_text(names[0])}: net saving {money(values.iloc[0])} over the horizon"
    elif values.iloc[best] < 0:
        title = f"No scenario pays for itself; {_text(names[best])} loses least ({money(values.iloc[best])})"
    else:
        title = f"{top} has the best expected net saving"
    fig.update_traces(width=min(0.6, 0.25 * len(names)))
    fig.update_layout(
        title=title,
        yaxis={"title": "Net saving over the horizon (US $)", "tickprefix": "$"},
        height=360,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    fig.add_hline(y=0, line={"color": "#666666"})
    return fig
