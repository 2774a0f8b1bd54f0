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


def test_a_wellness_officer_loads_turnover_on_the_uploads_page(dbs, tmp_path, monkeypatch):
    """The Uploads & waves page takes a turnover file (same checks as the CLI); the forecast check then shows it.
    A malformed file is refused with the row and column named, and nothing is stored."""
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(dbs["plain"], db)
    monkeypatch.setenv("CLINRET_DB", str(db))
    at = open_page("dashboard/pages/uploads.py")
    bad = b"site,department,role,period,headcount_at_start,leavers\nNorth,Medicine,nurse,2025,10,12\n"
    at.file_uploader(key="turnover_0").upload("bad.csv", bad, "text/csv").run()
    next(b for b in at.button if b.label == "Load turnover").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("nothing changed" in e.value for e in at.error), [e.value for e in at.error]
    total = write_turnover(tmp_path / "separations.csv", "2025")
    at.file_uploader(key="turnover_0").upload(
        "separations.csv", (tmp_path / "separations.csv").read_bytes(), "text/csv"
    ).run()
    next(b for b in at.button if b.label == "Load turnover").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Loaded turnover for 2025" in s.value for s in at.success), [s.value for s in at.success]
    at = open_page(RISK)
    assert {m.label: m.value for m in at.metric}["Actual leavers, 2025"] == f"{total:,}"
