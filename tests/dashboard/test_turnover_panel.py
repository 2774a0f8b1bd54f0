"""AppTest: the Attrition-risk page's turnover check and the Retention-options break-even cards."""

from __future__ import annotations

import shutil

import pytest

from pipelines.ingest import first_run as bootstrap
from pipelines.ingest.turnover import ingest_turnover
from pipelines.release import build
from tests.dashboard.test_model_pages import OPTIONS, RISK, open_page, texts
from tests.reports.test_forecast_section import write_turnover


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> dict[str, object]:
    plain = tmp_path_factory.mktemp("panel_plain") / "warehouse.duckdb"
    bootstrap.load_sample(plain, actor="test")
    turn = tmp_path_factory.mktemp("panel_turnover") / "warehouse.duckdb"
    shutil.copy(plain, turn)
    total = write_turnover(turn.parent / "separations.csv", "2025")
    assert ingest_turnover(turn.parent / "separations.csv", db=turn).status == "loaded"
    build.build(turn)
    return {"plain": plain, "turnover": turn, "total": total}


def test_without_turnover_the_panel_says_how_to_upload_it(dbs, monkeypatch):
    monkeypatch.setenv("CLINRET_DB", str(dbs["plain"]))
    at = open_page(RISK)
    body = texts(at)
    assert "Was the forecast right?" in body
    assert "python -m pipelines ingest-turnover" in body and "docs/turnover.md" in body


def test_with_turnover_the_panel_compares_actual_and_forecast_leavers(dbs, monkeypatch):
    monkeypatch.setenv("CLINRET_DB", str(dbs["turnover"]))
    at = open_page(RISK)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Actual leavers, 2025"] == f"{dbs['total']:,}"
    assert "Forecast leavers" in metrics and "Actual ÷ forecast" in metrics
    body = texts(at)
    assert "forecast from the 2025 survey" in body
    assert "P(leave | intent to leave)" in body and "published" in body
    tables = [df.value for df in at.dataframe]
    assert any("Actual ÷ forecast" in t.columns and "Check" in t.columns for t in tables)


def test_each_option_card_shows_net_interval_and_break_even(dbs, monkeypatch):
    monkeypatch.setenv("CLINRET_DB", str(dbs["plain"]))
    at = open_page(OPTIONS)
    at.multiselect(key="ro_levers").set_value(["dropped_call", "schedule_flexibility"]).run()
    at.button(key="ro_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    nets = [m for m in at.metric if m.label == "Net value over the horizon"]
    assert len(nets) == 3, "one card per option and one for both together"
    body = texts(at)
    assert "95% interval" in body
    assert "Breaks even at a programme cost of" in body
    assert "Pays for itself if it keeps ≥" in body
