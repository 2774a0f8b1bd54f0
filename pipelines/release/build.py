"""Build the released tables: read the warehouse, aggregate, pass through privacy, store `rel_*`.

Every table is computed first and then written with CREATE OR REPLACE inside ONE transaction, so a
reader sees either the previous build or this one, never half of each. Released tables from an
earlier build that no producer makes any more are dropped in the same transaction.

To add a table (risk, drivers, intentions…), append one producer to PRODUCERS: a function
`(con, ctx) -> list[Released]` that calls `privacy.release` on its frame.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.metrics import reference
from pipelines.metrics import released as metrics
from pipelines.models import build as models_build
from pipelines.models.turnover import produce_turnover
from pipelines.release import attack, history, joint, privacy, publish, tables
from pipelines.release.tables import TABLE_NAME, BuildContext, Released
from pipelines.store import warehouse


@dataclass
class BuildSummary:
    tables: dict[str, int] = field(default_factory=dict)  # name -> rows
    k: int = 5
    intentions_k: int = 10
    seconds: float = 0.0
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. what the joint protection pass hid

    def __str__(self) -> str:
        lines = [f"built {len(self.tables)} tables in {self.seconds:.2f} s (k={self.k})"]
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  {name}: {rows} rows" for name, rows in self.tables.items()]
        lines += [f"  dropped stale table {name}" for name in self.dropped]
        return "\n".join(lines)


def produce_metrics(con: duckdb.DuckDBPyConnection, ctx: BuildContext) -> list[Released]:
    return [
        Released(tables.GROUPS, metrics.released_groups(con, ctx.k)),
        Released(tables.METRICS, metrics.released_metrics(con, ctx.k)),
    ]


def produce_benchmarks(con: duckdb.DuckDBPyConnection, ctx: BuildContext) -> list[Released]:
    return [Released(tables.BENCHMARKS, reference.benchmarks_frame(), kind="public")]


def produce_models(con: duckdb.DuckDBPyConnection, ctx: BuildContext) -> list[Released]:
    """Attrition risk, drivers, leave paths and reasons (pipelines/models/risk.py, drivers.py, intentions.py)."""
    return models_build.produce_models(con, ctx)


Producer = Callable[[duckdb.DuckDBPyConnection, BuildContext], list[Released]]
PRODUCERS: list[Producer] = [
    produce_metrics,
    produce_benchmarks,
    produce_models,
    produce_turnover,  # predicted vs actual leavers, once a turnover file is uploaded
]


def _validate(table: Released, ctx: BuildContext) -> None:
    """Refuse to store a table that did not come through the confidentiality layer."""
    if not TABLE_NAME.match(table.name):
        raise ValueError(f"Released table names must match {TABLE_NAME.pattern}: {table.name!r}")
    if table.name.startswith("ref_") != (table.kind == "public"):
        raise ValueError(f"{table.name}: only public reference tables are named ref_*.")
    if table.kind == "public":
        return
    k = privacy.effective_k(table.kind, ctx.k, ctx.intentions_k)
    problems = privacy.check_released(table.frame, k, table=table.name, structure=False)
    if problems:
        raise ValueError("; ".join(map(str, problems[:5])))


def write(con: duckdb.DuckDBPyConnection, tables: list[Released], ctx: BuildContext | None = None) -> list[str]:
    """Store the tables and the manifest in one transaction; returns stale tables dropped."""
    names = {t.name for t in tables}
    existing = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_name like 'rel\\_%' escape '\\' or table_name like 'ref\\_%' escape '\\'"
        ).fetchall()
    ]
    stale = sorted(set(existing) - names)
    with warehouse.transaction(con):
        for table in tables:
            con.register("_released_frame", table.frame)
            # table.name matched TABLE_NAME above, so quoting it is safe
            con.execute(f'create or replace table "{table.name}" as select * from _released_frame')
            con.unregister("_released_frame")
        for name in stale:
            con.execute(f'drop table "{name}"')
        con.execute(
            "create or replace table release_manifest (table_name VARCHAR, kind VARCHAR, "
            "row_count BIGINT, built_at TIMESTAMP)"
        )
        con.executemany(
            "insert into release_manifest values (?, ?, ?, current_timestamp)",
            [[t.name, t.kind, len(t.frame)] for t in tables],
        )
        for hook in ctx.after_write if ctx else ():
            hook(con)
    return stale


def compute(con: duckdb.DuckDBPyConnection) -> tuple[list[Released], BuildContext, float]:
    """Run every producer (reads only) and check each table; nothing is stored yet."""
    started = time.perf_counter()
    k, k_int = privacy.thresholds(con)
    ctx = BuildContext(k=k, intentions_k=k_int)
    produced = _run_producers(con, ctx)
    tables: list[Released] = []
    for producer in PRODUCERS:
        for table in produced[id(producer)]:
            _validate(table, ctx)
            tables.append(table)
    tables = protect_jointly(con, tables, ctx)
    return tables, ctx, started


# Producers that read only the warehouse (nothing another producer leaves in ctx.shared) run on a second
# thread with a cursor of their own while the others run in order: their SQL overlaps the model code.
ALONGSIDE: tuple[str, ...] = ("produce_metrics", "produce_benchmarks")


def _run_producers(con: duckdb.DuckDBPyConnection, ctx: BuildContext) -> dict[int, list[Released]]:
    """{id(producer): its tables} for every producer of PRODUCERS (the order of the tables is kept by
    the caller); an exception in any producer is raised here."""
    from concurrent.futures import ThreadPoolExecutor

    aside = [p for p in PRODUCERS if p.__name__ in ALONGSIDE]
    rest = [p for p in PRODUCERS if p.__name__ not in ALONGSIDE]
    out: dict[int, list[Released]] = {}

    def run_aside() -> dict[int, list[Released]]:
        cursor = con.cursor()  # one connection per thread (a shared one would be "busy")
        try:
            return {id(p): list(p(cursor, ctx)) for p in aside}
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(run_aside) if aside else None
        for producer in rest:
            out[id(producer)] = list(producer(con, ctx))
        if future is not None:
            out.update(future.result())
    return out


def call_threshold(con: duckdb.DuckDBPyConnection) -> float:
    """The call-nights threshold of the levers (the attacker links call-heavy rates through it)."""
    from pipelines.models import assumptions

    try:
        return float(assumptions.values(con)["lever_call_threshold"])
    except (duckdb.Error, KeyError):  # a hand-made warehouse without settings: the default
        return 4.0


def protect_jointly(con: duckdb.DuckDBPyConnection, tables: list[Released], ctx: BuildContext) -> list[Released]:
    """Protect the released tables together against the attacker (pipelines/release/joint.py):
    no table is stored with a figure that the others, read with it, would pin."""
    frames = {t.name: t.frame for t in tables if t.kind != "public"}
    # the difference from the release stored now must not expose fewer than k people (attack 11)
    answers = history.answers_since_release(con)  # what this release is computed from (the copy, not the file now)
    frames, guarded = history.guard(
        frames,
        history.previous(con, list(frames)),
        ctx.k,
        max(ctx.k, ctx.intentions_k),
        changes=answers.changes if answers else None,
    )
    held = dict(guarded.held_back)
    ctx.after_write.append(lambda write_con: history.store_holds(write_con, held))
    ctx.after_write.append(lambda write_con: history.store_answers(write_con, answers, guarded.held_back))
    ctx.joint.append(guarded)
    costs = attack.roster_costs(con, attack._waves(frames))  # the attacker holds the roster (attack 5)
    protected, outcome = joint.protect(
        frames,
        call_threshold=call_threshold(con),
        known=stored_patterns(con),
        costs=costs,
        budget=joint.budget_setting(),
    )
    held.update(outcome.coarse)  # a wave the search could not close in time: organisation-wide only, and why
    ctx.joint.append(outcome)
    ctx.after_write.append(lambda write_con: store_patterns(write_con, outcome.patterns))
    if outcome.unresolved:
        raise ValueError("Joint protection could not close the release: " + "; ".join(outcome.unresolved[:3]))
    out = []
    for t in tables:
        table = Released(t.name, protected.get(t.name, t.frame), t.kind) if t.kind != "public" else t
        _validate(table, ctx)
        out.append(table)
    return out


def stored_patterns(con: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """The joint-protection patterns earlier builds stored, by fingerprint (see joint.protect)."""
    try:
        rows = con.execute("select fingerprint, labels from release_patterns").fetchall()
    except duckdb.CatalogException:  # a hand-made warehouse without migrations
        return {}
    return {fingerprint: joint.labels_from_json(text) for fingerprint, text in rows}


def store_patterns(con: duckdb.DuckDBPyConnection, patterns: dict[str, tuple[str, list]]) -> None:
    """Keep each wave's pattern for the next build; waves gone are forgotten (inside the write transaction)."""
    try:
        con.execute("delete from release_patterns")
    except duckdb.CatalogException:
        return
    rows = [[wave, fingerprint, joint.labels_to_json(labels)] for wave, (fingerprint, labels) in patterns.items()]
    if rows:
        con.executemany("insert into release_patterns values (?, ?, ?, current_timestamp)", rows)


def _summary(tables: list[Released], ctx: BuildContext, started: float, dropped: list[str]) -> BuildSummary:
    return BuildSummary(
        tables={t.name: len(t.frame) for t in tables},
        k=ctx.k,
        intentions_k=ctx.intentions_k,
        seconds=time.perf_counter() - started,
        dropped=dropped,
        notes=[str(outcome) for outcome in ctx.joint],
    )


def build_into(con: duckdb.DuckDBPyConnection) -> BuildSummary:
    """Compute and store every released table on one open read-write connection."""
    tables, ctx, started = compute(con)
    return _summary(tables, ctx, started, write(con, tables, ctx))


def build(db: str | os.PathLike | None = None) -> BuildSummary:
    """Build every released table of the warehouse (`--db`, $CLINRET_DB or the default).

    The warehouse is held only briefly: attached read-only long enough to copy it into an in-memory
    DuckDB (`memory_copy`), then let go; the slow part (models, bootstraps, joint protection) runs on
    the copy, so no writer in another process (a CLI ingest, the Upload page) ever waits for a build.
    The warehouse is then opened for writing only to store the results, in one short transaction, and
    the build is published as an immutable snapshot (publish.py). If data changed in between, the
    tables describe the copy, and the next build catches up.
    """
    path = warehouse.resolve_db(db)
    with warehouse.connect(path):  # create and migrate first if needed (brief)
        pass
    with memory_copy(path) as con:
        tables, ctx, started = compute(con)
    with warehouse.connect(path) as con:
        summary = _summary(tables, ctx, started, write(con, tables, ctx))
        snapshot, extras = publish.stored_tables(con, list(summary.tables)), publish.app_extras(con)
    # The build's released tables, published as an immutable snapshot (pipelines/release/publish.py):
    # readers of the snapshot folder never hold a lock the writer needs.
    publish.publish(snapshot, extras, publish.default_root(db), keep=publish.keep_setting())
    return summary


@contextlib.contextmanager
def memory_copy(path: str | os.PathLike, *, wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """`copy_into_memory` as a context: the in-memory copy is closed afterwards."""
    con = copy_into_memory(path, wait=wait)
    try:
        yield con
    finally:
        con.close()


def copy_into_memory(path: str | os.PathLike, *, wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB holding a copy of every table of the warehouse file.

    The file is attached read-only (DuckDB's shared lock, so no writer changes it meanwhile) only for
    the copy (`COPY FROM DATABASE`, ~0.1 s for the sample) and detached at once: whatever runs on the
    copy, however long, never shuts out a writer in another process. Waits like `warehouse.connect`
    while a writer holds the file. Share it between threads only through `cursor()`."""
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    con = duckdb.connect(":memory:", config=config)
    con.execute("set enable_progress_bar = false")  # a build's long queries must not draw on the terminal
    try:
        warehouse.retry_while_busy(
            lambda: con.execute("attach ? as warehouse_file (read_only)", [str(Path(path))]), path=path, wait=wait
        )
        try:
            con.execute("copy from database warehouse_file to memory")
        finally:
            con.execute("detach warehouse_file")
    except BaseException:
        con.close()
        raise
    return con


def stored(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    wave: str | None = None,
    levels: list[str] | tuple[str, ...] | None = None,
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
):
    """A stored released table, filtered: what every surface (CLI, exports, pages) must show, so
    that no surface re-releases a table with a suppression pattern of its own."""
    if not TABLE_NAME.match(name) or not name.startswith("rel_"):
        raise ValueError(f"not a released table name: {name!r}")
    present = con.execute("select count(*) from information_schema.tables where table_name = ?", [name]).fetchone()[0]
    if not present:
        raise LookupError(f"{name} has not been built yet: run `python -m pipelines build`.")
    df = con.execute(f'select * from "{name}"').df()  # name matched TABLE_NAME
    if wave is not None:
        df = df[df["wave"].astype("str") == str(wave)]
    if levels:
        df = df[df["level"].isin(list(levels))]
    for col, value in (("site", site), ("department", department), ("role", role)):
        if value is not None:
            df = df[df[col].astype("str").str.casefold() == str(value).casefold()]
    return df.reset_index(drop=True)
