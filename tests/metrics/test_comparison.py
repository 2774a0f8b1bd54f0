"""pipelines.metrics.comparison: the selection's released rate next to the latest published figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.metrics.comparison import BENCHMARK_METRICS, benchmark_rows


def selection(**values: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"metric": m, "value": v, "lo": None if np.isnan(v) else v - 0.05, "hi": None if np.isnan(v) else v + 0.05,
             "answered": 200}
            for m, v in values.items()
        ]
    )  # fmt: skip


BENCH = pd.DataFrame(
    [
        # metric, population, year, role, value, note
        ("burnout", "US physicians", 2019, "physician", 0.44, None),
        ("burnout", "US physicians", 2022, "physician", 0.63, None),  # latest of this population
        ("burnout", "AMA sample", 2024, "physician", 0.45, None),
        ("burnout", "AMA sample", 2025, "physician", 0.99, "not comparable"),  # a note: never compared
        ("burnout", "Nurses", 2020, "nurse", 0.50, None),
        ("itl", "US physicians", 2022, "physician", 0.30, ""),
    ],
    columns=["metric", "population", "year", "role", "value", "note"],
).assign(source="a paper")


def test_latest_comparable_figure_per_population_for_physicians_by_default():
    rows = benchmark_rows(selection(burnout=0.40, itl=0.25), BENCH)
    got = {(r.metric, r.population): (r.year, r.benchmark, r.organisation) for r in rows.itertuples()}
    assert got == {
        ("burnout", "US physicians"): (2022, 0.63, 0.40),
        ("burnout", "AMA sample"): (2024, 0.45, 0.40),
        ("itl", "US physicians"): (2022, 0.30, 0.25),
    }
    assert set(rows["role"]) == {"physician"}
    assert list(rows.columns) == ["metric", "organisation", "lo", "hi", "n", "benchmark", "population", "year",
                                  "role", "source"]  # fmt: skip
    assert rows["lo"].tolist() == pytest.approx([0.35, 0.35, 0.2]) and rows["n"].tolist() == [200, 200, 200]


def test_the_selected_role_picks_its_own_figures():
    rows = benchmark_rows(selection(burnout=0.40), BENCH, role="nurse")
    assert rows[["population", "benchmark", "role"]].values.tolist() == [["Nurses", 0.50, "nurse"]]


def test_a_hidden_rate_or_an_empty_selection_is_never_compared():
    assert benchmark_rows(selection(burnout=float("nan"), itl=0.25), BENCH)["metric"].tolist() == ["itl"]
    assert benchmark_rows(pd.DataFrame(), BENCH).empty


def test_only_rates_with_a_published_counterpart():
    assert set(BENCHMARK_METRICS) == {"burnout", "itl", "high_stress", "satisfied", "valued"}
    assert benchmark_rows(selection(inbox_median=0.4), BENCH.assign(metric="inbox_median")).empty
