"""A headcount roster given to the survey ingest is recognised and refused; nothing is stored."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.ingest import ingest, ingest_headcount
from pipelines.store import warehouse
from tests.conftest import ROOT, write_csv

ROSTER = ROOT / "sample_data" / "headcount.csv"


def stored(db: Path) -> tuple[int, int, int]:
    """(responses, uploads, headcount rows) in the warehouse; a file never created holds nothing."""
    if not db.exists():
        return (0, 0, 0)
    with warehouse.connect(db, read_only=True) as con:
        return con.execute(
            "select (select count(*) from responses), (select count(*) from uploads), (select count(*) from headcount)"
        ).fetchone()


def roster_rows() -> int:
    with open(ROSTER, encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def test_the_sample_roster_is_refused_by_the_survey_ingest(db):
    with open(ROSTER, encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh))[:4] == ["site", "department", "role", "headcount"]  # a real roster
    r = ingest(ROSTER, wave="2025", db=db)
    assert r.status == "rejected"
    assert r.upload_id is None and r.rows_loaded == 0
    assert len(r.errors) == 1
    message = r.errors[0]
    assert message.startswith("headcount.csv: ")
    assert "looks like a headcount roster" in message
    assert "ingest-headcount" in message
    assert stored(db) == (0, 0, 0)


def test_the_refusal_names_the_uploaded_file_and_holds_for_a_dry_run(db):
    r = ingest(ROSTER, wave="2025", db=db, original_name="staffing March.csv", dry_run=True)
    assert r.status == "rejected" and not r.preview
    assert r.errors[0].startswith("staffing March.csv: ") and "headcount roster" in r.errors[0]
    assert stored(db) == (0, 0, 0)


def test_cli_exits_2_and_stores_nothing(db):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pipelines", "ingest", str(ROSTER), "--wave", "2025", "--db", str(db), "--json"]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    out = json.loads(run.stdout)
    assert out["status"] == "rejected"
    assert any("headcount.csv" in e and "ingest-headcount" in e for e in out["errors"])
    assert stored(db) == (0, 0, 0)


def test_the_same_file_still_loads_as_a_roster(db):
    assert ingest(ROSTER, wave="2025", db=db).status == "rejected"
    r = ingest_headcount(ROSTER, db=db)
    assert r.status == "loaded", r.errors
    assert stored(db) == (0, 1, roster_rows())


def test_a_survey_with_a_headcount_like_column_is_not_taken_for_a_roster(tmp_path, db):
    """Answers beyond the unit make it a survey, whatever else the file holds."""
    header = ["site", "department", "role", "headcount", "burnout_level", "intent_to_leave"]
    rows = [["A", "ICU", "nurse", 40, 1 + i % 5, 1 + (i * 3) % 5] for i in range(12)]
    r = ingest(write_csv(tmp_path / "survey.csv", header, rows), wave="2025", db=db)
    assert r.status == "loaded", r.errors
    assert stored(db) == (12, 1, 0)


def test_a_unit_only_file_without_a_headcount_column_is_not_called_a_roster(tmp_path, db):
    f = write_csv(tmp_path / "units.csv", ["site", "department", "role"], [["A", "ICU", "nurse"]] * 3)
    r = ingest(f, wave="2025", db=db)
    assert r.status == "loaded" and not any("roster" in e for e in r.errors)


def test_a_malformed_roster_is_rejected_with_a_message_and_nothing_stored(tmp_path):
    """A roster CSV that the reader cannot parse (an unclosed quote) is a rejection naming the file,
    not an exception; the warehouse keeps no upload."""
    from pipelines.ingest import ingest_headcount, list_uploads

    bad = tmp_path / "roster.csv"
    bad.write_text(
        'site,department,role,headcount\nNorth,"Cardiology,Nurse,12\nNorth,ICU,Nurse,9\n' * 3, encoding="utf-8"
    )
    db = tmp_path / "warehouse.duckdb"
    result = ingest_headcount(bad, db=db)
    assert result.status == "rejected"
    assert result.errors and "roster.csv" in result.errors[0]
    assert list_uploads(db) == []


def test_a_rejected_file_creates_no_warehouse(tmp_path):
    """Refusing a file (here: no unit columns at all) leaves no empty warehouse behind."""
    from pipelines.ingest import ingest

    bad = tmp_path / "survey.csv"
    bad.write_text("colour,shape\nred,round\nblue,square\n", encoding="utf-8")
    db = tmp_path / "warehouse.duckdb"
    result = ingest(bad, wave="2026", db=db)
    assert result.status == "rejected" and result.errors
    assert not db.exists()
