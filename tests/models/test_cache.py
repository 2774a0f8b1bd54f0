"""pipelines.models.cache: a rebuild reuses a wave's model results only while nothing they depend on
changed, and the released tables are the same either way. Real builds of the bundled sample."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from pipelines.ingest import delete_upload, list_uploads
from pipelines.ingest.first_run import load_sample
from pipelines.models import assumptions, drivers, risk
from pipelines.models import cache as model_cache
from pipelines.release import build
from pipelines.store import settings, warehouse

MODEL_TABLES = ("rel_unit_risk", "rel_driver_importance", "rel_leave_paths", "rel_leave_reasons")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("model-cache") / "warehouse.duckdb"
    load_sample(path)  # loads and builds: the cache is filled
    return path


@pytest.fixture
def db(sample, tmp_path, monkeypatch):
    monkeypatch.setattr(build, "PRODUCERS", [build.produce_metrics, build.produce_benchmarks, build.produce_models])
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(sample, path)
    return path


def released(db) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {t: con.execute(f"select * from {t} order by all").df() for t in MODEL_TABLES}


@pytest.fixture
def calls(monkeypatch):
    """How many times each wave's risk model and driver analysis were really computed."""
    seen: list[tuple[str, str]] = []
    real_risk, real_drivers = risk.compute_risk, drivers.compute_drivers

    def counting_risk(con, **kwargs):
        seen.append(("risk", kwargs.get("wave")))
        return real_risk(con, **kwargs)

    def counting_drivers(con, **kwargs):
        seen.append(("drivers", kwargs.get("wave")))
        return real_drivers(con, **kwargs)

    monkeypatch.setattr(risk, "compute_risk", counting_risk)
    monkeypatch.setattr(drivers, "compute_drivers", counting_drivers)
    return seen


def test_an_unchanged_warehouse_rebuilds_from_the_cache_with_identical_tables(db, calls):
    before = released(db)
    build.build(db)
    assert calls == []  # nothing recomputed
    after = released(db)
    for table in MODEL_TABLES:
        pd.testing.assert_frame_equal(after[table], before[table], obj=table)


def test_a_changed_assumption_recomputes_and_changes_the_numbers(db, calls):
    before = released(db)["rel_unit_risk"]
    with warehouse.connect(db) as con:
        waves = [r[0] for r in con.execute("select distinct wave from responses order by 1").fetchall()]
        rate = settings.get(con, assumptions.P_LEAVE_ITL)
        settings.put(con, assumptions.P_LEAVE_ITL, round(min(0.9, 1.5 * rate), 3))
    build.build(db)
    assert sorted(w for part, w in calls if part == "risk") == waves
    assert not [w for part, w in calls if part == "drivers"]  # the driver analysis does not read it
    after = released(db)["rel_unit_risk"]
    keys = ["wave", "level", "site", "department", "role"]
    merged = after[after["expected_departures"].notna()].merge(before, on=keys, suffixes=("", "_old"))
    assert len(merged) > 100
    assert (merged["expected_departures"] > merged["expected_departures_old"]).all()


def test_deleting_a_wave_keeps_the_other_waves_cached_and_drops_its_results(db, calls):
    uploads = [u for u in list_uploads(db) if u["kind"] == "responses"]
    oldest = min(uploads, key=lambda u: u["wave"])
    delete_upload(oldest["upload_id"], db)
    build.build(db)  # the other waves: nothing of theirs changed, except that the next wave's risk
    # diagnostics scored the deleted wave's model on it (temporal validation): only that is recomputed
    following = min(u["wave"] for u in uploads if u["wave"] > oldest["wave"])
    assert calls == [("risk", following)]
    with duckdb.connect(str(db), read_only=True) as con:
        cached = {r[0] for r in con.execute("select distinct wave from model_cache").fetchall()}
        assert oldest["wave"] not in cached and cached
        assert oldest["wave"] not in {r[0] for r in con.execute("select distinct wave from rel_unit_risk").fetchall()}


def test_changed_model_code_invalidates_every_cached_result(db, calls, monkeypatch):
    monkeypatch.setattr(model_cache, "_code_hash", lambda: "a different version of the models")
    build.build(db)
    assert {part for part, _ in calls} == {"risk", "drivers"}
    calls.clear()
    build.build(db)  # and the new results are what the next build reuses
    assert calls == []


def test_a_warehouse_from_before_the_cache_reads_as_no_cache(tmp_path):
    with warehouse.connect(tmp_path / "old.duckdb") as con:
        con.execute("drop table model_cache")  # as a version-3 file has it, read before migrating
        assert not model_cache._exists(con)
        assert model_cache.get(con, "2026", "risk", "any fingerprint") is None


def test_a_threshold_the_driver_analysis_reads_reruns_it(db, calls):
    with warehouse.connect(db) as con:
        settings.put(con, "lever_call_threshold", settings.get(con, "lever_call_threshold") + 2)
    build.build(db)
    assert {w for part, w in calls if part == "drivers"} == {w for part, w in calls if part == "risk"} != set()


def test_the_driver_analysis_reads_no_assumption_outside_its_value_keys(db):
    read: set[str] = set()

    class Recording(dict):
        def __getitem__(self, key):
            read.add(key)
            return super().__getitem__(key)

        def get(self, key, default=None):
            read.add(key)
            return super().get(key, default)

    with warehouse.connect(db, read_only=True) as con:
        values = Recording(assumptions.values(con))
        frame = drivers.compute_drivers(con, values=values)
    assert not frame.empty
    assert read and read <= set(drivers.VALUE_KEYS), read - set(drivers.VALUE_KEYS)
