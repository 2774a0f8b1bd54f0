"""The turnover check reads the risk model the build stored (same cache fingerprint as
pipelines.models.build), so a rebuild with nothing changed refits nothing for it."""

from __future__ import annotations

import csv

import pytest

from pipelines.ingest.turnover import ingest_turnover
from pipelines.models import risk
from pipelines.models import turnover as tv
from pipelines.release import build
from pipelines.store import warehouse
from tests.conftest import ROOT


def test_after_a_build_the_turnover_check_reuses_the_stored_risk_model(sample_copy, tmp_path, monkeypatch):
    with open(ROOT / "sample_data" / "headcount.csv", encoding="utf-8") as fh:
        cells = list(csv.DictReader(fh))
    path = tmp_path / "separations.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["site", "department", "role", "period", "headcount_at_start", "leavers"])
        for c in cells:
            out.writerow([c["site"], c["department"], c["role"], "2025", c["headcount"], int(c["headcount"]) // 7])
    assert ingest_turnover(path, db=sample_copy).status == "loaded"
    build.build(sample_copy)

    def refit(*args, **kwargs):
        raise AssertionError("the risk model was refitted although the build stored it")

    monkeypatch.setattr(risk, "compute_risk", refit)
    with warehouse.connect(sample_copy, read_only=True) as con:
        table, conversion = tv.compute_check(con)
    assert len(table) > 0 and len(conversion) == 1
    with pytest.raises(AssertionError, match="refitted"):
        risk.compute_risk()
