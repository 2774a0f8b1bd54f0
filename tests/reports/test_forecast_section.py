"""The PDF's "Forecast checks" chapter: departure intervals with the conversion uncertainty, the
previous-wave drift check, and predicted against actual turnover (read back from the PDF's text)."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines.ingest import first_run as bootstrap
from pipelines.ingest.turnover import ingest_turnover
from pipelines.release import build
from pipelines.reports import api

pypdf = pytest.importorskip("pypdf")
ROOT = Path(__file__).resolve().parents[2]


def write_turnover(path: Path, period: str, seed: int = 3) -> int:
    """One row per roster cell of the bundled sample, leavers ~ Binomial(headcount, 0.13); returns
    the organisation's total leavers."""
    rng = np.random.default_rng(seed)
    with open(ROOT / "sample_data" / "headcount.csv", encoding="utf-8") as fh:
        cells = list(csv.DictReader(fh))
    total = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["site", "department", "role", "period", "headcount_at_start", "leavers"])
        for c in cells:
            h = int(c["headcount"])
            leavers = int(rng.binomial(h, 0.13))
            total += leavers
            out.writerow([c["site"], c["department"], c["role"], period, h, leavers])
    return total


@pytest.fixture(scope="module")
def dbs(tmp_path_factory) -> tuple[Path, Path, int]:
    """(sample without turnover, sample with 2025 turnover, its total leavers), each built."""
    base = tmp_path_factory.mktemp("forecast_plain") / "warehouse.duckdb"
    bootstrap.load_sample(base, actor="test")
    with_turnover = tmp_path_factory.mktemp("forecast_turnover") / "warehouse.duckdb"
    shutil.copy(base, with_turnover)
    total = write_turnover(with_turnover.parent / "separations.csv", "2025")
    assert ingest_turnover(with_turnover.parent / "separations.csv", db=with_turnover).status == "loaded"
    build.build(with_turnover)
    return base, with_turnover, total


def pdf_text(db: Path, site: str | None = None) -> str:
    content, _, _ = api.build_export("pdf", db=db, site=site, actor="tester")
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def test_the_pdf_checks_the_forecast_against_actual_turnover(dbs):
    _, db, total = dbs
    text = pdf_text(db)
    assert "Forecast checks" in text
    assert "Predicted against actual departures" in text
    # the organisation's leavers, as uploaded, against the 2025 survey's forecast
    assert f"2025: {total:,} of" in text and "forecast from the 2025 survey" in text
    assert "What your own turnover says about converting intent into departures" in text
    assert "P(leave | intent to leave)" in text and "published" in text


def test_the_pdf_shows_the_drift_check_and_the_conversion_intervals(dbs):
    base, _, _ = dbs
    text = pdf_text(base)
    assert "Previous-wave check: the model fitted on 2025 scored on wave 2026" in text
    assert "No drift" in text or "drifted" in text
    assert "with the conversion rates held fixed it would be" in text
    # no turnover uploaded: the chapter says how to upload it
    assert re.search(r"python -m pipelines ingest-\s?turnover separations\.csv", text) and "docs/turnover.md" in text
    assert "`" not in text, "markdown code marks are for the page, not the PDF"


def test_a_site_report_leaves_organisation_wide_model_quality_out(dbs):
    _, db, _ = dbs
    text = pdf_text(db, site="Riverside Medical Center")
    assert "Forecast checks" in text
    assert "Previous-wave check" not in text
    assert "shown in the organisation-wide report" in text
