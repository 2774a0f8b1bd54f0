"""The dashboard's only door to the released data: cached reads of the current published snapshot.

Every page (and `dashboard/queries.py`) reads through here, never through DuckDB directly:

    from dashboard import data

    frame = data.query_released("rel_metrics", wave="2026", level="site", metric=["burnout", "itl"])
    data.has_table("rel_unit_risk")              # is a released table there (optional producers)?
    data.query_released("ref_benchmarks", metric="itl")
    data.with_connection(risk.read_diagnostics)  # any pipelines reader, on a private in-memory copy
    data.clear_cache()                           # after the app itself writes (republishes scenarios)
    data.waves(), data.dimension_values()        # released waves / sites, departments, roles
    data.min_group_size(), data.settings_values()
    data.reading("model_diagnostics")           # a pipeline reader's result, from the same snapshot

Where the pages' data comes from:
- The released tables and the readings (settings, model diagnostics, saved scenarios) come from the
  CURRENT published snapshot (`pipelines.release.publish`: Parquet files and a manifest that every build
  writes, swapped in by an atomic rename), read whole once per build id and then filtered in memory. No
  page opens the warehouse file for them, so a reader never holds a lock a writer needs (DuckDB locks the
  file per process) and always sees one build whole. Only while nothing is published are they read from
  the warehouse, on one short read-only connection, keyed by the file's modification time (the first
  visit publishes a warehouse built before snapshots existed: `ensure_warehouse`).
- Running or comparing scenarios and any other pipelines reader (`with_connection`) run on a private
  in-memory copy of the warehouse (`build.memory_copy`), made once per warehouse change: the file is
  attached read-only only while it is copied (~0.1 s for the sample), never while a scenario computes.
- The Uploads list, the audit log and a saved column mapping are read on a very short read-only
  connection (one small query): they must be current and change without a build.
- After the app writes: an upload, a deletion or a settings change rebuild (which publishes a new
  snapshot); a saved scenario is republished into the snapshot by `clear_cache()`.

Rules kept here so pages cannot get them wrong:
- Released tables are read through `pipelines.release.reader`, the exports' door too, and every read
  is limited to the session's scope (`auth.current_scope()`) by the reader's rule: a scoped user never
  receives a row outside the scope, and a released table that cannot be scoped (no `site` column) is,
  for a scoped user, absent. Saved scenarios are listed only when their own scope lies inside it.
- Only tables named `rel_*` / `ref_*` (released through the confidentiality layer, or public) can be
  read, and only if they exist; filter columns must be columns of that table. The table name
  comes from that allow-list and is quoted; filter values never reach SQL at all.
- Results are cached with st.cache_data keyed on the table, the filters and the snapshot's build id,
  so a build from the CLI (or another replica's upload) shows up without a restart; `clear_cache()`
  drops everything after the app itself writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd
import streamlit as st

from pipelines.contract import levels
from pipelines.release import access, publish, reader
from pipelines.release.tables import TABLE_NAME
from pipelines.store import warehouse

RELEASED_TABLE = TABLE_NAME
MAX_ROWS = reader.MAX_ROWS  # a cap, so a mistaken unfiltered query cannot flood the browser
CACHE_TTL = 600  # seconds

T = TypeVar("T")


def db_path() -> Path:
    """The warehouse file: $CLINRET_DB, else data/warehouse.duckdb."""
    return warehouse.resolve_db(None)


def release_root() -> Path:
    """The published snapshots' folder: $CLINRET_RELEASES, else releases/ beside the warehouse."""
    return publish.default_root(db_path())


def _stamp() -> float:
    """Changes whenever the warehouse file (or its write-ahead log) is written."""
    path = db_path()
    stamps = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(OSError):
            stamps.append(os.stat(candidate).st_mtime_ns / 1e9)
    return max(stamps, default=0.0)


def _key() -> str:
    """What the cached reads are keyed by: the current snapshot's build id (one small file read, no
    warehouse opened), or, before the first publish, the warehouse file's modification time."""
    try:
        build_id = publish.current_id(release_root())
    except publish.SnapshotMissing:
        logging.getLogger(__name__).warning("The current release is unreadable; reading the warehouse.", exc_info=True)
        build_id = None
    return build_id if build_id is not None else f"{WAREHOUSE_KEY}{_stamp()}"


WAREHOUSE_KEY = "warehouse@"  # a _key() that is not a build id: nothing has been published yet


@st.cache_resource(ttl=CACHE_TTL, max_entries=1, show_spinner=False)
def _private_copy(db: str, stamp: float) -> duckdb.DuckDBPyConnection:
    """An in-memory copy of the warehouse, made once per change of the file; shared by the threads of
    this process, each through its own cursor."""
    from pipelines.release import build

    return build.copy_into_memory(db)


def with_connection(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn(con, *args, **kwargs)` on a cursor of a private in-memory copy of the warehouse (not
    cached itself): a scenario that computes for seconds never holds the file a writer needs."""
    cursor = _private_copy(str(db_path()), _stamp()).cursor()
    try:
        return fn(cursor, *args, **kwargs)
    finally:
        cursor.close()


def _short_read(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(con, …)` on a very short read-only connection: one small query that must be current."""
    with warehouse.connect(db_path(), read_only=True) as con:
        return fn(con, *args, **kwargs)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything the pages read from one build: its published snapshot, read once."""

    columns: dict[str, list[str]]  # released table -> its columns, in order
    tables: dict[str, pd.DataFrame]  # released table -> the whole table (shared: never mutate)
    readings: dict[str, Any]  # _snapshot_readers() name -> that reader's result
    released: reader.ReleasedTables  # the same tables as the reader gives them (scope them with it)
    build_id: str | None = None  # the published build read (None: read from the warehouse)


def _snapshot_readers() -> dict[str, Callable[[Any], Any]]:
    """Pipeline readers (each takes a connection) whose results every page may need; the build
    publishes them with the released tables (publish.app_extras), under the same names."""
    from pipelines import scenarios
    from pipelines.models import assumptions, risk  # noqa: F401  (assumptions registers settings)
    from pipelines.store import settings

    return {
        "settings": settings.get_all,
        "model_diagnostics": risk.read_diagnostics,
        "saved_scenarios": scenarios.list_scenarios,
    }


@st.cache_resource(ttl=CACHE_TTL, max_entries=2, show_spinner=False)
def _snapshot(db: str, key: str) -> Snapshot:
    """Every released table, their columns and the readings above for one build: from its published
    snapshot (Parquet, no warehouse opened), or before the first publish from the warehouse on one
    short read-only connection. Held as a shared resource (not copied on every hit): callers only ever
    filter it into new frames."""
    if not key.startswith(WAREHOUSE_KEY):
        snap = publish.snapshot(publish.default_root(db), key)
        if snap is not None:
            return _from_published(snap)
    with warehouse.connect(db, read_only=True) as con:
        released = reader.read_all(con)
        readings = {name: read(con) for name, read in _snapshot_readers().items()}
    return Snapshot(released.columns, released.tables, readings, released)


def _from_published(snap: publish.Snapshot) -> Snapshot:
    tables = {name: publish.read_table(snap, name) for name in snap.tables}
    extras = {name: publish.read_table(snap, name) for name in snap.extras}
    readings = {name: extras[name] for name in _snapshot_readers() if name in extras}
    readings["settings"] = publish.settings_from_frame(extras["settings"])
    kinds_frame = extras.get("release_manifest")
    manifest = {} if kinds_frame is None else dict(zip(kinds_frame["table_name"], kinds_frame["kind"], strict=True))
    built_at = None
    if kinds_frame is not None and kinds_frame["built_at"].notna().any():
        built_at = pd.Timestamp(kinds_frame["built_at"].max()).to_pydatetime()
    released = reader.ReleasedTables(
        columns={name: [str(c) for c in frame.columns] for name, frame in tables.items()},
        tables=tables,
        kinds={name: reader.kind_of(name, manifest) for name in tables},
        built_at=built_at,
        scenarios=publish.saved_scenarios(extras.get("scenarios")),
    )
    return Snapshot(released.columns, released.tables, readings, released, snap.build_id)


def snapshot() -> Snapshot:
    """The current build's snapshot (re-read when a new build is published)."""
    return _snapshot(str(db_path()), _key())


def reading(name: str) -> Any:
    """A pipeline reader's result from the snapshot ("settings", "model_diagnostics",
    "saved_scenarios"); treat it as read-only. Saved scenarios: those inside the session's scope."""
    snap = snapshot()
    value = snap.readings[name]
    if name == "saved_scenarios":
        allowed = scope()
        if not allowed.everything:
            names = {s.name for s in snap.released.scenarios_in(allowed)}
            value = value[value["name"].isin(names)].reset_index(drop=True)
    return value


def released_tables() -> dict[str, list[str]]:
    """Released/public tables this session can read, with their columns in order (a table that
    cannot be limited to the session's scope is not among them)."""
    allowed = scope()
    return {name: cols for name, cols in snapshot().columns.items() if reader.shown(name, cols, allowed)}


def has_table(table: str) -> bool:
    return table in released_tables()


@st.cache_data(ttl=CACHE_TTL, max_entries=512, show_spinner=False)
def _query(
    db: str, key: str, table: str, allowed: access.Scope, filters: tuple, order_by: tuple, limit: int
) -> pd.DataFrame:
    frame = _snapshot(db, key).released.table(table, allowed)  # the scope rule, before anything else
    if frame is None:  # left out of this scope's view (released_tables() does not list it)
        return pd.DataFrame()
    keep = pd.Series(True, index=frame.index)
    for column, value in filters:
        if value is None:
            continue  # None = no filter on this column
        if isinstance(value, tuple):
            keep &= frame[column].isin(list(value)).fillna(False).astype(bool)
        else:
            keep &= (frame[column] == value).fillna(False).astype(bool)
    out = frame[keep]
    if order_by:
        out = out.sort_values(list(order_by), na_position="first", kind="stable")
    return out.head(int(limit)).reset_index(drop=True)


def query_released(
    table: str,
    *,
    order_by: Iterable[str] = (),
    limit: int = MAX_ROWS,
    **filters: Any,
) -> pd.DataFrame:
    """Rows of a released table, filtered by column equality; an empty frame if the table is absent.

    `filters` maps column -> value: a scalar means `column = value`, a list/tuple means
    `column in (...)`, None means "no filter". Unknown tables or columns raise ValueError; an
    absent (not yet built) table returns an empty frame, so pages can show an empty state.
    Rows are limited to the session's scope (`pipelines.release.reader.in_scope`); a table that
    cannot be limited to it reads as absent. Treat the result as read-only (it is shared by the cache).
    """
    if not RELEASED_TABLE.match(table):
        raise ValueError(f"Only released tables (rel_*/ref_*) can be read, not {table!r}.")
    tables = released_tables()
    if table not in tables:
        return pd.DataFrame()
    known = set(tables[table])
    unknown = [c for c in [*filters, *order_by] if c not in known]
    if unknown:
        raise ValueError(f"{table} has no column(s) {unknown}.")
    frozen = tuple(
        sorted((c, tuple(v) if isinstance(v, (list, tuple, set, frozenset)) else v) for c, v in filters.items())
    )
    # a scoped user never receives rows outside the scope: the reader's rule, inside the cached read
    return _query(str(db_path()), _key(), table, scope(), frozen, tuple(order_by), limit)


def scope() -> access.Scope:
    """The part of the organisation this session may see (the whole of it in local mode)."""
    from dashboard import auth

    return auth.current_scope()


def waves() -> list[str]:
    """Released waves, oldest first."""
    frame = query_released("rel_groups", level=["organisation", "site"], order_by=["wave"])
    return [] if frame.empty else [str(w) for w in frame["wave"].dropna().unique()]


def dimension_values() -> dict[str, list[str]]:
    """Known (released, unsuppressed) values of site, department and role: the filter allow-list."""
    frame = query_released("rel_groups", level=["site", "department", "role", "site_role"], suppressed=False)
    out: dict[str, list[str]] = {}
    for column in levels.DIMENSIONS:
        values = frame[column].dropna().unique().tolist() if not frame.empty else []
        out[column] = sorted(str(v) for v in values)
    return out


def departments_by_site() -> dict[str, list[str]]:
    frame = query_released("rel_groups", level="department", suppressed=False)
    out: dict[str, list[str]] = {}
    for row in frame.itertuples(index=False):
        out.setdefault(str(row.site), []).append(str(row.department))
    return {site: sorted(set(deps)) for site, deps in out.items()}


def warm_up() -> bool:
    """Import what every page needs and read the current build's snapshot, once, at server start
    (serve.py), so the first visit does not pay for it. Returns whether a build was read; before the
    first publish an empty, missing or busy warehouse is left to the first visit (ensure_warehouse
    loads the sample)."""
    import importlib

    for module in ("dashboard.components", "dashboard.filters", "dashboard.queries", "pipelines.charts"):
        importlib.import_module(module)
    path = db_path()
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    try:
        if _key().startswith(WAREHOUSE_KEY):  # nothing published yet: the warehouse, if it is free now
            if not path.exists():
                return False
            with warehouse.connect(path, read_only=True, wait=0):
                pass  # held by an ingest or a build right now: do not hold up the server's start for it
        return bool(snapshot().tables)  # outside a session: fills the process-wide st.cache_resource
    except Exception:  # noqa: BLE001 - a busy or old warehouse: the first visit reads it instead
        logging.getLogger(__name__).warning("Warm-up could not read %s; the first visit will.", path, exc_info=True)
        return False


@st.cache_resource(show_spinner=False)
def ensure_warehouse(db: str) -> list[str]:
    """Once per process: load the bundled sample into an empty warehouse (a fresh machine shows
    the sample health system), or publish a built warehouse that has no snapshot yet. Returns what
    was loaded, empty when the warehouse had data."""
    from pipelines.ingest import first_run as bootstrap

    loaded = bootstrap.ensure_sample(db)  # its build publishes the first snapshot
    if not loaded and publish.current_id(publish.default_root(db)) is None:
        try:  # a warehouse built before snapshots existed: publish its stored build once
            publish.publish_stored(db)
        except Exception:  # noqa: BLE001 - the pages read the warehouse instead (see _snapshot)
            logging.getLogger(__name__).warning("Could not publish the stored build of %s.", db, exc_info=True)
    return loaded


def settings_values() -> dict[str, Any]:
    """Every registered setting's current value (defaults where none was saved)."""
    return reading("settings")


def min_group_size() -> int:
    """The anonymity threshold k the released tables were built with."""
    return int(settings_values()["min_group_size"])


def clear_cache(*, republish: bool = True) -> None:
    """Drop every cached read: call after the app writes (upload, delete, rebuild, settings, a saved
    scenario). With `republish` (the default) the saved scenarios are republished into the current
    snapshot first, so every replica lists the one just saved; a rebuild has published already."""
    if republish:
        republish_scenarios()
    st.cache_data.clear()
    _snapshot.clear()
    _private_copy.clear()


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return list(a.columns) == list(b.columns) and a.astype(str).values.tolist() == b.astype(str).values.tolist()


def republish_scenarios() -> bool:
    """A new snapshot with the current one's tables and the warehouse's saved scenarios (after the app
    saves one), when they differ from the snapshot's. Returns whether one was published (False when
    nothing changed, before the first build, or when it failed: the scenario is stored and the next
    build publishes it)."""
    root = release_root()
    try:
        snap = publish.current(root)
        if snap is None:
            return False
        with warehouse.connect(db_path(), read_only=True) as con:  # two small reads
            extras = publish.scenario_extras(con)
        if "scenarios" in snap.extras and _same_rows(publish.read_table(snap, "scenarios"), extras["scenarios"]):
            return False  # nothing new saved (a cache clear after another write)
        publish.republish(root, extras=extras, keep=publish.keep_setting())
    except Exception:  # noqa: BLE001 - the scenario itself is stored; say so in the log
        logging.getLogger(__name__).warning("Could not republish the saved scenarios.", exc_info=True)
        return False
    return True


# ------------------------------------------------------------------------------------------
# Writes. Each opens the warehouse for writing only inside the pipeline call, then the caller
# clears the cache. Uploaded bytes go to a temporary file named by us (never by the uploader),
# deleted afterwards.
# ------------------------------------------------------------------------------------------
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")


@contextlib.contextmanager
def _temporary_file(content: bytes, original_name: str) -> Iterator[Path]:
    suffix = Path(original_name).suffix.lower()
    suffix = suffix if suffix in UPLOAD_SUFFIXES else ".csv"
    with tempfile.NamedTemporaryFile(prefix="clinret-upload-", suffix=suffix, delete=False) as handle:
        path = Path(handle.name)
        handle.write(content)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def _optional_file(content: bytes | None, name: str) -> Iterator[Path | None]:
    if content is None:
        yield None
        return
    with _temporary_file(content, name) as path:
        yield path


def rebuild() -> str | None:
    """Rebuild every released table and clear the cache. Returns None, or why the build failed
    (the previous build stays in place: build writes all tables in one transaction)."""
    from pipelines.release import build

    try:
        build.build(db_path())
    except Exception as exc:  # noqa: BLE001 - shown to the user; the data itself is safely stored
        return f"The released tables could not be rebuilt ({exc}); pages still show the previous build."
    finally:
        clear_cache(republish=False)  # the build published its snapshot
    return None


def _ingest(content: bytes, name: str, dictionary: bytes | None, **kwargs: Any):
    from pipelines.ingest import ingest

    with (
        _temporary_file(content, name) as path,
        _optional_file(dictionary, "dictionary.csv") as dictionary_path,
        _temporary_file(b"", "rejected.csv") as rejected,
    ):
        result = ingest(
            path, db=db_path(), original_name=name, dictionary=dictionary_path, rejected_out=rejected, **kwargs
        )
        return result, rejected.read_bytes()


@st.cache_data(max_entries=8, show_spinner=False)
def _dry_run(file_key: str, _content: bytes, name: str, _dictionary: bytes | None, dictionary_key: str, **kwargs):
    return _ingest(_content, name, _dictionary, dry_run=True, **kwargs)


def dry_run_upload(
    content: bytes,
    name: str,
    *,
    file_key: str,
    wave: str | None,
    fmt: str = "auto",
    mapping_json: str | None = None,
    dictionary: bytes | None = None,
    replace: bool = False,
):
    """Validate an upload without storing it: (IngestResult with preview/mapping/errors, rejected-rows
    CSV bytes). Cached per file, wave, format and mapping, so reruns do not re-read the file."""
    from pipelines.ingest import parse_mapping

    mapping = parse_mapping(json.loads(mapping_json)) if mapping_json else None
    stamp = _stamp()  # a new upload elsewhere can make this one a duplicate
    dictionary_key = hashlib.sha256(dictionary).hexdigest() if dictionary else ""
    return _dry_run(
        f"{file_key}:{stamp}", content, name, dictionary, dictionary_key,
        wave=wave or None, fmt=fmt, mapping=mapping, replace=replace,
    )  # fmt: skip


def load_upload(
    content: bytes,
    name: str,
    *,
    wave: str | None,
    fmt: str = "auto",
    mapping_json: str | None = None,
    dictionary: bytes | None = None,
    replace: bool = False,
    uploaded_by: str | None = None,
    progress: Callable[[float, str], None] | None = None,
):
    """Load for real (all or nothing), rebuild the released tables, clear the cache."""
    from pipelines.ingest import parse_mapping

    mapping = parse_mapping(json.loads(mapping_json)) if mapping_json else None
    result, _ = _ingest(
        content, name, dictionary, wave=wave or None, fmt=fmt, mapping=mapping, replace=replace,
        uploaded_by=uploaded_by, progress=progress,
    )  # fmt: skip
    if result.status == "loaded":
        if progress:
            progress(0.9, "Rebuilding the released tables")
        if problem := rebuild():
            result.warnings.append(problem)
    return result


def load_headcount(content: bytes, name: str, uploaded_by: str | None = None):
    """Load a headcount roster, rebuild, clear the cache."""
    from pipelines.ingest import ingest_headcount

    return _load_and_rebuild(ingest_headcount, content, name, uploaded_by)


def load_turnover(content: bytes, name: str, uploaded_by: str | None = None):
    """Load aggregate separations (turnover), rebuild, clear the cache: the forecast is then checked."""
    from pipelines.ingest.turnover import ingest_turnover

    return _load_and_rebuild(ingest_turnover, content, name, uploaded_by)


def _load_and_rebuild(ingest_file: Callable, content: bytes, name: str, uploaded_by: str | None):
    """An aggregate file (roster, turnover) loaded from a temporary file, then the release rebuilt."""
    with _temporary_file(content, name) as path:
        result = ingest_file(path, db=db_path(), uploaded_by=uploaded_by, original_name=name)
    if result.status == "loaded" and (problem := rebuild()):
        result.warnings.append(problem)
    return result


def uploads() -> pd.DataFrame:
    """Upload history (newest last), not cached: it is short and must be current."""
    from pipelines.ingest import list_uploads

    return pd.DataFrame(list_uploads(db_path()))  # its own very short read-only connection


def delete_upload(upload_id: str, actor: str | None = None) -> dict:
    """Delete an upload and its rows, rebuild, clear the cache."""
    from pipelines.ingest import delete_upload as delete

    outcome = delete(upload_id, db_path(), actor=actor)
    outcome["rebuild_problem"] = rebuild()
    return outcome


def read_mapping(raw: bytes) -> tuple[dict, str | None]:
    """An uploaded mapping file as a dict, or ({}, a readable reason it cannot be used)."""
    from pipelines.ingest import InputError, parse_mapping

    try:
        mapping = json.loads(raw.decode("utf-8-sig"))
        parse_mapping(mapping, "the mapping file")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"The mapping file is not valid JSON ({exc.__class__.__name__}); it was not used."
    except InputError as exc:
        return {}, f"{exc} It was not used."
    return mapping, None


def saved_mapping(columns: list[str]):
    """The mapping saved for this column layout, if any (auto-applied when a layout returns)."""
    from pipelines.ingest import saved_mapping_for

    return _short_read(saved_mapping_for, list(columns))


def save_mapping(columns: list[str], mapping_json: str, saved_by: str | None = None) -> str:
    from pipelines.ingest import parse_mapping
    from pipelines.ingest import save_mapping as save

    with warehouse.connect(db_path()) as con:
        return save(con, list(columns), parse_mapping(json.loads(mapping_json)), saved_by)


def save_settings(values: dict[str, Any], actor: str | None = None) -> str | None:
    """Validate and store settings in one transaction, then rebuild; returns a rebuild problem or None."""
    from pipelines.models import assumptions  # noqa: F401  (assumptions registers its settings)
    from pipelines.store import settings

    with warehouse.connect(db_path()) as con, warehouse.transaction(con):
        for key, value in values.items():
            settings.put(con, key, value, updated_by=actor)
    return rebuild()


def export(fmt: str, *, wave: str | None, site: str | None, department: str | None, actor: str | None, progress=None):
    """Build one export (pdf, xlsx, pptx, csv) of the released tables for a scope; audited by the
    pipeline. Returns (bytes, file name, mime type); raises reports.ScopeError for a hidden scope."""
    from pipelines import reports

    return reports.build_export(
        fmt, db=db_path(), wave=wave, site=site, department=department, actor=actor, progress=progress
    )


def audit_entries(since=None, action: str | None = None, actor: str | None = None) -> pd.DataFrame:
    """The audit log, newest first (admins only: the router registers its page for admins)."""
    from pipelines.store import audit

    rows = _short_read(audit.entries, since=since, action=action or None, actor=actor or None)
    return pd.DataFrame(rows, columns=["logged_at", "actor", "action", "object", "outcome", "detail"])
