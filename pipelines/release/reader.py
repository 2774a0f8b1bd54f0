"""The one door to the release: read the released tables for a viewer's scope.

The dashboard's data layer (`dashboard/data.py`) and every export (`pipelines/reports/data.py`) read
released results through here, so both apply the same scope rule, once:

    released = reader.read_all(con)            # every rel_*/ref_* table, whole (one read per build)
    view = released.view(Scope("Riverside"))    # the rows inside a scope
    view.tables["rel_metrics"], view.left_out   # name -> rows in scope; name -> why it is not there

    reader.in_scope(name, frame, scope)         # the rule itself, for one table (None = left out)

The rule (see `pipelines.release.scope` for the rows it keeps):
- `ref_*` tables are public reference figures, not about anyone's staff: shown whole in every scope.
- `rel_*` tables are limited to the scope with `Scope.keep`.
- A `rel_*` table that cannot be scoped (no `site` column, or no `department` column for a department
  scope) is LEFT OUT of a scoped view, never shown whole: a table that cannot be limited to a site
  might hold other sites' people. The whole organisation sees it.
- Saved scenarios are in scope when their own site/department lie inside the scope.

Only tables named `rel_*`/`ref_*` (`tables.TABLE_NAME`) are read; names come from the catalog,
are pattern-checked and quoted.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.contract.levels import DIMENSIONS
from pipelines.release import tables as catalogue
from pipelines.release.scope import Scope

MAX_ROWS = 200_000  # a cap, so a mistaken table cannot flood a page or an export
NOT_SCOPABLE = "it has no site column, so it cannot be limited to the scope"


# ------------------------------------------------------------------------------------------
# The rule
# ------------------------------------------------------------------------------------------
def shown(name: str, columns, scope: Scope | None) -> bool:
    """Is released table `name` (with these columns) part of the view of `scope` at all?"""
    return scope is None or scope.everything or name.startswith("ref_") or scope.can_scope(columns)


def in_scope(name: str, frame: pd.DataFrame, scope: Scope | None) -> pd.DataFrame | None:
    """The rows of released table `name` a viewer with `scope` sees; None when the table is left
    out of the scoped view (a rel_* table that cannot be scoped)."""
    if not shown(name, frame.columns, scope):
        return None
    if scope is None or scope.everything or name.startswith("ref_"):
        return frame
    return scope.keep(frame)


def ordered(names) -> list[str]:
    """Released table names in export order: tables.PREFERRED_ORDER first, then by name."""
    names = list(names)
    return [n for n in catalogue.PREFERRED_ORDER if n in names] + sorted(
        n for n in names if n not in catalogue.PREFERRED_ORDER
    )


# ------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------
def released_columns(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """Released/public tables present: name -> its columns in order, and name -> its column types."""
    rows = con.execute(
        "select table_name, column_name, data_type from duckdb_columns() "
        "where schema_name = 'main' and not internal order by table_name, column_index"
    ).fetchall()
    columns: dict[str, list[str]] = {}
    types: dict[str, set[str]] = {}
    for table, column, data_type in rows:
        if catalogue.is_released_name(table):
            columns.setdefault(table, []).append(column)
            types.setdefault(table, set()).add(data_type)
    return columns, types


# Column types the Arrow path below converts exactly as DuckDB's .df() would (a test compares the
# two on every released table); a table with any other type is read with .df().
_ARROW_TYPES = frozenset({"VARCHAR", "BOOLEAN", "DOUBLE", "BIGINT"})
_NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}


def read_table(con: duckdb.DuckDBPyConnection, table: str, types: set[str]) -> pd.DataFrame:
    """A whole released table as pandas, the same frame as `.df()` gives, in about half the time
    (DuckDB's .df() builds Python strings and pandas then converts them to its str dtype again).
    Integers and booleans take pandas' nullable dtypes only where the column has a null, as .df()
    does."""
    if not catalogue.is_released_name(table):
        raise ValueError(f"Only released tables (rel_*/ref_*) can be read, not {table!r}.")
    query = f'select * from "{table}" limit {MAX_ROWS}'  # name pattern-checked above, quoted
    if not types <= _ARROW_TYPES:
        return con.execute(query).df()
    arrow = con.sql(query).to_arrow_table()
    frame = arrow.to_pandas(types_mapper=_NULLABLE.get)
    for name, column in zip(arrow.column_names, arrow.columns, strict=True):
        dtype = frame[name].dtype
        if column.null_count == 0 and isinstance(dtype, (pd.Int64Dtype, pd.BooleanDtype)):
            frame[name] = frame[name].to_numpy(dtype=dtype.numpy_dtype)
    return frame


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute("select count(*) from information_schema.tables where table_name = ?", [name]).fetchone()[0]
    )


def _manifest(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], dt.datetime | None]:
    if not has_table(con, "release_manifest"):
        return {}, None
    rows = con.execute("select table_name, kind, built_at from release_manifest").fetchall()
    built = max((r[2] for r in rows if r[2] is not None), default=None)
    return {r[0]: r[1] for r in rows}, built


def kind_of(name: str, manifest: dict[str, str]) -> str:
    """metrics | model | intentions | public: the manifest's word, else the catalogue's, else a guess."""
    if name.startswith("ref_"):
        return "public"
    if manifest.get(name):
        return manifest[name]
    if name in catalogue.CATALOGUE:
        return catalogue.CATALOGUE[name].kind
    return "intentions" if ("intention" in name or "reason" in name or "path" in name) else "metrics"


@dataclass(frozen=True)
class SavedScenario:
    name: str
    levers: list
    scope: dict[str, str | None]  # wave, site, department, role (None = all)
    results: pd.DataFrame
    created_by: str | None
    created_at: Any

    @property
    def wave(self) -> str | None:
        if self.scope.get("wave"):
            return self.scope["wave"]
        return str(self.results["wave"].iloc[0]) if "wave" in self.results and len(self.results) else None


def read_scenarios(con: duckdb.DuckDBPyConnection) -> list[SavedScenario]:
    """Every saved scenario, oldest first (not yet limited to a scope)."""
    if not has_table(con, "scenarios"):
        return []
    rows = con.execute(
        "select name, levers, scope, results, created_by, created_at from scenarios order by created_at, name"
    ).fetchall()
    out = []
    for name, levers, sc_scope, results, created_by, created_at in rows:
        sc = json.loads(sc_scope) if sc_scope else {}
        sc = {key: (None if sc.get(key) in ("", None) else str(sc.get(key))) for key in ("wave", *DIMENSIONS)}
        out.append(
            SavedScenario(
                name=str(name),
                levers=json.loads(levers) if levers else [],
                scope=sc,
                results=pd.DataFrame(json.loads(results) if results else []),
                created_by=created_by,
                created_at=created_at,
            )
        )
    return out


@dataclass(frozen=True)
class View:
    """The released tables as a scope sees them."""

    scope: Scope
    tables: dict[str, pd.DataFrame]  # name -> rows in scope, in export order
    kinds: dict[str, str]  # name -> metrics | model | intentions | public
    left_out: dict[str, str]  # name -> why it is not in this view
    scenarios: list[SavedScenario] = field(default_factory=list)  # saved scenarios in scope


@dataclass(frozen=True)
class ReleasedTables:
    """Every released table, whole, as stored by one build (shared: never mutate the frames)."""

    columns: dict[str, list[str]]  # name -> its columns, in order
    tables: dict[str, pd.DataFrame]
    kinds: dict[str, str]
    built_at: dt.datetime | None = None
    scenarios: list[SavedScenario] = field(default_factory=list)

    def table(self, name: str, scope: Scope | None) -> pd.DataFrame | None:
        """One table as `scope` sees it; None when absent or left out of the scoped view."""
        frame = self.tables.get(name)
        return None if frame is None else in_scope(name, frame, scope)

    def scenarios_in(self, scope: Scope | None) -> list[SavedScenario]:
        """Saved scenarios whose own site/department lie inside the scope."""
        scope = scope or Scope()
        return [s for s in self.scenarios if scope.contains(s.scope["site"], s.scope["department"])]

    def view(self, scope: Scope | None) -> View:
        scope = scope or Scope()
        tables: dict[str, pd.DataFrame] = {}
        kinds: dict[str, str] = {}
        left_out: dict[str, str] = {}
        for name in ordered(self.tables):
            frame = in_scope(name, self.tables[name], scope)
            if frame is None:
                left_out[name] = NOT_SCOPABLE
                continue
            tables[name], kinds[name] = frame, self.kinds[name]
        return View(scope, tables, kinds, left_out, self.scenarios_in(scope))


def read_all(con: duckdb.DuckDBPyConnection, *, scenarios: bool = True) -> ReleasedTables:
    """Every released/public table whole (and the saved scenarios), on one connection."""
    columns, types = released_columns(con)
    frames = {name: read_table(con, name, types[name]) for name in columns}
    manifest, built_at = _manifest(con)
    kinds = {name: kind_of(name, manifest) for name in columns}
    saved = read_scenarios(con) if scenarios else []
    return ReleasedTables(columns, frames, kinds, built_at, saved)


def read(con: duckdb.DuckDBPyConnection, scope: Scope | None) -> View:
    """The released tables (and saved scenarios) inside `scope`."""
    return read_all(con).view(scope)
