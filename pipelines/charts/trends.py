"""The Trends page's figure: one measure across waves, one line per group, 95% interval bars."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from pipelines.charts.formats import (
    OKABE_ITO,
    error_bars,
    format_change,
    format_value,
    interval_text,
    is_missing,
    metric_label,
    plot_text,
    unit_label,
)

__all__ = [
    "trend_figure",
]


def trend_figure(frame: pd.DataFrame, metric: str, k: int) -> go.Figure:
    """One metric across waves, one line per group, 95% interval bars; a ring marks a change from
    the previous wave larger than sampling noise. Hidden waves leave a gap, never a value."""
    frame = frame[frame["metric"] == metric].copy()
    frame["unit"] = [plot_text(unit_label(r)) for _, r in frame.iterrows()]
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
                + ("–" if is_missing(r["answered"]) else f"{int(r['answered']):,}")
                + ("; " + interval_text(r) if r["stat"] == "rate" else "")
                + (
                    f"<br>change {format_change(r['change'], r['stat'], r['exceeds_noise'])}"
                    if not is_missing(r["change"])
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
