"""Static SVG for the simple Plotly figures: the dashboard's first screens draw without a chart library.

A new browser needs ~1 s to fetch and parse Streamlit's 4.7 MB Plotly bundle before the first
Plotly chart appears (benchmarks/NOTES.md). The Overview and Attrition-risk charts are simple
(a heatmap, dots with intervals, bars), so `to_svg` draws the very figure the builders in
pipelines.charts return as plain SVG on the server: the same data, colours and titles, no
JavaScript. The dashboard shows it as an image (st.image), so nothing in it can reach the page's
markup; hover text is kept as SVG <title> elements, which show as tooltips where the SVG is opened
on its own. A figure using anything outside the small subset below returns None, and the caller
shows it with Plotly as before.

Supported: Heatmap (colour scale, cell text, gaps, colour bar), Scatter (markers in four symbols,
lines, text beside markers, asymmetric error bars), Bar (horizontal or vertical, error bars, text
inside), data-anchored text annotations, one x and one y axis (numeric or categorical; category
order arrays; reversed; tozero; fixed ranges; top side), a title, a horizontal legend.

Text is escaped once here (figure text is Plotly's HTML subset with `<br>`; unit names come from
uploaded files) and colours are checked, so the SVG is well-formed whatever a label holds. The chart
has its own background and text colours (the app passes its theme's), so it reads the same whichever
theme the viewer picked. No Streamlit, no SQL.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

__all__ = ["to_svg"]

WIDTH = 860  # viewBox width: about the main column of a wide Streamlit page
FONT_SIZE = 13
CHAR = 0.56 * FONT_SIZE  # average glyph width of the UI font, for laying out labels
LINE = 16
GRID = "rgba(128,128,128,0.22)"
AXIS = "rgba(128,128,128,0.55)"
SUPPORTED_TRACES = frozenset({"heatmap", "scatter", "bar"})
_TEMPLATE = re.compile(r"%\{([a-z_]+)(?:\[(\d+)\])?(?::([^}]*))?\}")
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|rgba?\([0-9.,\s%]+\)|[a-zA-Z]+)$")


def to_svg(fig: go.Figure, width: int = WIDTH, text_colour: str = "#31333F", background: str = "#FFFFFF") -> str | None:
    """The figure as one `<svg>` document (`width` px wide, its height from its content), or None
    when it uses something this renderer does not draw. `text_colour`: titles, labels and ticks;
    `background`: the chart's own background, so it reads the same on a light or a dark page."""
    if not _supported(fig):
        return None
    return _Renderer(fig, width, _colour(text_colour, "#31333F"), _colour(background, "#FFFFFF")).render()


# ------------------------------------------------------------------------------------------------
# What can be drawn
# ------------------------------------------------------------------------------------------------
def _supported(fig: go.Figure) -> bool:
    layout = fig.layout
    if layout.shapes or layout.images or layout.updatemenus or layout.sliders:
        return False
    used = set(layout.to_plotly_json())
    if used & {"xaxis2", "yaxis2", "polar", "geo", "scene", "grid"}:
        return False
    for note in layout.annotations:
        if note.showarrow is not False or note.xref not in (None, "x") or note.yref not in (None, "y"):
            return False
    for trace in fig.data:
        if trace.type not in SUPPORTED_TRACES:
            return False
        if getattr(trace, "xaxis", None) not in (None, "x") or getattr(trace, "yaxis", None) not in (None, "y"):
            return False
        if trace.type == "bar" and (trace.base is not None or layout.barmode not in (None, "group")):
            return False
        if trace.type == "bar" and sum(t.type == "bar" for t in fig.data) > 1:
            return False  # grouped bars: left to Plotly (a bar trace with text or marker traces is drawn)
        if trace.type == "scatter" and (trace.fill not in (None, "none") or trace.stackgroup):
            return False
        line = getattr(getattr(trace, "marker", None), "line", None)
        if line is not None and line.width:  # rings around markers carry meaning (trends): Plotly draws them
            return False
    return True


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------
def _missing(x: Any) -> bool:
    if x is None or x is pd.NA:
        return True
    try:
        return bool(x != x)  # NaN, pd.NA
    except (TypeError, ValueError):
        return False


def _plain(text: Any) -> list[str]:
    """Plotly text (HTML subset, `<br>` breaks, entities) as plain lines, tags dropped."""
    if _missing(text):
        return []
    raw = re.sub(r"<extra>.*?</extra>", "", str(text), flags=re.S)
    lines = re.split(r"<br\s*/?>", raw)
    return [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in lines]


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * 0.56 * size


def _wrap(text: str, chars: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def _list(values: Any, n: int, default: Any = None) -> list[Any]:
    """A per-point attribute: a sequence as a list, a scalar repeated, None as `default`."""
    if values is None:
        return [default] * n
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        return [values] * n
    return (list(values) + [default] * n)[:n]


def _seq(values: Any) -> list[Any]:
    """A Plotly data array (tuple, list or numpy array; None = empty) as a list."""
    if values is None:
        return []
    return list(values.tolist() if hasattr(values, "tolist") else values)


def _fit(lines: list[str], band: float) -> list[str]:
    """Label lines re-wrapped so no line is wider than its band."""
    chars = max(int((band - 6) / CHAR), 4)
    return [part for line in lines for part in (_wrap(line, chars) if len(line) > chars else [line])]


def _fmt(value: Any, spec: str | None) -> str:
    if _missing(value):
        return ""
    if spec:
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            try:
                return format(float(value), spec)
            except (TypeError, ValueError):
                return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _hover(template: Any, point: dict[str, Any]) -> str:
    """Plotly's hovertemplate for one point, filled in (d3 number formats ≈ Python's for ,.1f)."""
    if _missing(template) or not template:
        return ""

    def sub(m: re.Match) -> str:
        name, index, spec = m.group(1), m.group(2), m.group(3)
        value = point.get(name)
        if index is not None:
            try:
                value = value[int(index)]
            except (TypeError, IndexError, KeyError):
                value = None
        if isinstance(value, (list, tuple)) and index is None:
            value = " ".join(str(v) for v in value)
        return _fmt(value, spec)

    return "\n".join(_plain(_TEMPLATE.sub(sub, str(template))))


def _tooltip(text: str) -> str:
    return f"<title>{_esc(text)}</title>" if text else ""


def _colour(value: Any, default: str = "#0072B2") -> str:
    """A CSS colour from the figure, or `default`: attribute values go into the SVG unescaped."""
    text = "" if _missing(value) else str(value).strip()
    return text if _COLOUR.match(text) else default


def _rgb(colour: str) -> tuple[float, float, float] | None:
    colour = colour.strip()
    if colour.startswith("#") and len(colour) in (4, 7):
        h = colour[1:]
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return tuple(int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]
    m = re.match(r"rgba?\(([^)]+)\)", colour)
    if m:
        parts = [float(p) for p in m.group(1).split(",")[:3]]
        return tuple(p / 255 for p in parts)  # type: ignore[return-value]
    return None


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(255 * max(0.0, min(1.0, c))):02x}" for c in rgb)


def _scale(colorscale: Any, t: float) -> str:
    stops = [(float(s), _colour(c, "#808080")) for s, c in colorscale]
    t = max(0.0, min(1.0, t))
    for (s0, c0), (s1, c1) in zip(stops, stops[1:], strict=False):
        if t <= s1:
            a, b = _rgb(c0), _rgb(c1)
            if a is None or b is None:
                return c0
            f = 0.0 if s1 == s0 else (t - s0) / (s1 - s0)
            return _hex([x + (y - x) * f for x, y in zip(a, b, strict=True)])
    return stops[-1][1]


def _dark(colour: str) -> bool:
    rgb = _rgb(colour)
    if rgb is None:
        return False
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] < 0.55


def _nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], start
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _tick_text(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


# ------------------------------------------------------------------------------------------------
# Axes
# ------------------------------------------------------------------------------------------------
@dataclass
class _Axis:
    letter: str
    spec: Any
    categories: list[str] = field(default_factory=list)
    lo: float = 0.0
    hi: float = 1.0
    start: float = 0.0  # pixel of the low end (categorical: of the first band)
    end: float = 1.0

    @property
    def categorical(self) -> bool:
        return bool(self.categories)

    @property
    def reversed(self) -> bool:
        return self.spec.autorange == "reversed"

    @property
    def visible(self) -> bool:
        return self.spec.visible is not False

    def band(self) -> float:
        return abs(self.end - self.start) / max(len(self.categories), 1)

    def pos(self, value: Any) -> float | None:
        if _missing(value):
            return None
        if self.categorical:
            key = str(value)
            if key not in self.categories:
                return None
            i = self.categories.index(key)
            step = (self.end - self.start) / len(self.categories)
            return self.start + (i + 0.5) * step
        try:
            v = float(value)
        except (TypeError, ValueError):
            return None
        f = (v - self.lo) / (self.hi - self.lo) if self.hi != self.lo else 0.5
        return self.start + f * (self.end - self.start)


def _is_category(values: Sequence[Any]) -> bool:
    return any(isinstance(v, str) for v in values if not _missing(v))


class _Renderer:
    def __init__(self, fig: go.Figure, width: int, text_colour: str, background: str) -> None:
        self.fig = fig
        self.text_colour = text_colour
        self.background = background
        self.layout = fig.layout
        self.width = width
        self.id = "c" + hashlib.sha1(fig.to_json().encode()).hexdigest()[:10]
        self.parts: list[str] = []
        self.x_labels: dict[str, list[str]] = {}
        self.label_px = 0.42 * width

    # -- data ranges ------------------------------------------------------------------------------
    def _values(self, letter: str) -> tuple[list[Any], list[float]]:
        """Every value on an axis (for categories) and every number it must show (for ranges)."""
        values: list[Any] = []
        numbers: list[float] = []
        for trace in self.fig.data:
            vals = _seq(getattr(trace, letter))
            if trace.type == "heatmap":
                values += vals
                continue
            values += vals
            err = getattr(trace, f"error_{letter}", None)
            has_err = err is not None and err.visible is not False and err.array is not None
            plus = _list(err.array if has_err else None, len(vals), 0)
            minus = _list(err.arrayminus, len(vals), 0) if has_err and err.symmetric is False else plus
            for v, p, m in zip(vals, plus, minus, strict=True):
                if _missing(v) or isinstance(v, str):
                    continue
                numbers += [float(v) + float(p or 0), float(v) - float(m or 0)]
            if trace.type == "bar" and self._bar_value_axis(trace) == letter:
                numbers.append(0.0)
        for note in self.layout.annotations:
            v = getattr(note, letter)
            if not _missing(v):
                values.append(v)
                if not isinstance(v, str):
                    numbers.append(float(v))
        return values, numbers

    @staticmethod
    def _bar_value_axis(trace: Any) -> str:
        return "x" if trace.orientation == "h" else "y"

    def _axis(self, letter: str) -> _Axis:
        spec = getattr(self.layout, f"{letter}axis")
        axis = _Axis(letter, spec)
        values, numbers = self._values(letter)
        if _is_category(values):
            order: list[str] = []
            if spec.categoryorder == "array" and spec.categoryarray is not None:
                order = [str(v) for v in spec.categoryarray]
            for v in values:
                if not _missing(v) and str(v) not in order:
                    order.append(str(v))
            axis.categories = order
            return axis
        if spec.range is not None and None not in spec.range:
            axis.lo, axis.hi = float(spec.range[0]), float(spec.range[1])
            return axis
        lo, hi = (min(numbers), max(numbers)) if numbers else (0.0, 1.0)
        if spec.rangemode == "tozero" or any(t.type == "bar" for t in self.fig.data):
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        pad = (hi - lo) * 0.05 or 1.0
        axis.lo = lo if lo == 0 else lo - pad
        axis.hi = hi + pad
        return axis

    # -- layout -----------------------------------------------------------------------------------
    def render(self) -> str:
        layout = self.layout
        x, y = self._axis("x"), self._axis("y")
        heat = next((t for t in self.fig.data if t.type == "heatmap" and t.showscale is not False), None)
        legend = self._legend_items()
        margin = layout.margin
        m_l = 10 if margin.l is None else margin.l
        m_r = 10 if margin.r is None else margin.r
        m_b = 10 if margin.b is None else margin.b

        title_lines = _wrap(" ".join(_plain(layout.title.text)), int((self.width - 20) / (0.56 * 14)))
        top = 8 + len(title_lines) * 20 + 10

        y_labels = [line for c in y.categories for line in _plain(c)] if y.categorical else []
        self.label_px = 0.42 * self.width  # longer unit names are shortened with "…" (full name on hover)
        widest = min(max((_width(s) for s in y_labels), default=0), self.label_px)
        left = m_l + (widest + 10 if y.visible and y.categorical else 0)
        if y.visible and not y.categorical:
            left = m_l + 44
        if y.visible and _plain(y.spec.title.text):
            left += 20
        right = m_r + (70 if heat is not None else 10)

        x_top = x.spec.side == "top"
        if x.categorical:  # wrap category labels to their band (the plot width is known up to the legend)
            band = (self.width - left - right) / max(len(x.categories), 1)
            self.x_labels = {c: _fit(_plain(c), band) for c in x.categories}
        x_label_lines = max((len(v) for v in self.x_labels.values()), default=1) if x.categorical else 1
        x_ticks_h = (x_label_lines * 14 + 8) if x.visible else 0
        x_title = _plain(x.spec.title.text) if x.visible else []
        legend_rows = self._legend_rows(legend, self.width - left - right)
        bottom = m_b + (0 if x_top else x_ticks_h) + (18 * len(x_title)) + (22 * len(legend_rows))
        top += x_ticks_h if x_top else 0

        if y.categorical:
            band = 26 if not any(t.type == "heatmap" for t in self.fig.data) else 32
            plot_h = max(len(y.categories) * band, 60)
        else:
            plot_h = max(180, (layout.height or 380) - 60 - 50)
        height = int(top + plot_h + bottom + 6)

        x.start, x.end = left, self.width - right
        if y.categorical:
            y.start, y.end = (top, top + plot_h) if y.reversed else (top + plot_h, top)
        else:
            y.start, y.end = top + plot_h, top  # numbers grow upwards
        if x.categorical and x.reversed:
            x.start, x.end = x.end, x.start
        if not x.categorical and x.reversed:
            x.start, x.end = x.end, x.start

        p = self.parts
        for i, line in enumerate(title_lines):
            p.append(f'<text x="10" y="{8 + 15 + i * 20}" font-size="14" font-weight="600">{_esc(line)}</text>')
        self._grid_and_ticks(x, y, top, top + plot_h, x_top)
        for trace in self.fig.data:
            if trace.visible is False:
                continue
            getattr(self, f"_{trace.type}")(trace, x, y)
        self._annotations(x, y)
        if heat is not None:
            self._colorbar(heat, self.width - right + 16, top, plot_h)
        y_cursor = top + plot_h + (0 if x_top else x_ticks_h)
        for line in x_title:
            y_cursor += 16
            mid = (left + self.width - right) / 2
            p.append(f'<text x="{mid:.1f}" y="{y_cursor:.1f}" text-anchor="middle" opacity="0.8">{_esc(line)}</text>')
        y_title = " ".join(_plain(y.spec.title.text)) if y.visible else ""
        if y_title:
            cy = top + plot_h / 2
            p.append(
                f'<text transform="translate({m_l + 12},{cy:.1f}) rotate(-90)" text-anchor="middle" '
                f'opacity="0.8">{_esc(y_title)}</text>'
            )
        self._draw_legend(legend_rows, left, y_cursor + 8)

        label = " ".join(title_lines) or "chart"
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="clinret-chart" role="img" '
            f'aria-label="{_esc(label)}" viewBox="0 0 {self.width} {height}" width="{self.width}" '
            f'height="{height}" preserveAspectRatio="xMinYMin meet" '
            f'font-family="Source Sans, Source Sans Pro, Helvetica, Arial, sans-serif" font-size="{FONT_SIZE}" '
            f'fill="{self.text_colour}"><rect width="100%" height="100%" fill="{self.background}"/>'
            + "".join(p)
            + "</svg>"
        )

    def _grid_and_ticks(self, x: _Axis, y: _Axis, top: float, bottom: float, x_top: bool) -> None:
        p = self.parts
        heat = any(t.type == "heatmap" for t in self.fig.data)
        if x.visible:
            base = top - 6 if x_top else bottom + 14
            if x.categorical:
                for c in x.categories:
                    cx = x.pos(c)
                    lines = self.x_labels.get(c) or _plain(c)
                    first = base - (len(lines) - 1) * 14 if x_top else base
                    for j, line in enumerate(lines):
                        p.append(
                            f'<text x="{cx:.1f}" y="{first + j * 14:.1f}" text-anchor="middle" opacity="0.75">'
                            f"{_esc(line)}</text>"
                        )
            else:
                for t in _nice_ticks(x.lo, x.hi):
                    if not (min(x.lo, x.hi) - 1e-9 <= t <= max(x.lo, x.hi) + 1e-9):
                        continue
                    px = x.pos(t)
                    p.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{bottom}" stroke="{GRID}"/>')
                    p.append(
                        f'<text x="{px:.1f}" y="{base:.1f}" text-anchor="middle" opacity="0.7">{_tick_text(t)}</text>'
                    )
        if y.visible:
            if y.categorical:
                for c in y.categories:
                    cy = y.pos(c)
                    if not heat:
                        p.append(
                            f'<line x1="{x.start if not x.reversed else x.end:.1f}" '
                            f'x2="{x.end if not x.reversed else x.start:.1f}" y1="{cy:.1f}" y2="{cy:.1f}" '
                            f'stroke="{GRID}"/>'
                        )
                    lines = _plain(c)
                    for j, line in enumerate(lines):
                        dy = (j - (len(lines) - 1) / 2) * 14 + 4
                        shown, tip = line, ""
                        if _width(line) > self.label_px:
                            shown = line[: max(int(self.label_px / CHAR) - 1, 4)].rstrip() + "…"
                            tip = _tooltip(line)
                        p.append(
                            f'<text x="{min(x.start, x.end) - 8:.1f}" y="{cy + dy:.1f}" text-anchor="end" '
                            f'opacity="0.8">{tip}{_esc(shown)}</text>'
                        )
            else:
                for t in _nice_ticks(y.lo, y.hi):
                    if not (y.lo - 1e-9 <= t <= y.hi + 1e-9):
                        continue
                    py = y.pos(t)
                    p.append(
                        f'<line x1="{min(x.start, x.end):.1f}" x2="{max(x.start, x.end):.1f}" y1="{py:.1f}" '
                        f'y2="{py:.1f}" stroke="{GRID}"/>'
                    )
                    p.append(
                        f'<text x="{min(x.start, x.end) - 6:.1f}" y="{py + 4:.1f}" text-anchor="end" '
                        f'opacity="0.7">{_tick_text(t)}</text>'
                    )
        if x.visible and not x.categorical and not heat:
            y0 = bottom if not x_top else top
            p.append(
                f'<line x1="{min(x.start, x.end):.1f}" x2="{max(x.start, x.end):.1f}" y1="{y0}" y2="{y0}" '
                f'stroke="{AXIS}"/>'
            )

    # -- traces -----------------------------------------------------------------------------------
    def _points(self, trace: Any) -> list[dict[str, Any]]:
        xs, ys = _seq(trace.x), _seq(trace.y)
        n = max(len(xs), len(ys))
        xs, ys = _list(xs, n), _list(ys, n)
        text = _list(trace.text, n, "")
        custom = _list(trace.customdata, n)
        return [{"x": xs[i], "y": ys[i], "text": text[i], "customdata": custom[i], "index": i} for i in range(n)]

    def _point_hover(self, trace: Any, point: dict[str, Any]) -> str:
        if trace.hoverinfo == "skip" or trace.hoverinfo == "none":
            return ""
        if trace.hovertemplate:
            return _hover(trace.hovertemplate, point)
        value = point["x"] if getattr(trace, "orientation", None) == "h" else point["y"]
        label = point["y"] if getattr(trace, "orientation", None) == "h" else point["x"]
        return "\n".join(s for s in (f"{label}: {_fmt(value, None)}", *_plain(point.get("text"))) if s)

    def _error_bars(self, trace: Any, points: list[dict[str, Any]], x: _Axis, y: _Axis) -> None:
        for letter in ("x", "y"):
            err = getattr(trace, f"error_{letter}", None)
            if err is None or err.visible is False or err.array is None:
                continue
            n = len(points)
            plus = _list(err.array, n, 0)
            minus = _list(err.arrayminus, n, 0) if err.symmetric is False else plus
            colour = _colour(err.color, "#555555")
            thick = float(err.thickness or 1.5)
            cap = float(err.width) if err.width is not None else 4.0
            for pt, a, b in zip(points, plus, minus, strict=True):
                px, py = x.pos(pt["x"]), y.pos(pt["y"])
                if px is None or py is None or _missing(pt[letter]) or isinstance(pt[letter], str):
                    continue
                v = float(pt[letter])
                if letter == "x":
                    x0, x1 = x.pos(v - float(b or 0)), x.pos(v + float(a or 0))
                    self.parts.append(
                        f'<path d="M{x0:.1f},{py:.1f}H{x1:.1f}M{x0:.1f},{py - cap:.1f}V{py + cap:.1f}'
                        f'M{x1:.1f},{py - cap:.1f}V{py + cap:.1f}" stroke="{colour}" stroke-width="{thick}" '
                        f'fill="none"/>'
                    )
                else:
                    y0, y1 = y.pos(v - float(b or 0)), y.pos(v + float(a or 0))
                    self.parts.append(
                        f'<path d="M{px:.1f},{y0:.1f}V{y1:.1f}M{px - cap:.1f},{y0:.1f}H{px + cap:.1f}'
                        f'M{px - cap:.1f},{y1:.1f}H{px + cap:.1f}" stroke="{colour}" stroke-width="{thick}" '
                        f'fill="none"/>'
                    )

    def _scatter(self, trace: Any, x: _Axis, y: _Axis) -> None:
        points = self._points(trace)
        mode = trace.mode or "markers"
        if "lines" in mode:
            coords = [(x.pos(pt["x"]), y.pos(pt["y"])) for pt in points]
            coords = [(a, b) for a, b in coords if a is not None and b is not None]
            if len(coords) > 1:
                line = trace.line
                dash = {"dash": "6,4", "dot": "2,3", "dashdot": "6,3,2,3"}.get(line.dash or "", "")
                path = "M" + "L".join(f"{a:.1f},{b:.1f}" for a, b in coords)
                self.parts.append(
                    f'<path d="{path}" fill="none" stroke="{_colour(line.color)}" '
                    f'stroke-width="{float(line.width or 2)}"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                )
        self._error_bars(trace, points, x, y)
        if "markers" in mode:
            colours = _list(trace.marker.color, len(points), "#0072B2")
            sizes = _list(trace.marker.size, len(points), 8)
            symbols = _list(trace.marker.symbol, len(points), "circle")
            for pt, colour, size, symbol in zip(points, colours, sizes, symbols, strict=True):
                px, py = x.pos(pt["x"]), y.pos(pt["y"])
                if px is None or py is None:
                    continue
                shape = _marker(str(symbol or "circle"), px, py, float(size or 8), _colour(colour))
                self.parts.append(f"<g>{shape}{_tooltip(self._point_hover(trace, pt))}</g>")
        if "text" in mode:
            position = trace.textposition or "middle center"
            # text in a colour of its own is a label meant to be read: drawn solid, not faded
            colour = _colour(trace.textfont.color, "") if trace.textfont else ""
            style = f' fill="{colour}"' if colour else ' opacity="0.75"'
            dy = -8 if str(position).startswith("top") else 16 if str(position).startswith("bottom") else 4
            for pt in points:
                px, py = x.pos(pt["x"]), y.pos(pt["y"])
                text = " ".join(_plain(pt["text"]))
                if px is None or py is None or not text:
                    continue
                anchor, dx = (
                    ("start", 9)
                    if "right" in str(position)
                    else ("end", -9)
                    if "left" in str(position)
                    else (
                        "middle",
                        0,
                    )
                )
                self.parts.append(
                    f'<text x="{px + dx:.1f}" y="{py + dy:.1f}" text-anchor="{anchor}"{style}>{_esc(text)}</text>'
                )

    def _bar(self, trace: Any, x: _Axis, y: _Axis) -> None:
        points = self._points(trace)
        horizontal = trace.orientation == "h"
        cat, val = (y, x) if horizontal else (x, y)
        colours = _list(trace.marker.color, len(points), "#0072B2")
        thickness = cat.band() * 0.8
        text_colour = _colour(trace.textfont.color, "") if trace.textfont else ""
        for pt, colour in zip(points, colours, strict=True):
            c = cat.pos(pt["y"] if horizontal else pt["x"])
            v = pt["x"] if horizontal else pt["y"]
            if c is None or _missing(v):
                continue
            p0, p1 = val.pos(0.0), val.pos(float(v))
            colour = _colour(colour)
            if horizontal:
                rx, ry, rw, rh = min(p0, p1), c - thickness / 2, abs(p1 - p0), thickness
            else:
                rx, ry, rw, rh = c - thickness / 2, min(p0, p1), thickness, abs(p1 - p0)
            tip = _tooltip(self._point_hover(trace, pt))
            self.parts.append(
                f'<g><rect x="{rx:.1f}" y="{ry:.1f}" width="{rw:.1f}" height="{rh:.1f}" fill="{colour}"/>{tip}</g>'
            )
            text = " ".join(_plain(pt["text"]))
            if not text:
                continue
            fits = (_width(text) + 10 <= rw) if horizontal else (rh >= 22 and _width(text) + 6 <= rw)
            inside_colour = text_colour or ("#ffffff" if _dark(colour) else "#222222")
            if horizontal:
                tx, ty, anchor = (rx + 6, c + 4, "start") if fits else (rx + rw + 6, c + 4, "start")
            else:
                tx, ty, anchor = (c, ry + rh - 8, "middle") if fits else (c, ry - 6, "middle")
            fill = f' fill="{inside_colour}"' if fits else ' opacity="0.8"'
            self.parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}"{fill}>{_esc(text)}</text>')
        self._error_bars(trace, points, x, y)

    def _heatmap(self, trace: Any, x: _Axis, y: _Axis) -> None:
        z = [_seq(row) for row in _seq(trace.z)]
        xs, ys = [str(v) for v in _seq(trace.x)], [str(v) for v in _seq(trace.y)]
        text = trace.text if trace.text is not None else None
        custom = trace.customdata if trace.customdata is not None else None
        scale = trace.colorscale or ((0, "#ffffff"), (1, "#000000"))
        zmin = trace.zmin if trace.zmin is not None else 0.0
        zmax = trace.zmax if trace.zmax is not None else 1.0
        gx, gy = (trace.xgap or 0) / 2, (trace.ygap or 0) / 2
        bw, bh = x.band(), y.band()
        for i, yv in enumerate(ys):
            cy = y.pos(yv)
            for j, xv in enumerate(xs):
                cx = x.pos(xv)
                value = z[i][j] if i < len(z) and j < len(z[i]) else None
                label = " ".join(_plain(text[i][j])) if text is not None and i < len(text) and j < len(text[i]) else ""
                if cx is None or cy is None:
                    continue
                cell = ""
                if not _missing(value):
                    t = (float(value) - zmin) / (zmax - zmin) if zmax != zmin else 0.5
                    fill = _scale(scale, t)
                    cell = (
                        f'<rect x="{cx - bw / 2 + gx:.1f}" y="{cy - bh / 2 + gy:.1f}" width="{bw - 2 * gx:.1f}" '
                        f'height="{bh - 2 * gy:.1f}" fill="{fill}"/>'
                    )
                    colour = "#ffffff" if _dark(fill) else "#222222"
                else:
                    colour = "#444444"
                if label and trace.texttemplate:
                    cell += (
                        f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" fill="{colour}" '
                        f'font-size="11.5">{_esc(label)}</text>'
                    )
                hover = ""
                if trace.hoverinfo != "skip" and trace.hovertemplate:
                    point = {
                        "x": xv, "y": yv, "z": value, "text": label,
                        "customdata": custom[i][j] if custom is not None else None,
                    }  # fmt: skip
                    hover = _hover(trace.hovertemplate, point)
                if cell:
                    self.parts.append(f"<g>{cell}{_tooltip(hover)}</g>")

    def _annotations(self, x: _Axis, y: _Axis) -> None:
        for note in self.layout.annotations:
            px, py = x.pos(note.x), y.pos(note.y)
            text = " ".join(_plain(note.text))
            if px is None or py is None or not text:
                continue
            py -= float(note.yshift or 0)
            self.parts.append(f'<text x="{px:.1f}" y="{py:.1f}" text-anchor="middle" opacity="0.8">{_esc(text)}</text>')

    def _colorbar(self, trace: Any, left: float, top: float, height: float) -> None:
        bar = trace.colorbar
        scale = trace.colorscale or ((0, "#ffffff"), (1, "#000000"))
        gid = f"{self.id}-scale"
        stops = "".join(
            f'<stop offset="{100 * (1 - float(s)):.0f}%" stop-color="{_colour(c, "#808080")}"/>'
            for s, c in reversed(list(scale))
        )
        title = _wrap(" ".join(_plain(bar.title.text)), 9) if bar and bar.title else []
        y0 = top + 16 * len(title) + (6 if title else 0)
        h = max(min(height - 16 * len(title), 160), 40) + 16  # the bar is h - 16 tall
        p = self.parts
        p.append(f'<defs><linearGradient id="{gid}" x1="0" x2="0" y1="0" y2="1">{stops}</linearGradient></defs>')
        for i, line in enumerate(title):
            p.append(f'<text x="{left:.1f}" y="{top + 10 + 16 * i:.1f}" opacity="0.8">{_esc(line)}</text>')
        p.append(
            f'<rect x="{left:.1f}" y="{y0:.1f}" width="14" height="{h - 16:.1f}" fill="url(#{gid})" stroke="{AXIS}"/>'
        )
        zmin = trace.zmin if trace.zmin is not None else 0.0
        zmax = trace.zmax if trace.zmax is not None else 1.0
        vals = list(bar.tickvals or []) if bar else []
        texts = list(bar.ticktext or []) if bar else []
        for v, t in zip(vals, texts, strict=False):
            f = (float(v) - zmin) / (zmax - zmin) if zmax != zmin else 0.5
            py = y0 + (1 - f) * (h - 16)
            p.append(f'<text x="{left + 20:.1f}" y="{py + 4:.1f}" opacity="0.75">{_esc(str(t))}</text>')

    # -- legend -----------------------------------------------------------------------------------
    def _legend_items(self) -> list[tuple[str, str, str]]:
        if self.layout.showlegend is False:
            return []
        items = []
        for trace in self.fig.data:
            if trace.type == "heatmap" or trace.showlegend is False or not trace.name:
                continue
            colour = trace.marker.color if trace.type != "scatter" or "markers" in (trace.mode or "markers") else None
            if isinstance(colour, (list, tuple)) or colour is None:
                colour = trace.line.color if trace.type == "scatter" and trace.line.color else "#0072B2"
            symbol = str(trace.marker.symbol or "circle") if "markers" in (trace.mode or "markers") else "line"
            items.append((" ".join(_plain(trace.name)), _colour(colour), symbol))
        if len(items) < 2 and self.layout.showlegend is not True:
            return []
        return items

    def _legend_rows(self, items: list[tuple[str, str, str]], width: float) -> list[list[tuple[str, str, str]]]:
        rows: list[list[tuple[str, str, str]]] = []
        used = width + 1
        for item in items:
            w = _width(item[0]) + 34
            if not rows or used + w > width:
                rows.append([])
                used = 0
            rows[-1].append(item)
            used += w
        return rows

    def _draw_legend(self, rows: list[list[tuple[str, str, str]]], left: float, top: float) -> None:
        for r, row in enumerate(rows):
            cx, cy = left, top + 10 + r * 22
            for name, colour, symbol in row:
                if symbol == "line":
                    self.parts.append(
                        f'<path d="M{cx:.1f},{cy:.1f}h16" stroke="{colour}" stroke-width="2" stroke-dasharray="5,3"/>'
                    )
                else:
                    self.parts.append(_marker(symbol, cx + 8, cy, 10, colour))
                self.parts.append(f'<text x="{cx + 22:.1f}" y="{cy + 4:.1f}" opacity="0.85">{_esc(name)}</text>')
                cx += _width(name) + 34


def _marker(symbol: str, x: float, y: float, size: float, colour: str) -> str:
    r = size / 2
    if symbol.startswith("square"):
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{size:.1f}" height="{size:.1f}" fill="{colour}"/>'
    if symbol.startswith("diamond"):
        d = r * 1.25
        return f'<path d="M{x:.1f},{y - d:.1f}L{x + d:.1f},{y:.1f}L{x:.1f},{y + d:.1f}L{x - d:.1f},{y:.1f}Z" fill="{colour}"/>'
    if symbol.startswith("triangle-up"):
        d = r * 1.2
        return f'<path d="M{x:.1f},{y - d:.1f}L{x + d:.1f},{y + d * 0.8:.1f}L{x - d:.1f},{y + d * 0.8:.1f}Z" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}"/>'
