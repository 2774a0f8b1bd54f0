"""Figures and plain-words text for the model pages: attrition risk, drivers, retention options and
intentions. DataFrame in (rows of a released table or of a scenario result), figure or words out.

No Streamlit, no SQL, no statistics: every number was computed and released by the pipeline. Titles
state the finding; hover carries n and the 95% interval; colours are Okabe-Ito. Suppressed rows carry
no value, so nothing here can reveal one: they are drawn as labelled grey rows, never as numbers.
Intent to leave is always called a stated intention, never people who will leave.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pipelines import contract
from pipelines.charts.core import OKABE_ITO, SUPPRESSED_GREY, Tile, error_bars, money, unit_label

__all__ = [
    "departures_by_unit_figure",
    "ITL_NOTE",
    "calibration_figure",
    "departures_by_role_figure",
    "departures_table",
    "driver_table",
    "importance_figure",
    "intentions_figure",
    "intentions_table",
    "model_quality_summary",
    "money",
    "quadrant_figure",
    "risk_headline",
    "risk_ranking_figure",
    "risk_table",
    "option_table",
    "scenario_compare_figure",
    "scenario_compare_table",
    "scenario_figure",
    "scenario_table",
    "scenario_tiles",
]

ITL_NOTE = (
    "Intent to leave (ITL) is what people say about the next two years, not a count of people who will "
    "leave: in published follow-ups only about a third of those who said so actually left. Expected "
    "departures below convert stated intent into departures with published rates."
)
WORSE = OKABE_ITO[5]  # vermillion: worse conditions go with more intent to leave
PROTECTIVE = OKABE_ITO[0]  # blue
NEUTRAL = OKABE_ITO[4]  # sky blue


# ------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------
def _missing(x: object) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _text(value: object) -> str:
    """Unit names are user data: stop Plotly reading them as its HTML subset."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pct(x: object, digits: int = 0) -> str:
    return "–" if _missing(x) else f"{100 * float(x):.{digits}f}%"


# Public names for the reports, which use the dashboard's number formats.
is_missing = _missing
percent = _pct


def _interval(lo: object, hi: object, fmt=lambda v: f"{v:.1f}") -> str:
    if _missing(lo) or _missing(hi):
        return "no interval"
    return f"95% interval {fmt(float(lo))} to {fmt(float(hi))}"


def _suppressed(frame: pd.DataFrame) -> pd.Series:
    if "suppressed" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["suppressed"].fillna(True).astype(bool)


def _count(x: object) -> str:
    return "–" if _missing(x) else f"{int(x):,}"


def _empty_figure(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        height=220,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def _error(values: pd.Series, lo: pd.Series, hi: pd.Series, scale: float = 1.0) -> dict:
    return error_bars(values, lo, hi, scale, thickness=1.5, width=4)


# ------------------------------------------------------------------------------------------
# Attrition risk
# ------------------------------------------------------------------------------------------
def risk_headline(selection: pd.DataFrame) -> tuple[list[Tile], str]:
    """Tiles (estimated ITL, expected departures, cost exposure) for the selected group and a line
    with their 95% intervals; nothing when the row is hidden."""
    if selection.empty:
        return [], ""
    r = selection.iloc[0]
    if bool(r.get("suppressed", False)) or _missing(r.get("predicted_itl_rate")):
        return [], ""
    basis = "roster headcount" if r.get("headcount_source") == "roster" else "respondents standing in for headcount"
    itl_ci = _interval(r["predicted_itl_rate_lo"], r["predicted_itl_rate_hi"], lambda v: f"{100 * v:.1f}%")
    dep_ci = _interval(r["expected_departures_lo"], r["expected_departures_hi"], lambda v: f"{v:,.0f}")
    cost_ci = f"95% interval {money(r['cost_exposure_lo'])} to {money(r['cost_exposure_hi'])}"
    tiles = [
        Tile(
            "Estimated intent to leave",
            _pct(r["predicted_itl_rate"], 1),
            help=f"Model estimate of the share who say they may leave within two years; {itl_ci}; "
            f"n = {int(r['n']):,}. A stated intention, not a count of people who will leave.",
        ),
        Tile(
            "Expected departures in 2 years",
            f"{float(r['expected_departures']):,.0f}",
            help=f"Stated intent converted to departures with published rates (Hamidi 2018), on {basis}; "
            f"{dep_ci}. An estimate for the group, not a list of people.",
        ),
        Tile(
            "Replacement-cost exposure",
            money(r["cost_exposure"]),
            help=f"Expected departures × replacement cost of each role (editable in Settings); {cost_ci}.",
        ),
    ]
    line = (
        f"95% intervals: intent to leave {_pct(r['predicted_itl_rate_lo'], 1)}–{_pct(r['predicted_itl_rate_hi'], 1)}; "
        f"departures {float(r['expected_departures_lo']):,.0f}–{float(r['expected_departures_hi']):,.0f}; "
        f"cost {money(r['cost_exposure_lo'])}–{money(r['cost_exposure_hi'])}. Headcount from {basis}."
    )
    return tiles, line


def risk_ranking_figure(units: pd.DataFrame, k: int, top: int = 25) -> go.Figure:
    """Units ranked by model-estimated intent to leave (mean predicted probability) with 95% intervals.

    `units`: rel_risk rows of one level. Hidden units appear under the ranking as grey rows reading
    "fewer than k" (their position says nothing about their risk)."""
    if units.empty:
        return _empty_figure("No units to rank")
    frame = units.copy()
    frame["unit"] = [_text(unit_label(r)) for _, r in frame.iterrows()]
    hidden = _suppressed(frame) | frame["predicted_itl_rate"].isna()
    shown = frame[~hidden].sort_values("predicted_itl_rate", ascending=False).head(top)
    masked = frame[hidden].sort_values("unit")
    order = [*shown["unit"], *masked["unit"]]
    fig = go.Figure()
    if not shown.empty:
        org = shown["predicted_itl_rate"].astype(float).mean()
        hover = [
            f"{r['unit']}<br>Estimated intent to leave: {_pct(r['predicted_itl_rate'], 1)}"
            f"<br>{_interval(r['predicted_itl_rate_lo'], r['predicted_itl_rate_hi'], lambda v: f'{100 * v:.1f}%')}"
            f"<br>n = {int(r['n']):,} respondents"
            + (
                f"<br>Expected departures (2 yrs): {r['expected_departures']:.1f}"
                if not _missing(r.get("expected_departures"))
                else ""
            )
            for _, r in shown.iterrows()
        ]
        colours = [WORSE if v > org else PROTECTIVE for v in shown["predicted_itl_rate"].astype(float)]
        fig.add_trace(
            go.Scatter(
                x=100 * shown["predicted_itl_rate"].astype(float),
                y=shown["unit"],
                mode="markers",
                name="Estimated intent to leave",
                marker={"color": colours, "size": 11},
                error_x={
                    **_error(
                        shown["predicted_itl_rate"], shown["predicted_itl_rate_lo"], shown["predicted_itl_rate_hi"], 100
                    ),
                    "color": "#555555",
                },
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                showlegend=False,
            )
        )
    if not masked.empty:
        fig.add_trace(
            go.Scatter(
                x=[0] * len(masked),
                y=masked["unit"],
                mode="markers+text",
                marker={"color": SUPPRESSED_GREY, "size": 9, "symbol": "square"},
                text=[f"hidden: fewer than {k} respondents (or protects a smaller group)"] * len(masked),
                textposition="middle right",
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.update_layout(
        title=_ranking_title(shown, int(hidden.sum()), k),
        xaxis={"title": "Estimated share stating intent to leave (%)", "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": order, "autorange": "reversed"},
        height=max(260, 110 + 26 * len(order)),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def _ranking_title(shown: pd.DataFrame, hidden: int, k: int) -> str:
    tail = f" ({hidden} hidden: fewer than {k})" if hidden else ""
    if shown.empty:
        return "No unit can be shown" + tail
    t = shown.iloc[0]
    head = f"Intent to leave is highest in {t['unit']}: {_pct(t['predicted_itl_rate'])}"
    if len(shown) < 2 or _missing(t["predicted_itl_rate_lo"]):
        return head + tail
    others = shown.iloc[1:]
    lower = int((others["predicted_itl_rate_hi"].astype(float) < float(t["predicted_itl_rate_lo"])).sum())
    if lower == len(others):
        verdict = ", clearly above every other unit"
    elif lower == 0:
        verdict = ", but the intervals overlap: no unit clearly stands out"
    else:
        verdict = f", clearly above {lower} of the other {len(others)}"
    return head + verdict + tail


def departures_by_unit_figure(units: pd.DataFrame, k: int, top: int = 10) -> go.Figure:
    """Units ranked by expected two-year departures (headcount x converted risk), with intervals:
    where the most people are expected to leave, which is not always where the rate is highest."""
    frame = units.copy()
    if frame.empty or "expected_departures" not in frame:
        return _empty_figure("No expected departures to show")
    frame["unit"] = [_text(unit_label(r)) for _, r in frame.iterrows()]
    visible = frame[~_suppressed(frame) & frame["expected_departures"].notna()]
    hidden = len(frame) - len(visible)
    shown = visible.sort_values("expected_departures", ascending=False).head(top)
    if shown.empty:
        return _empty_figure(f"Every unit is hidden (fewer than {k} respondents)")
    total = float(visible["expected_departures"].astype(float).sum())
    top3 = shown.head(3)
    share = float(top3["expected_departures"].astype(float).sum()) / total if total else float("nan")
    names = ", ".join(f"{r['unit']} ({r['expected_departures']:.0f})" for _, r in top3.iterrows())
    title = f"Most expected departures: {names}"
    if len(visible) > 3 and not math.isnan(share):
        title += f", {share:.0%} of the shown units' total"
    if hidden:
        title += f" ({hidden} hidden: fewer than {k})"
    hover = [
        f"{r['unit']}<br>Expected departures in 2 years: {r['expected_departures']:.1f}"
        f"<br>{_interval(r.get('expected_departures_lo'), r.get('expected_departures_hi'))}"
        f"<br>Headcount: {_count(r.get('headcount'))} · n = {int(r['n']):,} respondents"
        f"<br>Replacement-cost exposure: {money(r.get('cost_exposure'))}"
        for _, r in shown.iterrows()
    ]
    fig = go.Figure(
        go.Bar(
            x=shown["expected_departures"].astype(float),
            y=shown["unit"],
            orientation="h",
            marker={"color": OKABE_ITO[0]},
            error_x={
                **_error(
                    shown["expected_departures"], shown["expected_departures_lo"], shown["expected_departures_hi"]
                ),
                "color": "#555555",
            },
            text=[money(v) for v in shown.get("cost_exposure", pd.Series([None] * len(shown)))],
            textposition="inside",
            insidetextanchor="start",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis={
            "title": "Expected departures in two years (bar labels: replacement-cost exposure)",
            "rangemode": "tozero",
        },
        yaxis={"categoryorder": "array", "categoryarray": list(shown["unit"]), "autorange": "reversed"},
        height=max(260, 110 + 30 * len(shown)),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        showlegend=False,
    )
    return fig


def risk_table(units: pd.DataFrame, k: int, observed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Readable table under the ranking: estimated ITL, observed and shrunk ITL (rel_metrics 'itl'
    rows, when given), expected departures and cost exposure with intervals."""
    obs = {}
    if observed is not None and not observed.empty:
        for _, r in observed.iterrows():
            obs[unit_label(r)] = r
    rows = []
    for _, r in units.iterrows():
        unit = unit_label(r)
        hidden = bool(_suppressed(units.loc[[_]]).iloc[0]) or _missing(r.get("predicted_itl_rate"))
        o = obs.get(unit)
        rows.append(
            {
                "Unit": unit,
                "Respondents": None if hidden else int(r["n"]),
                "Estimated ITL": f"fewer than {k}" if hidden else _pct(r["predicted_itl_rate"], 1),
                "ITL 95% interval": ""
                if hidden
                else f"{_pct(r['predicted_itl_rate_lo'], 1)} – {_pct(r['predicted_itl_rate_hi'], 1)}",
                "Stated ITL (survey)": "" if o is None or _missing(o.get("value")) else _pct(o["value"], 1),
                "Stated ITL, small-unit adjusted": ""
                if o is None or _missing(o.get("shrunk"))
                else _pct(o["shrunk"], 1),
                "Headcount": None if hidden or _missing(r.get("headcount")) else round(float(r["headcount"])),
                "Expected departures (2 yrs)": None if hidden else round(float(r["expected_departures"]), 1),
                "Departures 95% interval": ""
                if hidden
                else f"{float(r['expected_departures_lo']):.1f} – {float(r['expected_departures_hi']):.1f}",
                "Cost exposure": "" if hidden else money(r.get("cost_exposure")),
                "Cost 95% interval": ""
                if hidden
                else f"{money(r.get('cost_exposure_lo'))} – {money(r.get('cost_exposure_hi'))}",
            }
        )
    return pd.DataFrame(rows)


def departures_by_role_figure(roles: pd.DataFrame, k: int) -> go.Figure:
    """Expected two-year departures (bars, 95% interval) and replacement-cost exposure (text) by role."""
    if roles.empty:
        return _empty_figure("No roles to show")
    frame = roles.copy()
    frame["label"] = [contract.ROLE_LABELS.get(str(r), str(r)) for r in frame["role"]]
    hidden = _suppressed(frame) | frame["expected_departures"].isna()
    shown = frame[~hidden].sort_values("cost_exposure", ascending=False)
    fig = go.Figure()
    if not shown.empty:
        hover = [
            f"{r['label']}: {r['expected_departures']:.1f} expected departures in two years"
            f"<br>{_interval(r['expected_departures_lo'], r['expected_departures_hi'])}"
            f"<br>Replacement-cost exposure {money(r['cost_exposure'])} ({money(r['cost_exposure_lo'])} to {money(r['cost_exposure_hi'])})"
            f"<br>n = {int(r['n']):,} respondents; headcount {float(r['headcount']):,.0f}"
            for _, r in shown.iterrows()
        ]
        fig.add_trace(
            go.Bar(
                x=shown["label"],
                y=shown["expected_departures"].astype(float),
                marker={"color": OKABE_ITO[0]},
                error_y={
                    **_error(
                        shown["expected_departures"], shown["expected_departures_lo"], shown["expected_departures_hi"]
                    ),
                    "color": "#333333",
                },
                text=[money(v) for v in shown["cost_exposure"]],
                texttemplate="%{text}",
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": "white"},
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                name="Expected departures",
            )
        )
    for _, r in frame[hidden].iterrows():
        fig.add_annotation(x=r["label"], y=0, text=f"fewer than {k}", showarrow=False, yshift=10)
    title = "No role can be shown"
    if not shown.empty:
        t = shown.iloc[0]
        total = shown["cost_exposure"].astype(float).sum()
        title = (
            f"{t['label']}s carry the largest replacement-cost exposure: {money(t['cost_exposure'])} "
            f"of {money(total)} over two years"
        )
    fig.update_layout(
        title=title,
        yaxis={"title": "Expected departures in two years", "rangemode": "tozero"},
        xaxis={"title": None, "categoryorder": "array", "categoryarray": [*shown["label"], *frame[hidden]["label"]]},
        height=380,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        showlegend=False,
    )
    return fig


def departures_table(roles: pd.DataFrame, k: int) -> pd.DataFrame:
    rows = []
    for i, r in roles.iterrows():
        hidden = bool(_suppressed(roles.loc[[i]]).iloc[0]) or _missing(r.get("expected_departures"))
        rows.append(
            {
                "Role": contract.ROLE_LABELS.get(str(r["role"]), str(r["role"])),
                "Respondents": None if hidden else int(r["n"]),
                "Headcount": None if hidden else round(float(r["headcount"])),
                "Headcount from": ""
                if hidden
                else ("roster" if r.get("headcount_source") == "roster" else "respondents"),
                "Expected departures (2 yrs)": f"fewer than {k}"
                if hidden
                else f"{float(r['expected_departures']):.1f}",
                "Departures 95% interval": ""
                if hidden
                else f"{float(r['expected_departures_lo']):.1f} – {float(r['expected_departures_hi']):.1f}",
                "Replacement-cost exposure": "" if hidden else money(r["cost_exposure"]),
                "Cost 95% interval": ""
                if hidden
                else f"{money(r['cost_exposure_lo'])} – {money(r['cost_exposure_hi'])}",
            }
        )
    return pd.DataFrame(rows)


def model_quality_summary(diag: pd.Series | dict) -> dict[str, str]:
    """Headline numbers of the model's cross-validated quality, as strings for metric tiles."""

    def num(key: str, fmt: str) -> str:
        v = diag.get(key)
        return "–" if _missing(v) else format(float(v), fmt)

    return {
        "AUROC (cross-validated)": num("auroc", ".2f"),
        "Observed / expected": num("observed_expected", ".2f"),
        "Calibration slope": num("calibration_slope", ".2f"),
        "Respondents in the model": "–" if _missing(diag.get("n_fit")) else f"{int(diag['n_fit']):,}",
    }


def calibration_figure(curve: pd.DataFrame | str | list) -> go.Figure:
    """Predicted vs observed intent to leave by tenth of predicted risk (cross-validated)."""
    if isinstance(curve, str):
        curve = json.loads(curve or "[]")
    if isinstance(curve, list):
        curve = pd.DataFrame(curve)
    if curve is None or curve.empty:
        return _empty_figure("Not enough respondents for a calibration curve")
    c = curve.copy()
    x, y = 100 * c["mean_predicted"].astype(float), 100 * c["observed"].astype(float)
    n = c["n"].astype(float)
    p = c["observed"].astype(float)
    # binomial 95% interval of the observed share in each bin (display aid only)
    se = np.sqrt(p * (1 - p) / n.clip(lower=1)) * 100 * 1.96
    top = float(max(x.max(), (y + se).max())) * 1.08
    gap = float((y - x).abs().max())
    title = (
        "Predicted and stated intent to leave agree across the risk range"
        if gap <= 5
        else f"Predictions stray from what people said by up to {gap:.0f} points in some risk groups"
    )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, top],
            y=[0, top],
            mode="lines",
            line={"color": "#888888", "dash": "dash"},
            name="Perfect calibration",
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="markers+lines",
            marker={"color": OKABE_ITO[0], "size": 9},
            line={"color": OKABE_ITO[0]},
            error_y={"type": "data", "array": se.tolist(), "color": OKABE_ITO[0], "thickness": 1},
            customdata=np.column_stack([n, (y - se).clip(lower=0), y + se]),
            hovertemplate="Predicted %{x:.1f}%, stated %{y:.1f}%<br>n = %{customdata[0]:,.0f}; 95% interval "
            "%{customdata[1]:.1f}–%{customdata[2]:.1f}%<extra></extra>",
            name="Tenths of predicted risk",
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "Predicted intent to leave (%)", "range": [0, top]},
        yaxis={"title": "Stated intent to leave (%)", "range": [0, top]},
        height=380,
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


# ------------------------------------------------------------------------------------------
# Drivers
# ------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------
# Retention options (scenarios)
# ------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------
# Intentions and reasons
# ------------------------------------------------------------------------------------------
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
