"""The forecast checked against actual turnover: figures and tables for the Attrition-risk page and
the exports.

Rows come from the released tables `rel_turnover_check` (predicted vs actual leavers per unit and
period) and `rel_turnover_conversion` (P(leave | ITL) and P(leave | no ITL) learnt from the
organisation's own history; pipelines/models/turnover.py). No Streamlit, no SQL, no statistics: a
hidden unit, or a unit whose leaving rate is shown only as a band, carries no leaver figure, so
nothing here can reveal one; such units are drawn as labelled grey rows.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from pipelines.charts.formats import NEUTRAL, PROTECTIVE, SUPPRESSED_GREY, WORSE, Tile, unit_label
from pipelines.charts.formats import empty_figure as _empty_figure
from pipelines.charts.formats import is_missing as _missing
from pipelines.charts.formats import percent as _pct
from pipelines.charts.formats import plot_text as _text
from pipelines.charts.formats import suppressed as _suppressed

__all__ = [
    "TURNOVER_EMPTY",
    "conversion_figure",
    "conversion_sentence",
    "conversion_table",
    "turnover_check_figure",
    "turnover_check_table",
    "turnover_headline",
    "turnover_periods_table",
]

ABOVE, BELOW, WITHIN = "more leavers than forecast", "fewer leavers than forecast", "within forecast"
CHECK_COLOURS = {ABOVE: WORSE, BELOW: PROTECTIVE, WITHIN: NEUTRAL}
TURNOVER_EMPTY = (
    "No actual turnover has been uploaded, so the departure forecast has not been checked against real "
    "leavers yet. Prepare one row per unit and period (site, department, role, period, headcount at start, "
    "leavers; docs/turnover.md) and load it on the Uploads & waves page (Actual turnover), or from the "
    "command line with `python -m pipelines ingest-turnover separations.csv`; the forecast is then compared "
    "with it."
)


def _gone(row: pd.Series) -> bool:
    """A hidden unit (a missing flag counts as hidden): nothing of it is shown."""
    flag = row.get("suppressed", False)
    return True if _missing(flag) else bool(flag) or _missing(row.get("n"))


def _hidden(row: pd.Series) -> bool:
    """A row whose leavers are not shown: hidden unit, or a rate shown only as a band."""
    return _gone(row) or _missing(row.get("leave_rate_oe"))


def _num(v: object, digits: int = 0) -> str:
    return "–" if _missing(v) else f"{float(v):,.{digits}f}"


def _verdict(row: pd.Series) -> str:
    check = row.get("leave_rate_check")
    return "" if _missing(check) else str(check)


def turnover_headline(rows: pd.DataFrame, period: str) -> tuple[list[Tile], str]:
    """Tiles (actual leavers, forecast, observed/expected) for the selected group in one period and a
    sentence saying whether the forecast held. Nothing when the group's leavers are hidden."""
    rows = rows[rows["wave"].astype(str) == str(period)] if not rows.empty else rows
    if rows.empty:
        return [], ""
    r = rows.iloc[0]
    if _hidden(r):
        return [], ""
    o, e = float(r["leave_rate_leavers"]), float(r["expected_departures"])
    oe, lo, hi = float(r["leave_rate_oe"]), float(r["leave_rate_oe_lo"]), float(r["leave_rate_oe_hi"])
    tiles = [
        Tile(
            f"Actual leavers, {period}",
            f"{o:,.0f}",
            help=f"Leavers HR reported for {period}, of {int(r['n']):,} people at the start "
            f"({_pct(r['leave_rate'], 1)} left).",
        ),
        Tile(
            "Forecast leavers",
            f"{e:,.0f}",
            help=f"What the {r['forecast_wave']} survey forecast: headcount × converted intent to leave. "
            f"95% prediction interval for the realised count {_num(r['predicted_leavers_lo'])} to "
            f"{_num(r['predicted_leavers_hi'])} (conversion rates' uncertainty and chance).",
        ),
        Tile(
            "Actual ÷ forecast",
            f"{oe:.2f}",
            help=f"Observed / expected; 95% interval {lo:.2f} to {hi:.2f} (Byar, Poisson). 1 = the forecast "
            "was right; above 1 = more people left than forecast.",
        ),
    ]
    verdict = _verdict(r)
    if verdict == WITHIN:
        line = (
            f"{o:,.0f} people left against {e:,.0f} forecast from the {r['forecast_wave']} survey: within the "
            f"forecast's 95% range ({_num(r['predicted_leavers_lo'])}–{_num(r['predicted_leavers_hi'])})."
        )
    else:
        line = (
            f"{o:,.0f} people left against {e:,.0f} forecast from the {r['forecast_wave']} survey: {verdict} "
            f"(95% range {_num(r['predicted_leavers_lo'])}–{_num(r['predicted_leavers_hi'])})."
        )
    return tiles, line


def turnover_check_figure(units: pd.DataFrame, k: int, top: int = 25) -> go.Figure:
    """Actual ÷ forecast leavers per unit (dots, Byar 95% interval) against the line at 1.

    Dots are coloured by the check against the prediction interval (more / fewer leavers than
    forecast, or within); units whose leavers are hidden are listed as grey rows."""
    if units.empty:
        return _empty_figure("No units to compare")
    frame = units.copy()
    frame["unit"] = [_text(unit_label(r)) for _, r in frame.iterrows()]
    hidden = pd.Series([_hidden(r) for _, r in frame.iterrows()], index=frame.index) | _suppressed(frame)
    shown = frame[~hidden].copy()
    shown["_away"] = (shown["leave_rate_oe"].astype(float) - 1).abs()
    shown["_flagged"] = shown["leave_rate_check"].astype(object) != WITHIN
    visible = shown
    shown = shown.sort_values(["_flagged", "leave_rate_oe"], ascending=[False, False]).head(top)
    masked = frame[hidden].sort_values("unit")
    order = [*shown["unit"], *masked["unit"]]
    fig = go.Figure()
    if not shown.empty:
        hover = [
            f"{r['unit']} ({r['wave']})<br>Actual leavers {int(r['leave_rate_leavers']):,} of {int(r['n']):,} "
            f"({_pct(r['leave_rate'], 1)})<br>Forecast {float(r['expected_departures']):.1f} "
            f"(95% range for the count {_num(r['predicted_leavers_lo'])}–{_num(r['predicted_leavers_hi'])})"
            f"<br>Actual ÷ forecast {float(r['leave_rate_oe']):.2f} "
            f"(95% interval {float(r['leave_rate_oe_lo']):.2f}–{float(r['leave_rate_oe_hi']):.2f})"
            f"<br>{_verdict(r)}"
            for _, r in shown.iterrows()
        ]
        colours = [CHECK_COLOURS.get(_verdict(r), NEUTRAL) for _, r in shown.iterrows()]
        oe = shown["leave_rate_oe"].astype(float)
        fig.add_trace(
            go.Scatter(
                x=oe,
                y=shown["unit"],
                mode="markers",
                marker={"color": colours, "size": 11},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (shown["leave_rate_oe_hi"].astype(float) - oe).clip(lower=0).tolist(),
                    "arrayminus": (oe - shown["leave_rate_oe_lo"].astype(float)).clip(lower=0).tolist(),
                    "color": "#555555",
                    "thickness": 1.5,
                    "width": 4,
                },
                customdata=hover,
                hovertemplate="%{customdata}<extra></extra>",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[1.0, 1.0],
                y=[order[0], order[-1]],
                mode="lines",
                line={"color": "#888888", "dash": "dash", "width": 1.5},
                hoverinfo="skip",
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
                text=[f"hidden: fewer than {k} people, or too few to show who left"] * len(masked),
                textposition="middle right",
                hoverinfo="skip",
                showlegend=False,
            )
        )
    hi = float(shown["leave_rate_oe_hi"].astype(float).max()) if not shown.empty else 2.0
    fig.update_layout(
        title=_check_title(visible, int(hidden.sum()), k),
        xaxis={"title": "Actual ÷ forecast leavers (1 = as forecast; dashed line)", "range": [0, max(2.0, hi * 1.05)]},
        yaxis={"categoryorder": "array", "categoryarray": order, "autorange": "reversed"},
        height=max(260, 110 + 26 * len(order)),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def _check_title(shown: pd.DataFrame, hidden: int, k: int) -> str:
    tail = f" ({hidden} hidden)" if hidden else ""
    if shown.empty:
        return "No unit's leavers can be shown" + tail
    verdicts = shown["leave_rate_check"].astype(object)
    above = shown[verdicts == ABOVE]
    below = shown[verdicts == BELOW]
    n = len(shown)
    if above.empty and below.empty:
        return f"Actual leavers were within the forecast's range in all {n} units" + tail
    parts = []
    if not above.empty:
        names = ", ".join(above["unit"].head(2))
        parts.append(f"more left than forecast in {len(above)} ({names}{'…' if len(above) > 2 else ''})")
    if not below.empty:
        parts.append(f"fewer in {len(below)}")
    return f"Within the forecast in {n - len(above) - len(below)} of {n} units; " + ", ".join(parts) + tail


def turnover_check_table(units: pd.DataFrame, k: int) -> pd.DataFrame:
    """The comparison as a readable table (every unit and period given)."""
    rows = []
    for _, r in units.iterrows():
        gone = _gone(r)
        hidden = gone or _hidden(r)
        rows.append(
            {
                "Period": str(r["wave"]),
                "Unit": unit_label(r),
                "People at start": None if gone else int(r["n"]),
                "Forecast leavers": None if gone else round(float(r["expected_departures"]), 1),
                "Forecast 95% range (count)": ""
                if gone
                else f"{_num(r['predicted_leavers_lo'])} – {_num(r['predicted_leavers_hi'])}",
                "Actual leavers": None if hidden else int(r["leave_rate_leavers"]),
                "Leaving rate": f"fewer than {k}"
                if gone
                else (str(r.get("leave_rate_display") or "hidden") if hidden else _pct(r["leave_rate"], 1)),
                "Actual ÷ forecast": "" if hidden else f"{float(r['leave_rate_oe']):.2f}",
                "95% interval": ""
                if hidden
                else f"{float(r['leave_rate_oe_lo']):.2f} – {float(r['leave_rate_oe_hi']):.2f}",
                "Check": "" if hidden else _verdict(r),
            }
        )
    return pd.DataFrame(rows)


def turnover_periods_table(rows: pd.DataFrame, k: int) -> pd.DataFrame:
    """The selected group's check in every period (oldest first)."""
    return turnover_check_table(rows.sort_values("wave"), k).drop(columns="Unit")


# ------------------------------------------------------------------------------------------------
# The conversion rates learnt from the organisation's own turnover
# ------------------------------------------------------------------------------------------------
_RATES = (("p_leave_itl", "P(leave | intent to leave)"), ("p_leave_no_itl", "P(leave | no intent to leave)"))


def conversion_sentence(row: pd.Series | dict | None) -> str:
    """How far the organisation's own turnover moved the published conversion rates, in words."""
    if row is None:
        return ""
    parts = []
    for key, label in _RATES:
        prior, post = float(row[f"{key}_prior"]), float(row[f"{key}_posterior"])
        lo, hi = float(row[f"{key}_posterior_lo"]), float(row[f"{key}_posterior_hi"])
        move = "barely moved" if abs(post - prior) < 0.01 else ("down" if post < prior else "up")
        parts.append(
            f"{label} {move if move == 'barely moved' else 'moved ' + move} from the published {_pct(prior)} to "
            f"{_pct(post)} (95% interval {_pct(lo)}–{_pct(hi)})"
        )
    text = f"Your own turnover ({int(row['n']):,} person-periods, {row['periods']}): " + "; ".join(parts) + "."
    corr = row.get("posterior_correlation")
    if not _missing(corr) and float(corr) < -0.7:
        text += (
            " The two move together: the leavers pin down the overall leaving rate better than how it "
            "splits between people with and without stated intent."
        )
    return text


def conversion_figure(row: pd.Series | dict | None) -> go.Figure:
    """Published prior and learnt posterior of both conversion rates, with 95% intervals."""
    if row is None:
        return _empty_figure("No conversion rates learnt yet")
    fig = go.Figure()
    for kind, colour, symbol, name in (
        ("prior", "#888888", "square", "Published (Hamidi et al. 2018)"),
        ("posterior", PROTECTIVE, "circle", "Learnt from your turnover"),
    ):
        labels = [label for _, label in _RATES]
        vals = [100 * float(row[f"{key}_{kind}"]) for key, _ in _RATES]
        los = [100 * float(row[f"{key}_{kind}_lo"]) for key, _ in _RATES]
        his = [100 * float(row[f"{key}_{kind}_hi"]) for key, _ in _RATES]
        fig.add_trace(
            go.Scatter(
                x=vals,
                y=[f"{label} · {'published' if kind == 'prior' else 'yours'}" for label in labels],
                mode="markers",
                name=name,
                marker={"color": colour, "size": 11, "symbol": symbol},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [h - v for v, h in zip(vals, his, strict=True)],
                    "arrayminus": [v - lo for v, lo in zip(vals, los, strict=True)],
                    "color": colour,
                    "thickness": 1.5,
                    "width": 4,
                },
                customdata=[
                    f"{v:.1f}% (95% interval {lo:.1f}–{h:.1f}%)" for v, lo, h in zip(vals, los, his, strict=True)
                ],
                hovertemplate="%{y}: %{customdata}<extra></extra>",
            )
        )
    order = [f"{label} · {kind}" for _, label in _RATES for kind in ("published", "yours")]
    a0, a1 = float(row["p_leave_itl_prior"]), float(row["p_leave_itl_posterior"])
    b0, b1 = float(row["p_leave_no_itl_prior"]), float(row["p_leave_no_itl_posterior"])
    fig.update_layout(
        title=f"Your turnover moved P(leave | ITL) {_pct(a0)} → {_pct(a1)} and P(leave | no ITL) {_pct(b0)} → {_pct(b1)}",
        xaxis={"title": "Share who leave within two years (%)", "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": order, "autorange": "reversed"},
        height=300,
        legend={"orientation": "h", "y": -0.3},
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
    )
    return fig


def conversion_table(row: pd.Series | dict | None) -> pd.DataFrame:
    """Prior and posterior of both conversion rates as a readable table."""
    if row is None:
        return pd.DataFrame(
            columns=["Rate", "Published", "Published 95% interval", "Yours", "Your 95% interval", "Moved"]
        )
    out = []
    for key, label in _RATES:
        out.append(
            {
                "Rate": label,
                "Published": _pct(row[f"{key}_prior"], 1),
                "Published 95% interval": f"{_pct(row[f'{key}_prior_lo'], 1)} – {_pct(row[f'{key}_prior_hi'], 1)}",
                "Yours": _pct(row[f"{key}_posterior"], 1),
                "Your 95% interval": f"{_pct(row[f'{key}_posterior_lo'], 1)} – {_pct(row[f'{key}_posterior_hi'], 1)}",
                "Moved": f"{100 * float(row[f'{key}_moved']):+.1f} pts",
            }
        )
    return pd.DataFrame(out)
