"""The DuckDB warehouse: where it lives, how to open it safely, and its versioned schema.

DuckDB lets one process hold a database file for writing and then locks every other process out,
readers included. So nothing here keeps a connection open for long: each unit of work opens the
file, does its work and closes it, and `connect` waits (with back-off) while another process holds
the lock instead of failing at once. The app reads through short read-only connections; ingest and
build write inside one transaction, so a reader never sees half a wave.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipelines import contract

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "CLINRET_DB"
LOCK_WAIT_SECONDS = float(os.environ.get("CLINRET_LOCK_WAIT", "60"))


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse for longer than we were willing to wait."""


def resolve_db(path: str | os.PathLike | None = None) -> Path:
    """`--db PATH` wins, then the CLINRET_DB environment variable, then data/warehouse.duckdb."""
    if path:
        return Path(path)
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    return DEFAULT_DB


def is_busy_error(exc: Exception) -> bool:
    """The warehouse is held by someone else: another process (a file lock) or, in this process,
    a connection opened with a different mode (the app reading while an upload writes)."""
    text = str(exc).lower()
    return any(
        needle in text
        for needle in (
            "lock",
            "being used by another process",
            "conflicting",
            "different configuration",
            "unique file handle conflict",
            "already attached",
        )
    )


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    return duckdb.connect(str(path), read_only=read_only, config=config)


@contextlib.contextmanager
def connect(
    db: str | os.PathLike | None = None,
    *,
    read_only: bool = False,
    wait: float | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (migrating it when opened for writing) and close it afterwards.

    ":memory:" gives a fresh in-memory warehouse. While another process holds the file, retry
    with back-off for up to `wait` seconds, then raise WarehouseBusy with a readable message.
    """
    if str(db) == ":memory:":
        con = _open(Path(":memory:"), False)
        migrate(con)
        try:
            yield con
        finally:
            con.close()
        return
    path = resolve_db(db)
    if read_only and not path.exists():
        # Nothing to read yet: create and migrate it once, then read.
        with connect(path, read_only=False, wait=wait):
            pass
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait is None else wait)
    delay = 0.05
    while True:
        try:
            con = _open(path, read_only)
            break
        except duckdb.Error as exc:
            if not is_busy_error(exc) or time.monotonic() >= deadline:
                if is_busy_error(exc):
                    raise WarehouseBusy(
                        f"The warehouse {path} is in use by another process (an ingest or build is "
                        "running). Try again when it has finished."
                    ) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 1.6, 1.0)
    try:
        if not read_only:
            migrate(con)
        yield con
    finally:
        con.close()


# ------------------------------------------------------------------------------------------
# Schema and migrations. Each migration runs once, in order, inside a transaction; the
# schema_version table records which have run, so an older warehouse upgrades in place.
# Never edit a released migration: add a new one.
# ------------------------------------------------------------------------------------------
def _responses_ddl() -> str:
    cols = ",\n    ".join(f"{name} {sql_type}" for name, sql_type in contract.responses_columns())
    return f"CREATE TABLE responses (\n    {cols}\n)"


def _migration_1() -> list[str]:
    return [
        """CREATE TABLE uploads (
            upload_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,            -- 'responses' or 'headcount'
            file_name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            detected_format VARCHAR NOT NULL,
            wave VARCHAR,
            uploaded_by VARCHAR,
            uploaded_at TIMESTAMP NOT NULL,
            rows_read BIGINT NOT NULL,
            rows_loaded BIGINT NOT NULL,
            rows_rejected BIGINT NOT NULL,
            dropped_columns VARCHAR[],
            warnings BIGINT NOT NULL DEFAULT 0
        )""",
        # Version 1 of responses predates the contract's optional inbox column; migration 2 adds it.
        _responses_ddl().replace(",\n    inbox_messages_per_day DOUBLE", ""),
        """CREATE TABLE headcount (
            upload_id VARCHAR NOT NULL,
            wave VARCHAR,
            site VARCHAR NOT NULL,
            department VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            headcount INTEGER NOT NULL,
            replacement_cost DOUBLE
        )""",
    ]


def _migration_2() -> list[str]:
    return [
        "ALTER TABLE responses ADD COLUMN inbox_messages_per_day DOUBLE",
        """CREATE TABLE settings (
            key VARCHAR PRIMARY KEY,
            value JSON NOT NULL,
            updated_by VARCHAR,
            updated_at TIMESTAMP NOT NULL
        )""",
        """CREATE TABLE audit_log (
            logged_at TIMESTAMP NOT NULL,
            actor VARCHAR,
            action VARCHAR NOT NULL,
            object VARCHAR,
            outcome VARCHAR NOT NULL,
            detail JSON
        )""",
        "CREATE INDEX responses_wave ON responses (wave)",
        "CREATE INDEX responses_upload ON responses (upload_id)",
    ]


def _migration_3() -> list[str]:
    return [
        # Saved retention scenarios: levers with parameters, scope and results (aggregates only).
        """CREATE TABLE scenarios (
            name VARCHAR PRIMARY KEY,
            levers JSON NOT NULL,
            scope JSON NOT NULL,
            results JSON NOT NULL,
            created_by VARCHAR,
            created_at TIMESTAMP NOT NULL
        )""",
        # Model quality per wave and model: cross-validated discrimination and calibration.
        """CREATE TABLE model_diagnostics (
            wave VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            n_respondents BIGINT,
            n_fit BIGINT,
            n_events BIGINT,
            auroc DOUBLE,
            auroc_sd DOUBLE,
            observed_expected DOUBLE,
            calibration_slope DOUBLE,
            verdict VARCHAR,
            calibration_curve JSON,
            method JSON,
            built_at TIMESTAMP NOT NULL
        )""",
    ]


def _migration_4() -> list[str]:
    return [
        # Per-wave model results kept between builds (pipelines/model_cache.py): unreleased unit-level
        # tables as Parquet, used only when the fingerprint of their inputs and code still matches.
        """CREATE TABLE model_cache (
            wave VARCHAR NOT NULL,
            part VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            fingerprint VARCHAR NOT NULL,
            payload BLOB NOT NULL,
            built_at TIMESTAMP NOT NULL,
            PRIMARY KEY (wave, part, name)
        )""",
    ]


MIGRATIONS: tuple[tuple[int, str, callable], ...] = (
    (1, "uploads, responses and headcount", _migration_1),
    (2, "inbox column, settings and audit log", _migration_2),
    (3, "saved scenarios and model diagnostics", _migration_3),
    (4, "model results kept between builds", _migration_4),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("select coalesce(max(version), 0) from schema_version").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> int:
    """Apply every pending migration up to `target` (default: latest). Returns the version."""
    target = SCHEMA_VERSION if target is None else target
    con.execute(
        "create table if not exists schema_version "
        "(version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
    )
    current = schema_version(con)
    for version, description, statements in MIGRATIONS:
        if version <= current or version > target:
            continue
        con.execute("begin transaction")
        try:
            for sql in statements():
                con.execute(sql)
            con.execute(
                "insert into schema_version values (?, ?, current_timestamp)",
                [version, description],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        current = version
    return current


def is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("select count(*) from responses").fetchone()[0] == 0
