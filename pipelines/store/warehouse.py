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
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "CLINRET_DB"
LOCK_WAIT_SECONDS = float(os.environ.get("CLINRET_LOCK_WAIT", "60"))
T = TypeVar("T")


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse for longer than we were willing to wait."""


class WarehouseMissing(FileNotFoundError):
    """connect(create=False) was asked for a warehouse file that does not exist."""


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


def retry_while_busy(action: Callable[[], T], *, path: Path | str, wait: float | None = None) -> T:
    """Run `action` (an open or an attach of the warehouse), retrying with back-off while another
    process holds the file, for up to `wait` seconds (default CLINRET_LOCK_WAIT); then raise
    WarehouseBusy with a readable message. Any other error is raised at once."""
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait is None else wait)
    delay = 0.05
    while True:
        try:
            return action()
        except duckdb.Error as exc:
            if not is_busy_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"The warehouse {path} is in use by another process (an ingest or build is "
                    "running). Try again when it has finished."
                ) from exc
            time.sleep(delay)
            delay = min(delay * 1.6, 1.0)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back (and the error raised) when it
    fails or is interrupted. Every multi-statement write in the project goes through this."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    return duckdb.connect(str(path), read_only=read_only, config=config)


@contextlib.contextmanager
def connect(
    db: str | os.PathLike | None = None,
    *,
    read_only: bool = False,
    wait: float | None = None,
    create: bool = True,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (migrating it when opened for writing) and close it afterwards.

    ":memory:" gives a fresh in-memory warehouse. A file that does not exist is created and
    migrated (the app's and the build's first run); with create=False it is not, and
    WarehouseMissing is raised instead (readers for which a missing file is a mistake, such as
    a typo in the CLI's --db). While another process holds the file, retry with back-off for up
    to `wait` seconds, then raise WarehouseBusy with a readable message.
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
    if not create and not path.exists():
        raise WarehouseMissing(f"The warehouse {path} does not exist.")
    if read_only and not path.exists():
        # Nothing to read yet: create and migrate it once, then read.
        with connect(path, read_only=False, wait=wait):
            pass
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = retry_while_busy(lambda: _open(path, read_only), path=path, wait=wait)
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
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    path: Path

    def statements(self) -> list[str]:
        """The file's statements, split at a semicolon that ends a line (comments dropped)."""
        text = "\n".join(
            line for line in self.path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("--")
        )
        return [s.strip() for s in re.split(r";\s*$", text, flags=re.M) if s.strip()]


def _migrations() -> tuple[Migration, ...]:
    """pipelines/store/migrations/NNN_name.sql in version order; the first line names it."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        description = first.split(":", 1)[1].strip().rstrip(".") if ":" in first else path.stem
        found.append(Migration(int(path.name[:3]), description, path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"Migrations in {MIGRATIONS_DIR} must be numbered 001, 002, … without gaps: {versions}")
    return tuple(found)


MIGRATIONS: tuple[Migration, ...] = _migrations()
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    return con.execute("select coalesce(max(version), 0) from schema_version").fetchall()[0][0]


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> int:
    """Apply every pending migration up to `target` (default: latest). Returns the version."""
    target = SCHEMA_VERSION if target is None else target
    con.execute(
        "create table if not exists schema_version "
        "(version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
    )
    current = schema_version(con)
    for migration in MIGRATIONS:
        version, description = migration.version, migration.description
        if version <= current or version > target:
            continue
        with transaction(con):
            for sql in migration.statements():
                con.execute(sql)
            con.execute(
                "insert into schema_version values (?, ?, current_timestamp)",
                [version, description],
            )
        current = version
    return current


def is_empty(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("select count(*) from responses").fetchone()[0] == 0
