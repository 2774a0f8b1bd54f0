"""Warehouse: migrations upgrade an older file in place; openers wait on another process's lock."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import pytest

from pipelines.store import warehouse


def test_older_warehouse_upgrades_in_place(db):
    con = duckdb.connect(str(db))
    assert warehouse.migrate(con, target=1) == 1
    cols = [r[0] for r in con.execute("describe responses").fetchall()]
    assert "inbox_messages_per_day" not in cols
    con.execute(
        "insert into uploads values ('u-old', 'responses', 'old.csv', 'abc', 'canonical', '2023', null, "
        "now(), 1, 1, 0, [], 0)"
    )
    con.execute("insert into responses (response_key, upload_id, wave, site, department, role) values "
                "('k1', 'u-old', '2023', 'A', 'B', 'nurse')")  # fmt: skip
    con.close()
    with warehouse.connect(db) as con:
        assert warehouse.schema_version(con) == warehouse.SCHEMA_VERSION
        cols = [r[0] for r in con.execute("describe responses").fetchall()]
        assert "inbox_messages_per_day" in cols
        assert con.execute("select site, inbox_messages_per_day from responses").fetchall() == [("A", None)]
        versions = [r[0] for r in con.execute("select version from schema_version order by 1").fetchall()]
        assert versions == list(range(1, warehouse.SCHEMA_VERSION + 1))


def test_db_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(warehouse.DB_ENV, raising=False)
    assert warehouse.resolve_db(None) == warehouse.DEFAULT_DB
    monkeypatch.setenv(warehouse.DB_ENV, str(tmp_path / "env.duckdb"))
    assert warehouse.resolve_db(None) == tmp_path / "env.duckdb"
    assert warehouse.resolve_db(tmp_path / "arg.duckdb") == tmp_path / "arg.duckdb"


def _hold_lock(db, seconds: float) -> subprocess.Popen:
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
        f"time.sleep({seconds}); c.close()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_readers_wait_for_a_writer_in_another_process(db):
    with warehouse.connect(db):
        pass
    proc = _hold_lock(db, 1.5)
    started = time.monotonic()
    with warehouse.connect(db, read_only=True, wait=30) as con:
        assert con.execute("select count(*) from responses").fetchone()[0] == 0
    assert time.monotonic() - started >= 0.5  # it really waited
    proc.wait(10)


def test_busy_warehouse_gives_a_readable_error(db):
    with warehouse.connect(db):
        pass
    proc = _hold_lock(db, 3)
    try:
        with pytest.raises(warehouse.WarehouseBusy, match="in use by another process"), warehouse.connect(db, wait=0.3):
            pass
    finally:
        proc.wait(10)


def test_frozen_migrations_give_the_contract_schema():
    """Migrations are frozen .sql files, not generated from the live contract: a contract change
    needs a new migration, and this test says so when the two disagree."""
    from pipelines import contract
    from pipelines.store.warehouse import MIGRATIONS, MIGRATIONS_DIR

    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.path.parent == MIGRATIONS_DIR and m.statements() for m in MIGRATIONS)
    with warehouse.connect(":memory:") as con:
        columns = [(r[0], r[1]) for r in con.execute("describe responses").fetchall()]
    assert sorted(columns) == sorted(contract.responses_columns())  # later columns come by ALTER, at the end
