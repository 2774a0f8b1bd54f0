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


def test_in_a_build_the_turnover_check_uses_the_risk_units_the_models_producer_shared(tmp_path, monkeypatch):
    """A cold build has no stored risk model yet (the cache is written with the build's tables): the
    models producer hands its unsuppressed risk units to the turnover producer through the build
    context, so the check forecasts from the same numbers without refitting the model."""
    import numpy as np
    import pandas as pd

    from pipelines.models import build as models_build
    from pipelines.release.tables import BuildContext
    from tests.conftest import write_csv
    from tests.model_fixtures import insert_responses, simulate
    from tests.models.test_turnover import simulate_cells

    db = tmp_path / "w.duckdb"
    cells = simulate_cells(np.random.default_rng(4), 0.3, 0.07)
    header = ["site", "department", "role", "period", "headcount_at_start", "leavers"]
    with warehouse.connect(db) as con:
        insert_responses(con, simulate(n=50, wave="2024").frame)
    path = write_csv(tmp_path / "t.csv", header, cells[header].values.tolist())
    assert ingest_turnover(path, db=db).status == "loaded"
    risk_units = cells.assign(wave="2024", level="department_role", predicted_itl_rate=cells["p_itl"])
    fake = models_build.ModelBuild(
        {name: (risk_units if name == "rel_unit_risk" else pd.DataFrame(), kind)
         for name, kind in models_build.TABLE_KINDS.items()},
        pd.DataFrame(columns=list(risk.DIAGNOSTIC_COLUMNS)),
    )  # fmt: skip
    monkeypatch.setattr(models_build, "build_models", lambda *args, **kwargs: fake)
    monkeypatch.setattr(models_build, "release_table", lambda name, frame, kind, k, intentions_k=10: frame)

    def refit(*args, **kwargs):
        raise AssertionError("the turnover check refitted the risk model the build had just computed")

    monkeypatch.setattr(risk, "compute_risk", refit)
    with warehouse.connect(db, read_only=True) as con:
        ctx = BuildContext(k=5, intentions_k=10)
        models_build.produce_models(con, ctx)
        assert ctx.shared["risk_units"] is risk_units
        shared = tv.produce_turnover(con, ctx)
        given = tv.produce_turnover(con, BuildContext(k=5, intentions_k=10), risk_units=risk_units)
    assert [t.name for t in shared] == [tv.TABLE, tv.CONVERSION_TABLE]
    for a, b in zip(shared, given, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
