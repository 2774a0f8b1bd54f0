"""The Drivers page's figures: general-dominance importance and the importance x unfavourable quadrant.

No Streamlit, no SQL, no statistics: every number was computed and released by the pipeline. Titles
state the finding; hover carries n and the 95% interval; colours are Okabe-Ito. Suppressed rows carry
no value, so nothing here can reveal one: they are drawn as labelled grey rows, never as numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pipelines.charts.formats import PROTECTIVE, WORSE
from pipelines.charts.formats import empty_figure as _empty_figure
from pipelines.charts.formats import interval as _interval
from pipelines.charts.formats import is_missing as _missing
from pipelines.charts.formats import model_error_bars as _error
from pipelines.charts.formats import percent as _pct
from pipelines.charts.formats import plot_text as _text

__all__ = [
    "driver_table",
    "importance_figure",
    "quadrant_figure",
]


def importance_figure(long: pd.DataFrame) -> go.Figure:
    """General-dominance importance of each driver group with bootstrap 95% intervals; colour by sign.

    `long`: drivers.to_long rows of ONE unit (driver, driver_label, importance, _lo, _hi, share, sign)."""
    frame = long[long["importance"].notna()].sort_values("importance", ascending=True)
    if frame.empty:
        return _empty_figure("Driver importance could not be estimated here")
    n = frame["n"].iloc[0] if "n" in frame else None
    colours = [WORSE if s > 0 else PROTECTIVE for s in frame["sign"].fillna(0)]
    direction = [
        "worse conditions, more intent to leave"
        if s > 0
        else "more of it, less intent to leave"
        if s < 0
        else "no clear direction"
        for s in frame["sign"].fillna(0)
    ]
    for i, (_, r) in enumerate(frame.iterrows()):
        if r["driver"] == "clinical_fte":
            direction[i] = (
                "more clinical time, more intent to leave"
                if r["sign"] > 0
                else "more clinical time, less intent to leave"
            )
    hover = [
        f"{r['driver_label']}: {100 * float(r['share']):.0f}% of what the drivers explain"
        f"<br>importance {float(r['importance']):.4f} ({_interval(r['importance_lo'], r['importance_hi'], lambda v: f'{v:.4f}')})"
        f"<br>{d}" + (f"<br>n = {int(n):,} respondents" if not _missing(n) else "")
        for (_, r), d in zip(frame.iterrows(), direction, strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=100 * frame["share"].astype(float),
            y=frame["driver_label"],
            orientation="h",
            marker={"color": colours},
            error_x={
                **_error(
                    frame["share"],
                    frame["importance_lo"] / frame["importance"] * frame["share"],
                    frame["importance_hi"] / frame["importance"] * frame["share"],
                    100,
                ),
                "color": "#333333",
            },
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    top = frame.iloc[-1]
    fig.update_layout(
        title=f"{top['driver_label']} matters most: {100 * float(top['share']):.0f}% of what the drivers explain about intent to leave",
        xaxis={"title": "Share of explained intent to leave (%); bars: 95% bootstrap interval", "rangemode": "tozero"},
        height=max(300, 90 + 34 * len(frame)),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        showlegend=False,
    )
    return fig


def driver_table(long: pd.DataFrame) -> pd.DataFrame:
    frame = long.sort_values("importance", ascending=False, na_position="last")
    return pd.DataFrame(
        {
            "Driver": frame["driver_label"],
            "Share of explained ITL": [_pct(v) for v in frame["share"]],
            "Importance (pseudo-R²)": [None if _missing(v) else round(float(v), 4) for v in frame["importance"]],
            "95% interval": [
                "" if _missing(lo) else f"{float(lo):.4f} – {float(hi):.4f}"
                for lo, hi in zip(frame["importance_lo"], frame["importance_hi"], strict=True)
            ],
            "Direction": [
                "worse → more ITL" if s > 0 else "protective" if s < 0 else "unclear" for s in frame["sign"].fillna(0)
            ],
            "Unfavourable here": [_pct(v) for v in frame["unfavourable"]],
            "Act here": ["yes" if bool(v) else "" for v in frame["act_here"].fillna(False)],
        }
    )


def quadrant_figure(unit: pd.DataFrame, organisation: pd.DataFrame, who: str) -> go.Figure:
    """Importance (x) versus the unit's unfavourable % (y), one point per driver group, each joined to
    the organisation's unfavourable % for that driver (grey ring). Right of the dotted line = more
    important than the median driver; the shaded corner is labelled "Act here": drivers there that
    are also worse than the organisation (diamonds) are where to act."""
    frame = unit[unit["importance"].notna() & unit["unfavourable"].notna()].copy()
    if frame.empty:
        return _empty_figure(f"No driver can be placed for {_text(who)}")
    org_unfav = organisation.set_index("driver")["unfavourable"] if not organisation.empty else pd.Series(dtype=float)
    frame["org_unfav"] = pd.to_numeric(frame["driver"].map(org_unfav), errors="coerce").astype(float)
    x = 100 * frame["share"].astype(float)
    y = 100 * frame["unfavourable"].astype(float)
    y_org = 100 * frame["org_unfav"]
    x_ref = float(np.nanmedian(100 * unit["share"].astype(float)))
    act = frame["act_here"].fillna(False).astype(bool).to_numpy()
    n = frame["n"].iloc[0] if "n" in frame else None
    hover = [
        f"{r['driver_label']}<br>{100 * float(r['share']):.0f}% of explained intent to leave "
        f"({_interval(r['importance_lo'], r['importance_hi'], lambda v: f'{v:.4f}')} pseudo-R²)"
        f"<br>Unfavourable here {_pct(r['unfavourable'])} vs organisation {_pct(r['org_unfav'])}"
        + (f"<br>n = {int(n):,} respondents" if not _missing(n) else "")
        + ("<br><b>Act here</b>" if a else "")
        for (_, r), a in zip(frame.iterrows(), act, strict=True)
    ]
    x_max = float(max(x.max(), x_ref)) * 1.3
    y_max = float(np.nanmax([y.max(), y_org.max()])) * 1.25 + 5
    fig = go.Figure()
    fig.add_shape(type="rect", x0=x_ref, x1=x_max, y0=0, y1=y_max, fillcolor=WORSE, opacity=0.07, line={"width": 0})
    fig.add_annotation(
        x=x_max,
        y=y_max,
        text="<b>Act here</b> if worse than the organisation (◆)",
        showarrow=False,
        xanchor="right",
        yanchor="top",
        font={"color": WORSE},
    )
    fig.add_annotation(
        x=0, y=y_max, text="Matters less", showarrow=False, xanchor="left", yanchor="top", font={"color": "#666666"}
    )
    fig.add_vline(x=x_ref, line={"color": "#999999", "dash": "dot"})
    for xi, yi, yo in zip(x, y, y_org, strict=True):
        if not np.isnan(yo):
            fig.add_shape(type="line", x0=xi, x1=xi, y0=yo, y1=yi, line={"color": "#BBBBBB", "width": 2})
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y_org,
            mode="markers",
            marker={"size": 10, "color": "rgba(0,0,0,0)", "line": {"color": "#888888", "width": 2}},
            name="Organisation",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="markers+text",
            text=frame["driver_label"],
            textposition="middle right",
            marker={
                "size": 14,
                "color": [WORSE if a else PROTECTIVE for a in act],
                "symbol": ["diamond" if a else "circle" for a in act],
            },
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            name=_text(who),
        )
    )
    acts = frame[act].sort_values("share", ascending=False)["driver_label"].tolist()
    title = (
        f"Act here in {_text(who)}: {', '.join(acts[:3])}"
        if acts
        else f"No driver in {_text(who)} is both important and worse than the organisation"
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "Importance: share of explained intent to leave (%)", "range": [0, x_max]},
        yaxis={"title": "Unfavourable answers (%)", "range": [0, y_max]},
        legend={"orientation": "h", "y": -0.18},
        height=480,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig
