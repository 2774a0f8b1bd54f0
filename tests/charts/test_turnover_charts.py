"""pipelines.charts.turnover and the scenario option cards: released rows in, words and figures out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines import charts
from pipelines.charts.svg import to_svg


def check_rows() -> pd.DataFrame:
    """Four departments of one period: one over forecast, one within, one with its rate in a band
    (leavers hidden), one hidden unit."""
    base = {"wave": "2025", "site": "North", "role": None, "level": "department", "forecast_wave": "2025",
            "predicted_itl_rate": 0.3, "unit_prediction_share": 1.0, "leave_rate_display": None, "display": ""}  # fmt: skip
    rows = [
        {**base, "department": "ED", "n": 90, "suppressed": False, "expected_departures": 12.0,
         "expected_departures_lo": 7.0, "expected_departures_hi": 18.0, "predicted_leavers_lo": 5.0,
         "predicted_leavers_hi": 21.0, "leave_rate": 30 / 90, "leave_rate_leavers": 30, "leave_rate_oe": 2.5,
         "leave_rate_oe_lo": 1.7, "leave_rate_oe_hi": 3.6, "leave_rate_check": "more leavers than forecast"},
        {**base, "department": "ICU", "n": 60, "suppressed": False, "expected_departures": 8.0,
         "expected_departures_lo": 5.0, "expected_departures_hi": 12.0, "predicted_leavers_lo": 3.0,
         "predicted_leavers_hi": 14.0, "leave_rate": 7 / 60, "leave_rate_leavers": 7, "leave_rate_oe": 0.875,
         "leave_rate_oe_lo": 0.35, "leave_rate_oe_hi": 1.8, "leave_rate_check": "within forecast"},
        {**base, "department": "Lab", "n": 7, "suppressed": False, "expected_departures": 1.0,
         "expected_departures_lo": 0.5, "expected_departures_hi": 1.6, "predicted_leavers_lo": 0.0,
         "predicted_leavers_hi": 3.0, "leave_rate": np.nan, "leave_rate_leavers": pd.NA, "leave_rate_oe": np.nan,
         "leave_rate_oe_lo": np.nan, "leave_rate_oe_hi": np.nan, "leave_rate_check": None,
         "leave_rate_display": "≤15%"},
        {**base, "department": "Pharmacy", "n": pd.NA, "suppressed": True, "expected_departures": np.nan,
         "expected_departures_lo": np.nan, "expected_departures_hi": np.nan, "predicted_leavers_lo": np.nan,
         "predicted_leavers_hi": np.nan, "leave_rate": np.nan, "leave_rate_leavers": pd.NA, "leave_rate_oe": np.nan,
         "leave_rate_oe_lo": np.nan, "leave_rate_oe_hi": np.nan, "leave_rate_check": None,
         "display": "hidden to protect confidentiality"},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_the_check_figure_names_the_unit_over_forecast_and_draws_hidden_units_as_words():
    fig = charts.turnover_check_figure(check_rows(), k=5)
    title = fig.layout.title.text
    assert "Within the forecast in 1 of 2 units" in title and "ED" in title and "(2 hidden)" in title
    dots = fig.data[0]
    assert list(dots.y) == ["North · ED", "North · ICU"]  # flagged first
    assert list(dots.x) == [2.5, 0.875]
    grey = fig.data[-1]
    assert sorted(grey.y) == ["North · Lab", "North · Pharmacy"] and set(grey.x) == {0}
    svg = to_svg(fig)
    assert svg is not None and "North · Lab" in svg


def test_the_check_table_never_shows_hidden_leavers():
    table = charts.turnover_check_table(check_rows(), k=5).set_index("Unit")
    assert table.loc["North · ED", "Actual leavers"] == 30 and table.loc["North · ED", "Actual ÷ forecast"] == "2.50"
    assert pd.isna(table.loc["North · Lab", "Actual leavers"]) and table.loc["North · Lab", "Leaving rate"] == "≤15%"
    assert table.loc["North · Lab", "Actual ÷ forecast"] == "" and table.loc["North · Lab", "Check"] == ""
    assert table.loc["North · Pharmacy", "Leaving rate"] == "fewer than 5"
    assert pd.isna(table.loc["North · Pharmacy", "People at start"])


def test_the_headline_says_whether_the_forecast_held():
    rows = check_rows().iloc[[0]]
    tiles, line = charts.turnover_headline(rows, "2025")
    assert [t.value for t in tiles] == ["30", "12", "2.50"]
    assert "more leavers than forecast" in line and "30 people left against 12 forecast" in line
    assert charts.turnover_headline(check_rows().iloc[[2]], "2025") == ([], "")  # a band: no leavers quoted
    assert charts.turnover_headline(rows, "2024") == ([], "")


def conversion_row(post_a: float, post_b: float) -> pd.Series:
    return pd.Series({
        "n": 10_000, "periods": "2024, 2025", "posterior_correlation": -0.9,
        "p_leave_itl_prior": 0.25, "p_leave_itl_prior_lo": 0.14, "p_leave_itl_prior_hi": 0.38,
        "p_leave_itl_posterior": post_a, "p_leave_itl_posterior_lo": post_a - 0.04,
        "p_leave_itl_posterior_hi": post_a + 0.04, "p_leave_itl_moved": post_a - 0.25,
        "p_leave_no_itl_prior": 0.08, "p_leave_no_itl_prior_lo": 0.02, "p_leave_no_itl_prior_hi": 0.17,
        "p_leave_no_itl_posterior": post_b, "p_leave_no_itl_posterior_lo": post_b - 0.02,
        "p_leave_no_itl_posterior_hi": post_b + 0.02, "p_leave_no_itl_moved": post_b - 0.08,
    })  # fmt: skip


def test_the_conversion_sentence_says_which_way_each_rate_moved():
    text = charts.conversion_sentence(conversion_row(0.19, 0.11))
    assert "P(leave | intent to leave) moved down from the published 25% to 19%" in text
    assert "P(leave | no intent to leave) moved up from the published 8% to 11%" in text
    assert "move together" in text
    assert "barely moved" in charts.conversion_sentence(conversion_row(0.252, 0.081))
    table = charts.conversion_table(conversion_row(0.19, 0.11))
    assert list(table["Moved"]) == ["-6.0 pts", "+3.0 pts"]


def option_results(**over) -> pd.DataFrame:
    row = {"lever": "dropped_call", "label": "Drop night call", "suppressed": False, "departures_avoided": 5.0,
           "departures_avoided_lo": 2.0, "departures_avoided_hi": 8.0, "cost_avoided": 2_500_000.0,
           "programme_cost": 8_000_000.0, "net": -5_500_000.0, "net_lo": -7_500_000.0, "net_hi": -4_000_000.0,
           "break_even_cost_per_person": 6_250.0, "break_even_cost_per_person_lo": 2_500.0,
           "break_even_cost_per_person_hi": 10_000.0, "notes": ""}  # fmt: skip
    return pd.DataFrame([{**row, **over}])


def test_an_option_card_gives_net_interval_and_both_break_evens():
    levers = [{"key": "dropped_call", "params": {"cost_per_person": 20_000.0}}]
    (card,) = charts.option_cards(option_results(), levers)
    assert card.net == "-$5.5M" and card.net_interval == "95% interval -$7.5M to -$4.0M"
    assert card.verdict == "loses"
    # each kept clinician saves 2.5M / 5 = $500k; 8M / 500k = 16 clinicians to break even
    assert card.break_even[0].startswith("Pays for itself if it keeps ≥ 16 clinicians")
    assert "Departures avoided: 5.0 (2.0 to 8.0)" in card.break_even[0]
    assert "$6.2k per eligible person a year" in card.break_even[1] and "entered: $20k" in card.break_even[1]


def test_an_option_that_avoids_no_departures_never_breaks_even():
    (card,) = charts.option_cards(option_results(departures_avoided=-3.0, cost_avoided=-600_000.0, net_hi=-1.0))
    assert card.break_even == [card.break_even[0]] and "No programme cost breaks even" in card.break_even[0]
    (paying,) = charts.option_cards(option_results(net=2e6, net_lo=1e6, net_hi=3e6))
    assert paying.verdict == "pays"
    (hidden,) = charts.option_cards(option_results(suppressed=True))
    assert hidden.verdict == "hidden" and hidden.net == "hidden"
