"""pipelines.narrative: finding sentences from hand-made released rows (known numbers), and the
methodology tables generated from the contract."""

from __future__ import annotations

import pandas as pd

from pipelines import contract
from pipelines.metrics.released import METRICS_BY_NAME
from pipelines.narrative.findings import findings
from pipelines.narrative.methodology import ITL_NOTE, item_definitions, metric_definitions


def rate(metric: str, value: float, change: float | None = None, beyond: bool | None = None, **dims) -> dict:
    return {"metric": metric, "value": value, "lo": value - 0.03, "hi": value + 0.04, "answered": 120,
            "change": change, "exceeds_noise": beyond, "shrunk": value, "site": None, "department": None,
            "role": None, **dims}  # fmt: skip


def test_level_change_worst_unit_and_benchmark_sentences():
    sel = pd.DataFrame([rate("burnout", 0.412, 0.051, True), rate("itl", 0.30, 0.01, False)])
    units = pd.DataFrame([rate("burnout", 0.30, site="North"), rate("burnout", 0.55, site="South", role="nurse")])
    bench = pd.DataFrame(
        [{"metric": "itl", "measure": "Intend to leave", "organisation": 0.30, "lo": 0.27, "hi": 0.34,
          "benchmark": 0.40, "population": "US physicians, national survey", "year": 2022}]
    )  # fmt: skip
    first, worst, compared = findings(sel, units, bench, "Riverside")
    assert first == (
        "In Riverside, 41% report burnout and 30% say they may leave within two years (a stated intention, "
        "not a forecast of departures); since the last wave burnout rose 5.1 points."
    )
    assert worst.startswith("Burnout is highest in South · Nurse at 55% (95% interval 52–59%, n = 120)")
    assert (
        compared == "Stated intent to leave here (30%) is lower than the US physicians (national) figure of 40% (2022)."
    )


def test_no_move_beyond_noise_and_nothing_else_known():
    sel = pd.DataFrame([rate("burnout", 0.2, -0.01, False), rate("itl", 0.1)])
    (only,) = findings(sel, sel.iloc[0:0], pd.DataFrame(), "X")
    assert only.endswith("neither moved beyond sampling noise since the last wave.")
    assert "leave" in only and "will leave" not in only


def test_methodology_tables_cover_the_catalogue_and_the_items():
    defs = metric_definitions()
    assert defs["code"].tolist() == list(METRICS_BY_NAME)
    assert defs["definition"].str.len().min() > 0
    items = item_definitions()
    assert items["question"].tolist() == [i.question for i in contract.ITEMS]
    assert "not a count of people who will leave" in ITL_NOTE
