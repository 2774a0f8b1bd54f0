"""dashboard.data: one snapshot per build, read from the published release (no warehouse opened),
identical to DuckDB's own frames; before the first publish, read from the warehouse on one connection.

Outside a Streamlit server (st.cache_* work in memory), on a real warehouse built from the sample.
The page functions are the benchmark's (benchmarks/pages.py), which make the same data-layer calls
as the page scripts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import duckdb
import pandas as pd
import pytest

from benchmarks import pages
from dashboard import data
from pipelines.ingest.first_run import load_sample
from pipelines.release import publish, reader
from pipelines.store import settings, warehouse


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("data-layer") / "warehouse.duckdb"
    load_sample(path)
    return path


@pytest.fixture
def db(built, tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(built, path)
    shutil.copytree(built.parent / "releases", tmp_path / "releases")  # the build's published snapshot
    monkeypatch.delenv(publish.ROOT_ENV, raising=False)
    monkeypatch.setenv("CLINRET_DB", str(path))
    data.clear_cache()
    yield path
    data.clear_cache()


def test_arrow_read_gives_the_same_frame_as_duckdb_df_for_every_released_table(db):
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_name, data_type from duckdb_columns() where schema_name = 'main' and not internal"
        ).fetchall()
        types: dict[str, set[str]] = {}
        for table, data_type in rows:
            if data.RELEASED_TABLE.match(table):
                types.setdefault(table, set()).add(data_type)
        assert {"rel_metrics", "rel_groups", "rel_unit_risk", "rel_driver_importance", "ref_benchmarks"} <= set(types)
        for table, kinds in types.items():
            expected = con.execute(f'select * from "{table}"').df()
            got = reader.read_table(con, table, kinds)
            pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=table)
            nullable = [c for c in got.columns if isinstance(got[c].dtype, (pd.Int64Dtype, pd.BooleanDtype))]
            assert all(got[c].isna().any() for c in nullable), table  # nullable dtype only where nulls are


def _count_opens(monkeypatch) -> list:
    opened = []
    real_open = warehouse._open
    monkeypatch.setattr(warehouse, "_open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    return opened


def test_every_page_reads_the_published_snapshot_and_never_opens_the_warehouse(db, monkeypatch):
    opened = _count_opens(monkeypatch)
    for page in ("overview", "attrition-risk", "drivers", "retention-options", "intentions", "trends", "reports"):
        calls = pages.PAGES[page]()
        assert not any("absent" in c for c in calls), (page, calls)
    assert opened == []
    assert data.snapshot().build_id == publish.current(db.parent / "releases").build_id


def test_the_published_snapshot_gives_the_same_frames_as_the_warehouse(db):
    published = data.snapshot()
    with warehouse.connect(db, read_only=True) as con:
        stored = reader.read_all(con)
        readings = {name: read(con) for name, read in data._snapshot_readers().items()}
    assert published.columns == stored.columns
    for name, frame in stored.tables.items():
        pd.testing.assert_frame_equal(published.tables[name], frame, check_exact=True, obj=name)
    assert published.released.kinds == stored.kinds
    assert published.released.built_at == stored.built_at
    assert published.readings["settings"] == readings["settings"]
    for name in ("model_diagnostics", "saved_scenarios"):
        pd.testing.assert_frame_equal(published.readings[name], readings[name], obj=name)


def test_before_the_first_publish_the_warehouse_is_read_once(db, monkeypatch):
    shutil.rmtree(db.parent / "releases")
    opened = _count_opens(monkeypatch)
    for page in ("overview", "attrition-risk", "drivers"):
        pages.PAGES[page]()
    assert len(opened) == 1  # one snapshot of the warehouse serves every page and every filter
    assert data.snapshot().build_id is None
    data.clear_cache()  # as after an upload or a rebuild in the app
    pages.PAGES["overview"]()
    assert len(opened) == 2


def test_a_warehouse_built_before_snapshots_is_published_on_the_first_visit(db, monkeypatch):
    shutil.rmtree(db.parent / "releases")
    data.ensure_warehouse.clear()
    assert data.ensure_warehouse(str(db)) == []  # it had data: nothing loaded, its stored build published
    snap = publish.current(db.parent / "releases")
    assert snap is not None and publish.verify(snap) == []
    opened = _count_opens(monkeypatch)
    pages.PAGES["overview"]()
    assert opened == [] and data.snapshot().build_id == snap.build_id


def test_a_build_published_by_another_process_shows_up_without_clearing_the_cache(db):
    assert data.min_group_size() == 5
    before = data.snapshot().build_id
    with warehouse.connect(db) as con:  # what the CLI does: the app's cache is not told
        settings.put(con, "min_group_size", 7, updated_by="test")
    assert data.min_group_size() == 5  # stored, but not built: the pages keep showing one build whole
    code = (
        "from pipelines.release import publish, reader; from pipelines.store import warehouse\n"
        f"with warehouse.connect({str(db)!r}, read_only=True) as con:\n"
        "    publish.publish_from(con, list(reader.released_columns(con)[0]))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "CLINRET_DB": str(db)})
    assert data.snapshot().build_id != before
    assert data.min_group_size() == 7  # a new build id, so the snapshot is read again


def test_a_saved_scenario_is_republished_into_the_snapshot(db):
    from pipelines import scenarios

    before = data.snapshot().build_id
    levers = [scenarios.lever_library(data.settings_values())["key"].iloc[0]]
    results = data.with_connection(scenarios.run_scenario, levers, resamples=20, refits=2)
    with warehouse.connect(db) as con:  # what dashboard.queries.save_scenario does
        scope = {"wave": None, "site": None, "department": None, "role": None}
        scenarios.save_scenario(con, "republished", levers, scope, results, created_by="test")
    data.clear_cache()
    snap = data.snapshot()
    assert snap.build_id != before
    data.clear_cache()  # nothing new saved since: no new snapshot
    assert data.snapshot().build_id == snap.build_id
    assert list(data.reading("saved_scenarios")["name"]) == ["republished"]
    assert [s.name for s in snap.released.scenarios] == ["republished"]
    assert set(snap.tables) == set(publish.current(db.parent / "releases").tables)


def test_a_scenario_computing_does_not_hold_the_warehouse_a_writer_needs(db):
    """with_connection runs on an in-memory copy: while it computes, another process writes at once."""
    started, done = threading.Event(), threading.Event()
    writer: list[subprocess.CompletedProcess] = []

    def slow_reader(con):
        started.set()
        done.wait(60)
        return con.execute("select count(*) from responses").fetchone()[0]

    thread = threading.Thread(target=lambda: writer.append(data.with_connection(slow_reader)))
    thread.start()
    assert started.wait(60)
    code = (
        "from pipelines.store import warehouse, settings\n"
        f"with warehouse.connect({str(db)!r}, wait=0) as con:\n"  # no waiting: fails if the file is held
        "    settings.put(con, 'min_group_size', 6, updated_by='writer')\n"
    )
    outcome = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    done.set()
    thread.join(60)
    assert outcome.returncode == 0, outcome.stderr[-800:]
    assert writer and writer[0] > 0


def test_readings_come_from_the_same_snapshot(db):
    snapshot = data.snapshot()
    assert set(snapshot.readings) == {"settings", "model_diagnostics", "saved_scenarios"}
    assert data.reading("model_diagnostics") is snapshot.readings["model_diagnostics"]
    assert not data.reading("model_diagnostics").empty
    with pytest.raises(ValueError, match="Only released tables"):
        data.query_released("responses")


def test_warm_up_reads_the_published_build_even_while_a_writer_holds_the_warehouse(db, monkeypatch):
    opened = _count_opens(monkeypatch)
    with warehouse.connect(db):  # a writer holds the file (in this process: a different configuration)
        started = time.perf_counter()
        assert data.warm_up() is True
        assert time.perf_counter() - started < 5
    assert len(opened) == 1  # the writer's own
    pages.PAGES["overview"]()
    assert len(opened) == 1  # the first visit finds the build already read


def test_warm_up_does_not_wait_for_a_busy_warehouse_before_the_first_publish(db):
    shutil.rmtree(db.parent / "releases")
    with warehouse.connect(db):
        started = time.perf_counter()
        assert data.warm_up() is False
        assert time.perf_counter() - started < 5
    assert data.warm_up() is True
