"""Static rendering of the shared Plotly figures for the exports, plus the few report-only charts.

The report reuses the dashboard's figure builders (pipelines.charts' page modules) so a chart in the
PDF or the slides is the chart on screen; this module only makes them print-ready (fonts, wrapped
titles, fixed size) and renders them through ONE kaleido server started on first use (Debian's
chromium, no download; later exports take ~0.2 s a chart instead of ~2 s). SVG for the PDF (vector,
text stays text), PNG for PowerPoint.

No Streamlit, no SQL: DataFrame (rows of released tables) in, figure or bytes out.
"""

from __future__ import annotations

import atexit
import contextlib
import html
import re
import threading

import pandas as pd
import plotly.graph_objects as go

from pipelines.charts.formats import OKABE_ITO, error_bars, format_value, metric_label

__all__ = [
    "FONT",
    "figure_title",
    "print_ready",
    "render_png",
    "render_svg",
    "scope_trend_figure",
    "stop_renderer",
]

FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
_LOCK = threading.Lock()
_STARTED = False


def _ensure_server() -> None:
    """Start the kaleido sync server once per process (it is a singleton)."""
    global _STARTED
    with _LOCK:
        if _STARTED:
            return
        import kaleido

        kaleido.start_sync_server(mathjax=False, silence_warnings=True)
        _STARTED = True
        atexit.register(stop_renderer)


def stop_renderer() -> None:
    """Stop the kaleido server if this module started it (registered at exit)."""
    global _STARTED
    with _LOCK:
        if not _STARTED:
            return
        import kaleido

        with contextlib.suppress(Exception):  # shutting down: nothing useful to do with an error
            kaleido.stop_sync_server(silence_warnings=True)
        _STARTED = False


def figure_title(fig: go.Figure) -> str:
    """The figure's finding-style title as plain text (tags removed, entities decoded)."""
    text = fig.layout.title.text or ""
    text = re.sub(r"<br\s*/?>", " ", text)
    text = re.sub(r"<[^>]+>", "", text)
    return " ".join(html.unescape(text).split())


def print_ready(fig: go.Figure, width: int = 900, height: int | None = None) -> go.Figure:
    """A copy of `fig` sized for a page: one font, white background, and NO title.

    Plotly does not wrap titles, so a long finding-style title would run off a static image; the
    exports set `figure_title(fig)` as real text above the image instead (wrapped by the page)."""
    out = go.Figure(fig)
    margin = out.layout.margin
    h = int(height or out.layout.height or 400) - max(int(margin.t or 60) - 24, 0)
    out.update_layout(
        title={"text": ""},
        font={"family": FONT, "size": 12, "color": "#222222"},
        paper_bgcolor="white",
        plot_bgcolor="white",
        width=width,
        height=max(h, 160),
        margin={
            "l": max(int(margin.l or 10), 10),
            "r": max(int(margin.r or 10), 20),
            "t": 24,
            "b": max(int(margin.b or 10), 10),
        },
    )
    if any(a.yref == "paper" and (a.y or 0) > 1 for a in out.layout.annotations or ()):
        out.update_layout(margin={"t": 60})
    if out.layout.xaxis.side == "top":  # heatmap: column labels sit above the plot
        out.update_layout(margin={"t": 90})
    out.update_xaxes(gridcolor="#E5E5E5", zerolinecolor="#BBBBBB", automargin=True)
    out.update_yaxes(gridcolor="#E5E5E5", zerolinecolor="#BBBBBB", automargin=True)
    return out


def _render(fig: go.Figure, fmt: str, scale: float) -> bytes:
    _ensure_server()
    import kaleido

    width = int(fig.layout.width or 900)
    height = int(fig.layout.height or 400)
    return kaleido.calc_fig_sync(fig, opts={"format": fmt, "width": width, "height": height, "scale": scale})


def render_svg(fig: go.Figure, width: int = 900, height: int | None = None) -> str:
    """The print-ready figure as SVG text (vector; its text stays selectable in the PDF)."""
    return _render(print_ready(fig, width, height), "svg", 1).decode("utf-8")


def render_png(fig: go.Figure, width: int = 1100, height: int | None = None, scale: float = 2.0) -> bytes:
    """The print-ready figure as PNG bytes (for slides)."""
    return _render(print_ready(fig, width, height), "png", scale)


def scope_trend_figure(rows: pd.DataFrame, metrics: tuple[str, ...], who: str, k: int) -> go.Figure:
    """Several rate metrics of ONE group across waves (one line each, 95% interval bars).

    `rows`: rel_metrics rows of the group (every wave). Hidden or banded waves leave a gap; a ring
    marks a change from the previous wave larger than sampling noise. The title states the finding."""
    fig = go.Figure()
    frame = rows[rows["metric"].isin(metrics)].sort_values("wave")
    waves = sorted(frame["wave"].dropna().astype(str).unique())
    moved: list[str] = []
    for i, metric in enumerate(metrics):
        g = frame[frame["metric"] == metric]
        if g.empty:
            continue
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        y = 100 * g["value"].astype("float64")
        lo = 100 * g["lo"].astype("float64")
        hi = 100 * g["hi"].astype("float64")
        label = metric_label(metric)
        text = [
            f"fewer than {k}" if bool(r["suppressed"]) else format_value(r["value"], r["stat"], r["display"])
            for _, r in g.iterrows()
        ]
        fig.add_trace(
            go.Scatter(
                x=g["wave"].astype(str),
                y=y,
                mode="lines+markers",
                name=label,
                customdata=text,
                hovertemplate="%{x}: %{customdata}<extra>" + label + "</extra>",
                line={"color": colour, "width": 2.5},
                marker={"color": colour, "size": 8},
                error_y=error_bars(y, lo, hi, color=colour, thickness=1.2),
                connectgaps=False,
            )
        )
        last = g[g["wave"].astype(str) == (waves[-1] if waves else "")]
        noisy = g[g["exceeds_noise"].fillna(False).astype(bool)]
        if not noisy.empty:
            fig.add_trace(
                go.Scatter(
                    x=noisy["wave"].astype(str),
                    y=100 * noisy["value"].astype("float64"),
                    mode="markers",
                    marker={"symbol": "circle-open", "size": 18, "color": colour, "line": {"width": 2}},
                    name="change beyond noise",
                    legendgroup="noise",
                    showlegend=not any(t.name == "change beyond noise" for t in fig.data),
                    hoverinfo="skip",
                )
            )
        if not last.empty and bool(last["exceeds_noise"].fillna(False).astype(bool).iloc[0]):
            direction = "rose" if float(last["change"].iloc[0]) > 0 else "fell"
            moved.append(f"{label.lower()} {direction}")
    if len(waves) < 2:
        title = f"{who}: only one wave so far, no trend yet"
    elif moved:
        title = f"In {who}, {' and '.join(moved)} since {waves[-2]} by more than sampling noise"
    else:
        title = f"In {who}, no key measure moved beyond sampling noise since {waves[-2]}"
    fig.update_layout(
        title=title,
        yaxis={"title": "% of those who answered", "rangemode": "tozero"},
        xaxis={"title": "Survey wave", "type": "category"},
        legend={"orientation": "h", "y": -0.22},
        height=380,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig
