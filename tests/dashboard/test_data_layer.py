"""dashboard.data: one snapshot per build, read on one connection, identical to DuckDB's own frames.

Outside a Streamlit server (st.cache_* work in memory), on a real warehouse built from the sample.
The page functions are the benchmark's (benchmarks/pages.py), which make the same data-layer calls
as the page scripts."""

from __future__ import annotations

import os
import shutil
import time

import duckdb
import pandas as pd
import pytest

from benchmarks import pages
from dashboard import data
from pipelines.ingest.first_run import load_sample
from pipelines.release import reader
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


def test_every_page_after_a_rebuild_opens_the_warehouse_once(db, monkeypatch):
    opened = []
    real_open = warehouse._open
    monkeypatch.setattr(warehouse, "_open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    for page in ("overview", "attrition-risk", "drivers", "retention-options", "intentions", "trends", "reports"):
        calls = pages.PAGES[page]()
        assert not any("absent" in c for c in calls), (page, calls)
    assert len(opened) == 1  # one snapshot serves every page and every filter
    data.clear_cache()  # as after an upload or a rebuild in the app
    pages.PAGES["overview"]()
    assert len(opened) == 2


def test_a_write_from_another_process_shows_up_without_clearing_the_cache(db):
    assert data.min_group_size() == 5
    before = os.stat(db).st_mtime
    time.sleep(0.01)
    with warehouse.connect(db) as con:  # what the CLI does: the app's cache is not told
        settings.put(con, "min_group_size", 7, updated_by="test")
    assert os.stat(db).st_mtime != before
    assert data.min_group_size() == 7  # the file changed, so the snapshot is read again


def test_readings_come_from_the_same_snapshot(db):
    snapshot = data.snapshot()
    assert set(snapshot.readings) == {"settings", "model_diagnostics", "saved_scenarios"}
    assert data.reading("model_diagnostics") is snapshot.readings["model_diagnostics"]
    assert not data.reading("model_diagnostics").empty
    with pytest.raises(ValueError, match="Only released tables"):
        data.query_released("responses")


def test_warm_up_reads_the_build_and_does_not_wait_for_a_busy_warehouse(db, monkeypatch):
    assert data.warm_up() is True
    opened = []
    real_open = warehouse._open
    monkeypatch.setattr(warehouse, "_open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    pages.PAGES["overview"]()
    assert opened == []  # the first visit finds the build already read
    monkeypatch.setattr(warehouse, "_open", real_open)
    data.clear_cache()
    with warehouse.connect(db):  # a writer holds the file (in this process: a different configuration)
        started = time.perf_counter()
        assert data.warm_up() is False
        assert time.perf_counter() - started < 5
