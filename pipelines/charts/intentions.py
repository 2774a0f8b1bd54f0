"""The Intentions page's figures: leave paths and reasons by group, and the path/reason -> option map.

No Streamlit, no SQL, no statistics: every number was computed and released by the pipeline. Titles
state the finding; hover carries n and the 95% interval; colours are Okabe-Ito. Suppressed rows carry
no value, so nothing here can reveal one: they are drawn as labelled grey rows, never as numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from pipelines.charts.formats import OKABE_ITO, unit_label
from pipelines.charts.formats import empty_figure as _empty_figure
from pipelines.charts.formats import is_missing as _missing
from pipelines.charts.formats import percent as _pct
from pipelines.charts.formats import plot_text as _text
from pipelines.charts.formats import suppressed as _suppressed

__all__ = [
    "intentions_figure",
    "intentions_table",
    "option_table",
]


def intentions_figure(long: pd.DataFrame, question: str, k: int, exclude: Sequence[str] = ("stay",)) -> go.Figure:
    """Share choosing each leave path (or giving each reason) by group, as grouped horizontal bars.

    `long`: intentions.to_long rows for one question across one or more groups. Hidden groups are
    named in the title instead of drawn."""
    frame = long[(long["question"] == question) & ~long["code"].isin(exclude)].copy()
    if frame.empty:
        return _empty_figure("Nothing to show")
    frame["unit"] = [_text(unit_label(r)) for _, r in frame.iterrows()]
    hidden_units = sorted(frame.loc[_suppressed(frame) | frame["pct"].isna(), "unit"].unique())
    shown = frame[~(_suppressed(frame) | frame["pct"].isna())]
    noun = "leave path" if question == "path" else "reason"
    if shown.empty:
        return _empty_figure(f"Every group here has fewer than {k} answers about the {noun}: nothing can be shown")
    order = shown.groupby("label")["pct"].mean().sort_values(ascending=False).index.tolist()
    fig = go.Figure()
    for i, (unit, g) in enumerate(shown.groupby("unit", sort=True)):
        g = g.set_index("label").reindex(order)
        fig.add_trace(
            go.Bar(
                y=order,
                x=100 * g["pct"].astype(float),
                orientation="h",
                name=unit,
                marker={"color": OKABE_ITO[i % len(OKABE_ITO)]},
                customdata=[
                    f"{unit}: {_pct(p)} ({'–' if _missing(c) else int(c)} of {'–' if _missing(n) else int(n)} who answered)"
                    for p, c, n in zip(g["pct"], g["count"], g["n"], strict=True)
                ],
                hovertemplate="%{y}<br>%{customdata}<extra></extra>",
            )
        )
    top = order[0]
    top_share = shown[shown["label"] == top]["pct"].astype(float).mean()
    what = "Most common plan besides staying" if question == "path" else "Most common reason"
    title = f"{what}: {top.lower()} ({_pct(top_share)})"
    if hidden_units:
        title += f"; {len(hidden_units)} group(s) hidden (fewer than {k})"
    fig.update_layout(
        title=title,
        barmode="group",
        xaxis={
            "title": "% of those who answered" + (" (several reasons allowed)" if question == "reason" else ""),
            "rangemode": "tozero",
        },
        yaxis={"autorange": "reversed"},
        legend={"orientation": "h", "y": -0.15},
        height=max(320, 120 + len(order) * (14 + 10 * shown["unit"].nunique())),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def intentions_table(long: pd.DataFrame, question: str, k: int) -> pd.DataFrame:
    frame = long[long["question"] == question]
    rows = []
    for _, r in frame.iterrows():
        hidden = bool(r.get("suppressed", False)) or _missing(r.get("pct"))
        rows.append(
            {
                "Group": unit_label(r),
                "Answer": r["label"],
                "Share": f"fewer than {k}" if hidden else _pct(r["pct"], 1),
                "Count": None if hidden or _missing(r.get("count")) else int(r["count"]),
                "Answered": None if hidden or _missing(r.get("n")) else int(r["n"]),
            }
        )
    return pd.DataFrame(rows)


def option_table(mapping: pd.DataFrame) -> pd.DataFrame:
    """The leave path / reason → retention option map (intentions.option_map) for reading."""
    return pd.DataFrame(
        {
            "Plan or reason": mapping["source_label"],
            "Asked as": mapping["source"].map({"path": "leave plan", "reason": "reason"}),
            "Retention option": mapping["option_label"],
            "In planner": ["yes" if bool(v) else "" for v in mapping["in_scenario_library"]],
            "Why": mapping["rationale"],
        }
    )
