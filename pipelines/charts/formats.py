"""Number formats, labels, colours and error bars every chart, page and export shares.

One definition of how a released number reads ('41.2%', '+3.1 pts (within noise)', '$1.2M'), what a
unit and a metric are called, the Okabe-Ito palette (distinguishable with colour-blindness) and the
asymmetric 95% error bars. No Streamlit, no SQL, no statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from pipelines import contract
from pipelines.contract.levels import DIMENSIONS
from pipelines.metrics.released import METRICS_BY_NAME

__all__ = [
    "HIGHER_IS_WORSE",
    "KEY_METRICS",
    "NEUTRAL",
    "OKABE_ITO",
    "PROBLEM_SCALE",
    "PROTECTIVE",
    "SHORT_LABELS",
    "SUPPRESSED_GREY",
    "WORSE",
    "Tile",
    "count",
    "empty_figure",
    "empty_reason",
    "error_bars",
    "flag",
    "format_change",
    "format_value",
    "interval",
    "interval_text",
    "is_missing",
    "metric_label",
    "metrics_table",
    "model_error_bars",
    "money",
    "percent",
    "plot_text",
    "short_population",
    "suppressed",
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
# Model pages: worse conditions (more intent to leave) against protective ones.
WORSE = OKABE_ITO[5]  # vermillion: worse conditions go with more intent to leave
PROTECTIVE = OKABE_ITO[0]  # blue
NEUTRAL = OKABE_ITO[4]  # sky blue


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


def metric_label(metric: str, short: bool = True) -> str:
    """A reader's name for a metric (short for axes, long for tables)."""
    if short and metric in SHORT_LABELS:
        return SHORT_LABELS[metric]
    m = METRICS_BY_NAME.get(metric)
    return m.label if m else metric.replace("_", " ")


def is_missing(x: object) -> bool:
    """None, pd.NA or NaN."""
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def flag(x: object) -> bool | None:
    """A nullable boolean from pandas/numpy as True, False or None."""
    return None if is_missing(x) else bool(x)


def percent(x: object, digits: int = 0) -> str:
    """'41%' (digits after the point as asked); '–' when missing."""
    return "–" if is_missing(x) else f"{100 * float(x):.{digits}f}%"


def count(x: object) -> str:
    """'1,234'; '–' when missing."""
    return "–" if is_missing(x) else f"{int(x):,}"


def interval(lo: object, hi: object, fmt=lambda v: f"{v:.1f}") -> str:
    """'95% interval lo to hi' in `fmt`, or 'no interval' when an end is missing."""
    if is_missing(lo) or is_missing(hi):
        return "no interval"
    return f"95% interval {fmt(float(lo))} to {fmt(float(hi))}"


def money(x: object) -> str:
    """'$12.9B', '$1.2M', '$85k', '$4.2k', '$999', '-$3.0M'; '–' when missing. One format for every page
    and export.

    Every figure keeps at least two significant digits, and the unit is chosen from the value as it
    will be printed, so a rounding never claims a larger unit than the value reaches ($999.4 reads
    "$999", not "$1k"; $999,600 reads "$1.0M", which is what it rounds to)."""
    if is_missing(x):
        return "–"
    x = float(x)
    sign = "-" if round(x) < 0 else ""
    x = abs(x)
    # (from, divisor, suffix, digits), smallest first: a tier is used when the value, rounded as it
    # would be printed there, stays below where the next tier starts
    tiers = ((0.0, 1.0, "", 0), (1e3, 1e3, "k", 1), (1e4, 1e3, "k", 0), (1e6, 1e6, "M", 1), (1e9, 1e9, "B", 1))
    for (_start, size, suffix, digits), nxt in zip(tiers, (*tiers[1:], None), strict=True):
        if nxt is None or round(x / size, digits) * size < nxt[0]:
            return f"{sign}${x:,.0f}" if not suffix else f"{sign}${x / size:.{digits}f}{suffix}"
    raise AssertionError("unreachable")


def format_value(value: object, stat: str, display: object = None) -> str:
    """'41.2%' for rates, '1.8' otherwise; the released display text when the value is hidden."""
    if is_missing(value):
        return "" if is_missing(display) else str(display)
    return f"{100 * float(value):.1f}%" if stat == "rate" else f"{float(value):.1f}"


def format_change(change: object, stat: str, exceeds_noise: object = None) -> str:
    """'+3.1 pts' / '-0.2'; '(within noise)' when the 95% interval of the change includes 0."""
    if is_missing(change):
        return ""
    text = f"{100 * float(change):+.1f} pts" if stat == "rate" else f"{float(change):+.1f}"
    return f"{text} (within noise)" if flag(exceeds_noise) is False else text


def unit_label(row: pd.Series | dict) -> str:
    """'Riverside · Cardiology · Nurse' from whichever dimensions the row is broken down by."""
    parts = []
    for dim in DIMENSIONS:
        value = row.get(dim)
        if not is_missing(value):
            parts.append(contract.ROLE_LABELS.get(str(value), str(value)) if dim == "role" else str(value))
    return " · ".join(parts) or "Whole organisation"


def plot_text(text: str) -> str:
    """Unit names are user data: stop Plotly reading them as its HTML subset (<a>, <b>, <br>)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def short_population(population: str) -> str:
    """A published figure's population in a few words (legends, findings)."""
    if population.startswith("Physicians in organisations taking part in the AMA"):
        return "AMA Organizational Biopsy"
    if population.startswith("US physicians"):
        return "US physicians (national)"
    if population.startswith("US health-care staff"):
        return "US health-care staff"
    return population[:40]


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


def interval_text(row: pd.Series) -> str:
    """A released rate's 95% interval ('95% interval 38.1–44.0%') from its lo/hi."""
    if is_missing(row.get("lo")) or is_missing(row.get("hi")):
        return "no interval"
    return f"95% interval {100 * row['lo']:.1f}–{100 * row['hi']:.1f}%"


def suppressed(frame: pd.DataFrame) -> pd.Series:
    """Which rows are hidden (a missing flag counts as hidden)."""
    if "suppressed" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["suppressed"].fillna(True).astype(bool)


def empty_figure(title: str) -> go.Figure:
    """A blank figure whose title says why nothing is drawn."""
    fig = go.Figure()
    fig.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=220,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def model_error_bars(values: pd.Series, lo: pd.Series, hi: pd.Series, scale: float = 1.0) -> dict:
    """error_bars in the model pages' style (thicker, with caps)."""
    return error_bars(values, lo, hi, scale, thickness=1.5, width=4)


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


@dataclass(frozen=True)
class Tile:
    """One headline number with its change since the previous wave."""

    label: str
    value: str
    delta: str | None = None
    delta_color: str = "off"  # "inverse" when higher is worse and the change is beyond noise
    help: str = ""


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
                "95% interval": "" if is_missing(r.get("lo")) else f"{100 * r['lo']:.1f}–{100 * r['hi']:.1f}%",
                "n": None if is_missing(r["answered"]) else int(r["answered"]),
                "Change": format_change(r.get("change"), r["stat"], r.get("exceeds_noise")),
            }
        )
    return pd.DataFrame(rows)
