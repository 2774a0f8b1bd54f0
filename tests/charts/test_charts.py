"""Figure builders in pipelines.charts: titles state the finding, hover carries n and the
interval, hidden cells stay hidden, colours are colour-blind safe. Real released rows from a
warehouse built on the sample, plus small hand-made frames for the edge cases."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines import charts
from pipelines.ingest.first_run import load_sample


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    db = tmp_path_factory.mktemp("charts") / "warehouse.duckdb"
    load_sample(db)
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "metrics": con.execute("select * from rel_metrics").df(),
            "groups": con.execute("select * from rel_groups").df(),
            "benchmarks": con.execute("select * from ref_benchmarks").df(),
        }


def org(frame: pd.DataFrame, wave: str = "2026") -> pd.DataFrame:
    return frame[(frame["level"] == "organisation") & (frame["wave"] == wave)]


def trace_text(fig) -> str:
    return " ".join(
        str(t) for trace in fig.data for t in np.ravel(trace.customdata if trace.customdata is not None else [])
    )


def test_tiles_report_change_and_never_call_itl_leavers(released):
    tiles = charts.tiles(org(released["metrics"]), org(released["groups"]), 5)
    assert [t.label for t in tiles] == ["Respondents", "Response rate", "Burnout", "Intend to leave (2 yrs)"]
    itl = tiles[-1]
    assert itl.value.endswith("%") and itl.delta
    assert "not the number of people who will leave" in itl.help
    assert "n = " in itl.help and "95% interval" in itl.help


def test_heatmap_hides_suppressed_cells_and_titles_the_worst_unit(released):
    m = released["metrics"]
    units = m[(m["level"] == "department_role") & (m["wave"] == "2026") & (m["site"] == "Eastgate Clinics")]
    assert units["suppressed"].any()
    fig = charts.heatmap_figure(units, 5)
    assert fig.layout.title.text.startswith("Burnout is highest in")
    assert "hidden (fewer than 5)" in fig.layout.title.text or "unit(s) hidden" in fig.layout.title.text
    values = fig.data[1]
    texts = [t for row in values.text for t in row]
    assert "fewer than 5" in texts
    hover = trace_text(fig)
    assert "n = " in hover and "95% interval" in hover
    # a hidden cell has no colour value at all
    hidden = [(i, j) for i, row in enumerate(values.text) for j, t in enumerate(row) if t == "fewer than 5"]
    assert all(values.z[i][j] is None for i, j in hidden)


def test_unit_names_cannot_inject_plotly_html():
    frame = pd.DataFrame(
        {
            "wave": ["2026"], "site": ["<a href='http://x'>Evil</a>"], "department": [None], "role": [None],
            "level": ["site"], "n": [50], "suppressed": [False], "metric": ["burnout"], "stat": ["rate"],
            "answered": [50], "value": [0.4], "lo": [0.3], "hi": [0.5], "shrunk": [0.4], "change": [np.nan],
            "change_lo": [np.nan], "change_hi": [np.nan], "exceeds_noise": [pd.NA], "display": ["40.0%"],
        }
    )  # fmt: skip
    fig = charts.heatmap_figure(frame, 5)
    assert "<a href" not in str(fig.data[1].y) and "&lt;a href" in str(fig.data[1].y)


def test_benchmarks_compare_with_sources(released):
    table = charts.benchmark_table(org(released["metrics"]), released["benchmarks"], None)
    assert {"burnout", "itl"} <= set(table["metric"])
    assert table["source"].str.len().gt(10).all()
    fig = charts.benchmark_figure(table, "The whole organisation")
    assert "Burnout" in fig.layout.title.text and "%" in fig.layout.title.text
    assert fig.data[0].marker.color == charts.OKABE_ITO[0]
    assert "n = " in fig.data[0].hovertemplate and "95% interval" in fig.data[0].hovertemplate


def test_trend_marks_changes_beyond_noise_and_titles_them(released):
    m = released["metrics"]
    rows = m[(m["level"] == "organisation") & (m["metric"] == "itl")]
    fig = charts.trend_figure(rows, "itl", 5)
    assert "beyond noise" in fig.layout.title.text
    assert any(t.name == "change beyond noise" for t in fig.data)
    assert fig.data[0].error_y.array is not None
    assert "n = " in trace_text(fig)


def test_trend_with_one_wave_says_so(released):
    m = released["metrics"]
    rows = m[(m["level"] == "organisation") & (m["metric"] == "burnout") & (m["wave"] == "2026")]
    assert "only one wave" in charts.trend_figure(rows, "burnout", 5).layout.title.text


def test_findings_are_three_sentences_from_released_numbers(released):
    m = released["metrics"]
    sel = org(m)
    units = m[(m["level"] == "site") & (m["wave"] == "2026")]
    bench = charts.benchmark_table(sel, released["benchmarks"], None)
    sentences = charts.findings(sel, units, bench, "the whole organisation")
    assert len(sentences) == 3
    burnout = sel[sel["metric"] == "burnout"]["value"].iloc[0]
    assert f"{100 * burnout:.0f}% report burnout" in sentences[0]
    assert "not a forecast of departures" in sentences[0]
    assert all("will leave" not in s for s in sentences)


def test_empty_and_fully_hidden_states_are_explained():
    assert "No released results" in charts.empty_reason(pd.DataFrame(), 5)
    hidden = pd.DataFrame({"suppressed": [True, True]})
    assert "fewer than 5" in charts.empty_reason(hidden, 5)
    assert charts.empty_reason(pd.DataFrame({"suppressed": [True, False]}), 5) is None


def test_formatting():
    assert charts.format_value(0.4123, "rate") == "41.2%"
    assert charts.format_value(np.nan, "rate", "≤15%") == "≤15%"
    assert charts.format_change(-0.03, "rate", True) == "-3.0 pts"
    assert charts.format_change(0.01, "rate", False) == "+1.0 pts (within noise)"
    assert charts.format_change(np.nan, "rate", None) == ""


def test_methodology_tables_cover_every_metric_and_item():
    from pipelines import contract
    from pipelines.metrics.released import METRICS

    metrics = charts.metric_definitions()
    assert len(metrics) == len(METRICS) and metrics["definition"].str.len().gt(0).all()
    items = charts.item_definitions()
    assert list(items["question"]) == [i.question for i in contract.ITEMS]


def test_safe_csv_neutralises_formulas():
    from dashboard.components import safe_csv

    text = safe_csv(pd.DataFrame({"unit": ["=cmd()", "+1", "ok"], "value": [1.5, -2.0, 3.0]})).decode()
    assert "'=cmd()" in text and "'+1" in text and "\nok," in text
    assert "-2.0" in text  # numbers stay numbers


def test_departures_by_unit_ranks_by_expected_departures_and_never_shows_hidden_units():
    import pandas as pd

    from pipelines import charts

    units = pd.DataFrame(
        {
            "wave": ["2026"] * 5,
            "site": ["A", "A", "B", "B", "C"],
            "department": ["ICU", "ER", "ICU", "Clinic", "ER"],
            "role": [None] * 5,
            "level": ["department"] * 5,
            "n": [40, 90, 25, 60, None],
            "suppressed": [False, False, False, False, True],
            "expected_departures": [12.0, 30.0, 8.0, 20.0, None],
            "expected_departures_lo": [10.0, 27.0, 6.0, 18.0, None],
            "expected_departures_hi": [14.0, 33.0, 10.0, 22.0, None],
            "headcount": [60, 150, 40, 100, None],
            "cost_exposure": [1e6, 2e6, 5e5, 1.5e6, None],
        }
    )
    fig = charts.departures_by_unit_figure(units, k=5)
    title = fig.layout.title.text
    assert title.startswith("Most expected departures: A · ER (30), B · Clinic (20), A · ICU (12)")
    assert "(1 hidden: fewer than 5)" in title
    assert list(fig.data[0].y) == ["A · ER", "B · Clinic", "A · ICU", "B · ICU"]
    assert "C · ER" not in str(fig.to_dict())


def test_risk_headline_says_a_hidden_cost_exposure_is_hidden():
    """A unit whose cost exposure the joint pass hid (attack 5) shows its departures, and 'hidden' for the cost."""
    from pipelines.charts import risk as risk_charts

    row = {
        "suppressed": False, "n": 40, "headcount_source": "roster",
        "predicted_itl_rate": 0.3, "predicted_itl_rate_lo": 0.25, "predicted_itl_rate_hi": 0.35,
        "expected_departures": 6.0, "expected_departures_lo": 4.0, "expected_departures_hi": 8.0,
        "cost_exposure": None, "cost_exposure_lo": None, "cost_exposure_hi": None,
    }  # fmt: skip
    tiles, line = risk_charts.risk_headline(pd.DataFrame([row]))
    cost = next(t for t in tiles if t.label == "Replacement-cost exposure")
    assert cost.value == "hidden" and "confidentiality" in cost.help
    assert "departures 4–8" in line and "cost" not in line
    row.update(cost_exposure=900_000.0, cost_exposure_lo=600_000.0, cost_exposure_hi=1_200_000.0)
    tiles, line = risk_charts.risk_headline(pd.DataFrame([row]))
    assert next(t for t in tiles if t.label == "Replacement-cost exposure").value == "$900k"
