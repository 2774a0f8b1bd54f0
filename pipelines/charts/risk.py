"""The Attrition-risk page's figures: risk headline, unit ranking, expected departures and cost,
model quality.

No Streamlit, no SQL, no statistics: every number was computed and released by the pipeline. Titles
state the finding; hover carries n and the 95% interval; colours are Okabe-Ito. Suppressed rows carry
no value, so nothing here can reveal one: they are drawn as labelled grey rows, never as numbers.
Intent to leave is always called a stated intention, never people who will leave.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from pipelines import contract
from pipelines.charts.formats import OKABE_ITO, PROTECTIVE, SUPPRESSED_GREY, WORSE, Tile, money, unit_label
from pipelines.charts.formats import count as _count
from pipelines.charts.formats import empty_figure as _empty_figure
from pipelines.charts.formats import interval as _interval
from pipelines.charts.formats import is_missing as _missing
from pipelines.charts.formats import model_error_bars as _error
from pipelines.charts.formats import percent as _pct
from pipelines.charts.formats import plot_text as _text
from pipelines.charts.formats import suppressed as _suppressed

__all__ = [
    "calibration_figure",
    "departures_by_role_figure",
    "departures_by_unit_figure",
    "departures_table",
    "model_quality_summary",
    "risk_headline",
    "risk_ranking_figure",
    "risk_table",
]


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
    cost_hidden = _missing(r.get("cost_exposure"))  # hidden: with role costs it would separate hidden groups
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
            "hidden" if cost_hidden else money(r["cost_exposure"]),
            help="Hidden to protect confidentiality: with each role's replacement cost it would separate the "
            "smaller groups hidden inside this one."
            if cost_hidden
            else f"Expected departures × replacement cost of each role (editable in Settings); {cost_ci}.",
        ),
    ]
    line = (
        f"95% intervals: intent to leave {_pct(r['predicted_itl_rate_lo'], 1)}–{_pct(r['predicted_itl_rate_hi'], 1)}; "
        f"departures {float(r['expected_departures_lo']):,.0f}–{float(r['expected_departures_hi']):,.0f}"
        + ("" if cost_hidden else f"; cost {money(r['cost_exposure_lo'])}–{money(r['cost_exposure_hi'])}")
        + f". Headcount from {basis}."
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
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    ends = _label_positions(shown["expected_departures"], shown["expected_departures_hi"])
    costs = shown["cost_exposure"] if "cost_exposure" in shown else pd.Series([None] * len(shown), index=shown.index)
    _add_labels(fig, x=ends, y=shown["unit"], text=[money(v) for v in costs], position="middle right")
    fig.update_layout(
        title=title,
        xaxis={
            "title": "Expected departures in two years (labels: replacement-cost exposure)",
            "range": [0, 1.28 * max(ends) if len(ends) and max(ends) > 0 else 1],
        },
        yaxis={"categoryorder": "array", "categoryarray": list(shown["unit"]), "autorange": "reversed"},
        height=max(260, 110 + 30 * len(shown)),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        showlegend=False,
    )
    return fig


LABEL_COLOUR = "#1F2933"  # the app theme's text colour (.streamlit/config.toml): labels read solid, not faded


def _label_positions(values: pd.Series, upper: pd.Series) -> list[float]:
    """Where a bar's label goes: past the end of its 95% interval (or the bar, without one), so the
    label never sits on the bar, the whisker or a neighbour's label."""
    v = values.astype("float64")
    return [float(x) for x in np.fmax(v, upper.astype("float64")).fillna(v).fillna(0.0)]


def _add_labels(fig: go.Figure, *, x, y, text: list[str], position: str) -> None:
    """Bar labels as a text trace beside the bars (solid text in the theme's colour, no hover)."""
    fig.add_trace(
        go.Scatter(
            x=list(x),
            y=list(y),
            mode="text",
            text=[f" {t}" if position.endswith("right") else t for t in text],
            textposition=position,
            textfont={"color": LABEL_COLOUR, "size": 12},
            hoverinfo="skip",
            showlegend=False,
        )
    )


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
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                name="Expected departures",
            )
        )
        ends = _label_positions(shown["expected_departures"], shown["expected_departures_hi"])
        _add_labels(
            fig, x=shown["label"], y=ends, text=[money(v) for v in shown["cost_exposure"]], position="top center"
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
        yaxis={
            "title": "Expected departures in two years",
            "range": [0, 1.15 * max(ends) if not shown.empty and max(ends) > 0 else 1],
        },
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
