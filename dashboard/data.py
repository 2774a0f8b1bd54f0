"""The dashboard's only door to the warehouse: cached, read-only queries of the released tables.

Every page (and `dashboard/queries.py`) reads through here, never through DuckDB directly:

    from dashboard import data

    frame = data.query_released("rel_metrics", wave="2026", level="site", metric=["burnout", "itl"])
    data.has_table("rel_unit_risk")              # is a released table there (optional producers)?
    data.query_released("ref_benchmarks", metric="itl")
    data.with_connection(risk.read_diagnostics)  # any pipelines reader, short read-only connection
    data.clear_cache()                           # after an upload, delete, rebuild or settings change
    data.waves(), data.dimension_values()        # released waves / sites, departments, roles
    data.min_group_size(), data.settings_values()
    data.reading("model_diagnostics")           # a pipeline reader's result, from the same snapshot

Rules kept here so pages cannot get them wrong:
- Released tables are read through `pipelines.release.reader`, the exports' door too, and every read
  is limited to the session's scope (`auth.current_scope()`) by the reader's rule: a scoped user never
  receives a row outside the scope, and a released table that cannot be scoped (no `site` column) is,
  for a scoped user, absent. Saved scenarios are listed only when their own scope lies inside it.
- Only tables named `rel_*` / `ref_*` (released through the confidentiality layer, or public) can be
  read, and only if they exist; filter columns must be columns of that table. The table name
  comes from that allow-list and is quoted; filter values never reach SQL at all.
- Every released table (and the few pipeline readings in `_snapshot_readers`: settings, model
  diagnostics, saved scenarios) is read whole, once per build, on one short read-only connection
  (pipelines.store.warehouse.connect), then filtered in memory: released tables are aggregates and small,
  DuckDB locks the file per process, so nothing is held open across reruns, and the first page after
  a rebuild opens the warehouse once; later pages and filter changes not at all.
- Results are cached with st.cache_data keyed on the table, the filters and the warehouse file's
  modification time, so a rebuild from the CLI shows up without a restart; `clear_cache()` drops
  everything after the app itself writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from pipelines.contract import levels
from pipelines.release import access, reader
from pipelines.release.tables import TABLE_NAME
from pipelines.store import warehouse

RELEASED_TABLE = TABLE_NAME
MAX_ROWS = reader.MAX_ROWS  # a cap, so a mistaken unfiltered query cannot flood the browser
CACHE_TTL = 600  # seconds

T = TypeVar("T")


def db_path() -> Path:
    """The warehouse file: $CLINRET_DB, else data/warehouse.duckdb."""
    return warehouse.resolve_db(None)


def _stamp() -> float:
    """Changes whenever the warehouse file is written, so cached reads go stale with it."""
    try:
        return os.stat(db_path()).st_mtime
    except OSError:
        return 0.0


def with_connection(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn(con, *args, **kwargs)` on a short read-only connection (not cached)."""
    with warehouse.connect(db_path(), read_only=True) as con:
        return fn(con, *args, **kwargs)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything the pages read from one build of the warehouse, read on one connection."""

    columns: dict[str, list[str]]  # released table -> its columns, in order
    tables: dict[str, pd.DataFrame]  # released table -> the whole table (shared: never mutate)
    readings: dict[str, Any]  # _snapshot_readers() name -> that reader's result
    released: reader.ReleasedTables  # the same tables as the reader gives them (scope them with it)


def _snapshot_readers() -> dict[str, Callable[[Any], Any]]:
    """Pipeline readers (each takes a connection) whose results every page may need; they are read
    with the released tables, so a page after a rebuild opens the warehouse once, not once per read."""
    from pipelines import scenarios
    from pipelines.models import assumptions, risk  # noqa: F401  (assumptions registers settings)
    from pipelines.store import settings

    return {
        "settings": settings.get_all,
        "model_diagnostics": risk.read_diagnostics,
        "saved_scenarios": scenarios.list_scenarios,
    }


@st.cache_resource(ttl=CACHE_TTL, max_entries=2, show_spinner=False)
def _snapshot(db: str, stamp: float) -> Snapshot:
    """Every released table, their columns and the readers above, read once per build on one short
    read-only connection (~15 ms to open at 1M responses; the tables are aggregates, a few MB in all).
    Nothing is held open across reruns: DuckDB's file lock would shut out a writer in another process.
    Held as a shared resource (not copied on every hit): callers only ever filter it into new frames."""
    with warehouse.connect(db, read_only=True) as con:
        released = reader.read_all(con)
        readings = {name: read(con) for name, read in _snapshot_readers().items()}
    return Snapshot(released.columns, released.tables, readings, released)


def snapshot() -> Snapshot:
    """The current build's snapshot (re-read when the warehouse file changes)."""
    return _snapshot(str(db_path()), _stamp())


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
    db: str, stamp: float, table: str, allowed: access.Scope, filters: tuple, order_by: tuple, limit: int
) -> pd.DataFrame:
    frame = _snapshot(db, stamp).released.table(table, allowed)  # the scope rule, before anything else
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
    return _query(str(db_path()), _stamp(), table, scope(), frozen, tuple(order_by), limit)


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
    (serve.py), so the first visit does not pay for it. Returns whether a build was read; an
    empty or missing warehouse is left to the first visit (ensure_warehouse loads the sample)."""
    import importlib
    import logging

    for module in ("dashboard.components", "dashboard.filters", "dashboard.queries", "pipelines.charts"):
        importlib.import_module(module)
    path = db_path()
    if not path.exists():
        return False
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    try:
        with warehouse.connect(path, read_only=True, wait=0):
            pass  # held by an ingest or a build right now: do not hold up the server's start for it
        return bool(snapshot().tables)  # outside a session: fills the process-wide st.cache_resource
    except Exception:  # noqa: BLE001 - a busy or old warehouse: the first visit reads it instead
        logging.getLogger(__name__).warning("Warm-up could not read %s; the first visit will.", path, exc_info=True)
        return False


@st.cache_resource(show_spinner=False)
def ensure_warehouse(db: str) -> list[str]:
    """Once per process: load the bundled sample into an empty warehouse (a fresh machine shows
    the sample health system). Returns what was loaded, empty when the warehouse had data."""
    from pipelines.ingest import first_run as bootstrap

    return bootstrap.ensure_sample(db)


def settings_values() -> dict[str, Any]:
    """Every registered setting's current value (defaults where none was saved)."""
    return reading("settings")


def min_group_size() -> int:
    """The anonymity threshold k the released tables were built with."""
    return int(settings_values()["min_group_size"])


def clear_cache() -> None:
    """Drop every cached read: call after the app writes (upload, delete, rebuild, settings)."""
    st.cache_data.clear()
    _snapshot.clear()


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
        clear_cache()
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

    with _temporary_file(content, name) as path:
        result = ingest_headcount(path, db=db_path(), uploaded_by=uploaded_by, original_name=name)
    if result.status == "loaded" and (problem := rebuild()):
        result.warnings.append(problem)
    return result


def uploads() -> pd.DataFrame:
    """Upload history (newest last), not cached: it is short and must be current."""
    from pipelines.ingest import list_uploads

    return pd.DataFrame(list_uploads(db_path()))


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

    return with_connection(saved_mapping_for, list(columns))


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

    rows = with_connection(audit.entries, since=since, action=action or None, actor=actor or None)
    return pd.DataFrame(rows, columns=["logged_at", "actor", "action", "object", "outcome", "detail"])
