"""Words for how far to trust the departure forecast: its intervals, last wave's model checked on
this wave (drift), and the forecast checked against actual turnover. Released rows in, sentences out;
no Streamlit, no SQL, no statistics."""

from __future__ import annotations

from typing import Any

from pipelines.charts.formats import is_missing, money, percent


def intervals_sentence(row: Any) -> str:
    """Expected departures with both intervals: the full one (sampling and the conversion rates'
    uncertainty) and sampling alone, so a reader sees which dominates."""
    if row is None or is_missing(row.get("expected_departures")):
        return ""
    text = (
        f"Expected departures within two years: {float(row['expected_departures']):,.0f} "
        f"(95% interval {float(row['expected_departures_lo']):,.0f}–{float(row['expected_departures_hi']):,.0f}, "
        "which carries both sampling and the uncertainty of the published conversion rates P(leave | ITL) and "
        "P(leave | no ITL))"
    )
    lo, hi = row.get("expected_departures_sampling_lo"), row.get("expected_departures_sampling_hi")
    if not is_missing(lo) and not is_missing(hi):
        text += f"; with the conversion rates held fixed it would be {float(lo):,.0f}–{float(hi):,.0f}"
    if not is_missing(row.get("cost_exposure")):
        text += (
            f". Replacement-cost exposure {money(row['cost_exposure'])} "
            f"({money(row['cost_exposure_lo'])}–{money(row['cost_exposure_hi'])})"
        )
    return text + "."


def _fmt(v: Any) -> str:
    return "n/a" if is_missing(v) else f"{float(v):.2f}"


def drift_sentence(diag: dict[str, Any] | None) -> tuple[str, bool]:
    """(sentence, drifted): last wave's model scored on this wave. Empty when there is no previous wave."""
    if not diag or is_missing(diag.get("previous_wave")):
        return "", False
    drifted = bool(diag.get("drift")) if not is_missing(diag.get("drift")) else False
    text = (
        f"Previous-wave check: the model fitted on {diag['previous_wave']} scored on wave {diag['wave']} has "
        f"AUROC {_fmt(diag.get('previous_auroc'))}, observed/expected {_fmt(diag.get('previous_observed_expected'))} "
        f"and calibration slope {_fmt(diag.get('previous_calibration_slope'))}. "
    )
    if drifted:
        text += str(diag.get("drift_warning") or "It has drifted: last wave's model no longer fits this wave.")
    else:
        text += "No drift: last wave's model still fits this wave."
    return text, drifted


def quality_sentence(diag: dict[str, Any] | None) -> str:
    """This wave's cross-validated quality in one line."""
    if not diag:
        return ""
    return (
        f"Cross-validated on wave {diag['wave']}: AUROC {_fmt(diag.get('auroc'))}, observed/expected "
        f"{_fmt(diag.get('observed_expected'))}, calibration slope {_fmt(diag.get('calibration_slope'))}. "
        f"{diag.get('verdict') or ''}"
    ).strip()


def turnover_summary(row: Any, period: str) -> str:
    """The scope's forecast against its actual leavers in one period (row of rel_turnover_check)."""
    if row is None or is_missing(row.get("leave_rate_oe")):
        return ""
    return (
        f"{period}: {int(row['leave_rate_leavers']):,} of {int(row['n']):,} people left ({percent(row['leave_rate'], 1)}) "
        f"against {float(row['expected_departures']):,.0f} forecast from the {row['forecast_wave']} survey "
        f"(95% range for the count {float(row['predicted_leavers_lo']):,.0f}–{float(row['predicted_leavers_hi']):,.0f}); "
        f"actual ÷ forecast {float(row['leave_rate_oe']):.2f} ({float(row['leave_rate_oe_lo']):.2f}–"
        f"{float(row['leave_rate_oe_hi']):.2f}): {row['leave_rate_check']}."
    )
