"""pipelines.charts.formats and the package's re-exports: the one definition of every number format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines import charts
from pipelines.charts import formats


@pytest.mark.parametrize(
    ("value", "text"),
    [(12.94e9, "$12.9B"), (1.25e6, "$1.2M"), (-3.0e6, "-$3.0M"), (85_400, "$85k"), (499.4, "$499"),
     (999_600, "$1.0M"), (None, "–"), (float("nan"), "–"),
     # the unit follows the printed value: never a larger unit than the value reaches
     (999.4, "$999"), (999.6, "$1.0k"), (1_234, "$1.2k"), (9_949, "$9.9k"), (9_960, "$10k"), (999_499, "$999k"),
     (12_345, "$12k"), (-999.4, "-$999"), (-0.4, "$0"), (999.95e6, "$1.0B")],
)  # fmt: skip
def test_money(value, text):
    assert formats.money(value) == text


def test_percent_count_interval_and_missing():
    assert formats.percent(0.4123) == "41%" and formats.percent(0.4123, 1) == "41.2%" and formats.percent(None) == "–"
    assert formats.count(1234.0) == "1,234" and formats.count(pd.NA) == "–"
    assert formats.interval(1, 2.25) == "95% interval 1.0 to 2.2" and formats.interval(None, 2) == "no interval"
    assert all(formats.is_missing(x) for x in (None, pd.NA, float("nan"), np.nan))
    assert not any(formats.is_missing(x) for x in (0, "", False))


def test_unit_label_follows_the_dimensions_of_the_row():
    assert formats.unit_label({"site": "North", "department": None, "role": "nurse"}) == "North · Nurse"
    assert formats.unit_label({"site": None, "department": None, "role": None}) == "Whole organisation"


def test_error_bars_are_distances_from_the_value_scaled():
    bars = formats.error_bars(pd.Series([0.4, 0.5]), pd.Series([0.35, None]), pd.Series([0.5, 0.55]), 100)
    assert bars["array"] == pytest.approx([10.0, 5.0]) and bars["arrayminus"] == pytest.approx([5.0, 0.0])


def test_every_name_other_code_imports_is_exported():
    used = ["format_change", "format_value", "metric_label", "unit_label", "OKABE_ITO", "error_bars", "money",
            "percent", "is_missing", "item_definitions", "metric_definitions", "Tile", "findings", "ITL_NOTE",
            "benchmark_table", "heatmap_figure", "risk_ranking_figure", "scenario_compare_figure", "KEY_METRICS"]  # fmt: skip
    missing = [name for name in used if not hasattr(charts, name)]
    assert not missing, missing
    assert all(hasattr(charts, name) for name in charts.__all__)
