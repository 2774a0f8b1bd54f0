"""Published releases: each build's released tables as an immutable snapshot the app reads instead of
the warehouse, so a reader never holds a lock the writer needs and always sees one build whole.

Layout under the release root (`data/releases` beside the warehouse, or $CLINRET_RELEASES):

    CURRENT                       the build id of the current snapshot (replaced atomically)
    releases/<build-id>/          one immutable snapshot: <table>.parquet, extras/<name>.parquet,
                                  manifest.json (tables, row counts, sha256, build id, created_at, schema)
    history/<build-id>.json       the manifest of every snapshot that was ever current, kept after the
                                  snapshot itself is pruned (the release history of the confidentiality work)
    .publish.lock                 held while publishing, so two writers never interleave

`publish` writes the new snapshot into `releases/.tmp-<build-id>/`, fsyncs every file and the folder,
renames it to `releases/<build-id>/` and only then swaps CURRENT (a temp file, fsync, os.replace, fsync
of the folder). A crash (kill -9, power cut) at any point leaves CURRENT naming a complete snapshot: the
previous one, or the new one once it is complete. Leftovers of an interrupted publish are removed by the
next one. A full disk raises `DiskFull` naming the folder; the previous snapshot stays current.

Readers (`current`, `read_table`) read Parquet with pyarrow; no warehouse file is opened.

    snap = publish({t.name: t.frame for t in released}, extras, default_root(), keep=keep_setting())
    snap = current(default_root())            # None before the first publish
    frame = read_table(snap, "rel_metrics")

Retention: $CLINRET_RELEASE_KEEP snapshots (default 5) stay on disk, the current one always among them;
older ones are deleted but their manifests stay in history/. A reader holding an older Snapshot object
can still read it until `keep` further builds have been published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.release.tables import TABLE_NAME
from pipelines.store import warehouse

SCHEMA_VERSION = 1  # of the snapshot layout and manifest; a reader refuses a newer one
ROOT_ENV = "CLINRET_RELEASES"
KEEP_ENV = "CLINRET_RELEASE_KEEP"
DEFAULT_KEEP = 5
POINTER = "CURRENT"
MANIFEST = "manifest.json"
EXTRA_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
BUILD_ID = re.compile(r"^\d{8}T\d{6}\d{6}Z-[0-9a-f]{6}$")
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class PublishError(RuntimeError):
    """A snapshot could not be published; the previous one (if any) is still current."""


class DiskFull(PublishError):
    """The disk (or quota) filled up while writing a snapshot."""


class SnapshotMissing(PublishError):
    """The pointer or a snapshot's files are missing or do not match their manifest."""


@dataclass(frozen=True)
class Snapshot:
    """One published build: its folder and manifest. Immutable on disk."""

    build_id: str
    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def created_at(self) -> str:
        return self.manifest["created_at"]

    @property
    def tables(self) -> dict[str, int]:
        """Released table -> row count, in publish order."""
        return {name: entry["rows"] for name, entry in self.manifest["tables"].items()}

    @property
    def extras(self) -> dict[str, int]:
        return {name: entry["rows"] for name, entry in self.manifest["extras"].items()}


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------
def default_root(db: str | os.PathLike | None = None) -> Path:
    """$CLINRET_RELEASES, else `releases/` beside the warehouse (data/releases by default)."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env)
    return warehouse.resolve_db(db).parent / "releases"


def keep_setting() -> int:
    """How many snapshots stay on disk: $CLINRET_RELEASE_KEEP (default 5, at least 1)."""
    raw = os.environ.get(KEEP_ENV, str(DEFAULT_KEEP))
    try:
        keep = int(raw)
    except ValueError:
        raise ValueError(f"{KEEP_ENV} must be a whole number of snapshots to keep, not {raw!r}.") from None
    if keep < 1:
        raise ValueError(f"{KEEP_ENV} must be at least 1 (the current snapshot), not {keep}.")
    return keep


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_build_id(now: dt.datetime | None = None) -> str:
    """Sortable by time, unique: 20260102T030405123456Z-1a2b3c."""
    now = now or _now()
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, payload: bytes) -> None:
    """Write, flush and fsync one new file (fails if it exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        view = memoryview(payload)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as Parquet (pandas dtypes kept in the file's metadata, so it reads back the same)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _is_full(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in _FULL_ERRNOS or "no space left" in str(exc).lower()


def _free_mb(path: Path) -> str:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return "unknown"
    return f"{usage.free / 1e6:.1f} MB"


@contextlib.contextmanager
def _publish_lock(root: Path) -> Iterator[None]:
    """One publisher at a time (across processes); released by the kernel if the holder dies."""
    fd = os.open(root / ".publish.lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _check_names(tables: dict[str, pd.DataFrame], extras: dict[str, pd.DataFrame]) -> None:
    for name in tables:
        if not TABLE_NAME.match(name):
            raise ValueError(f"Released table names must match {TABLE_NAME.pattern}: {name!r}")
    for name in extras:
        if not EXTRA_NAME.match(name):
            raise ValueError(f"Extra names must match {EXTRA_NAME.pattern}: {name!r}")
    for name, frame in {**tables, **extras}.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")


def publish(
    tables: dict[str, pd.DataFrame],
    extras: dict[str, pd.DataFrame],
    root: Path,
    *,
    keep: int,
) -> Snapshot:
    """Write `tables` (released rel_*/ref_* tables) and `extras` (what the app needs besides them:
    settings, model diagnostics, saved scenarios…) as a new immutable snapshot under `root` and make it
    current. Returns the new snapshot. On any failure the previous snapshot stays current, the partial
    folder is removed, and the error is raised (`DiskFull` when the disk filled up)."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the current snapshot), not {keep}.")
    _check_names(tables, extras)
    root = Path(root)
    releases = root / "releases"
    history_dir = root / "history"
    try:
        for folder in (root, releases, history_dir):
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if _is_full(exc):
            raise DiskFull(f"The disk is full: could not create the release folder {root}.") from exc
        raise
    with _publish_lock(root):
        _recover(root)
        previous = _read_pointer(root)
        build_id = new_build_id()
        tmp = releases / f"{TMP_PREFIX}{build_id}"
        final = releases / build_id
        where = tmp
        try:
            manifest = _write_snapshot(tmp, build_id, tables, extras)
            os.rename(tmp, final)
            _fsync_dir(releases)
            where = root / POINTER
            _write_pointer(root, build_id)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
            with contextlib.suppress(OSError, SnapshotMissing):
                if final.exists() and _read_pointer(root) != build_id:
                    _remove_snapshot(final)  # complete, but never became current
            if isinstance(exc, OSError) and _is_full(exc):
                still = f"release {previous} is still current" if previous else "no release has been published yet"
                raise DiskFull(
                    f"The disk is full: could not write the release snapshot to {where} "
                    f"({_free_mb(root)} free on that disk). The previous {still}; free some space and build again."
                ) from exc
            raise
        _record_history(root, manifest)
        _prune(root, keep)
        return Snapshot(build_id, final, manifest)


def republish(root: Path, *, extras: dict[str, pd.DataFrame], keep: int) -> Snapshot:
    """A new snapshot with the current one's tables and these extras replaced (after saving a scenario
    or a setting, without rebuilding). The tables are read back from the current snapshot."""
    snap = current(root)
    if snap is None:
        raise SnapshotMissing(f"No release has been published under {root} yet; build first.")
    tables = {name: read_table(snap, name) for name in snap.tables}
    merged = {name: read_table(snap, name) for name in snap.extras if name not in extras}
    merged.update(extras)
    return publish(tables, merged, root, keep=keep)


def _write_snapshot(
    tmp: Path, build_id: str, tables: dict[str, pd.DataFrame], extras: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    tmp.mkdir(mode=0o750)
    (tmp / "extras").mkdir(mode=0o750)
    entries: dict[str, dict[str, dict[str, Any]]] = {"tables": {}, "extras": {}}
    for section, frames, folder in (("tables", tables, ""), ("extras", extras, "extras/")):
        for name, frame in frames.items():
            payload = _parquet_bytes(frame)
            relative = f"{folder}{name}.parquet"
            _write_bytes(tmp / relative, payload)
            entries[section][name] = {
                "file": relative,
                "rows": len(frame),
                "columns": [str(c) for c in frame.columns],
                "bytes": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "build_id": build_id,
        "created_at": _now().isoformat(timespec="microseconds"),
        "tables": entries["tables"],
        "extras": entries["extras"],
    }
    _write_bytes(tmp / MANIFEST, json.dumps(manifest, indent=2).encode("utf-8"))
    _fsync_dir(tmp / "extras")
    _fsync_dir(tmp)
    return manifest


def _write_pointer(root: Path, build_id: str) -> None:
    tmp = root / f"{POINTER}{TMP_PREFIX}{build_id}"
    try:
        _write_bytes(tmp, (build_id + "\n").encode("ascii"))
        os.replace(tmp, root / POINTER)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(root)


def _record_history(root: Path, manifest: dict[str, Any]) -> None:
    """history/<build-id>.json: the manifest of a snapshot that became current."""
    path = root / "history" / f"{manifest['build_id']}.json"
    if path.exists():
        return
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    _write_bytes(tmp, json.dumps(manifest, indent=2).encode("utf-8"))
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _recover(root: Path) -> None:
    """Under the publish lock: finish what a killed publisher left. Half-written folders and pointer
    temp files are removed; a complete snapshot that never became current is removed; the current
    snapshot gets its history entry if the publisher died just after swapping the pointer."""
    releases = root / "releases"
    for leftover in list(releases.glob(f"{TMP_PREFIX}*")) + list(releases.glob(f"{TRASH_PREFIX}*")):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in root.glob(f"{POINTER}{TMP_PREFIX}*"):
        leftover.unlink(missing_ok=True)
    for leftover in (root / "history").glob("*.json.tmp"):
        leftover.unlink(missing_ok=True)
    pointer = _read_pointer(root)
    if pointer and (releases / pointer / MANIFEST).exists():
        _record_history(root, json.loads((releases / pointer / MANIFEST).read_text(encoding="utf-8")))
    for folder in releases.iterdir():
        if folder.name == pointer or not BUILD_ID.match(folder.name):
            continue
        if not (root / "history" / f"{folder.name}.json").exists():  # never current
            _remove_snapshot(folder)


def _remove_snapshot(folder: Path) -> None:
    """Rename first, so a half-deleted folder never looks like a snapshot."""
    trash = folder.with_name(TRASH_PREFIX + folder.name)
    os.rename(folder, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _prune(root: Path, keep: int) -> list[str]:
    """Delete the oldest snapshots beyond `keep` (never the current one); their manifests stay in
    history/ with the time they were pruned."""
    releases = root / "releases"
    pointer = _read_pointer(root)
    ids = sorted(p.name for p in releases.iterdir() if BUILD_ID.match(p.name))
    kept = set(ids[-keep:]) | ({pointer} if pointer else set())
    pruned = []
    for build_id in ids:
        if build_id in kept:
            continue
        entry = root / "history" / f"{build_id}.json"
        if entry.exists():
            record = json.loads(entry.read_text(encoding="utf-8"))
            record["pruned_at"] = _now().isoformat(timespec="microseconds")
            tmp = entry.with_name(entry.name + ".tmp")
            _write_bytes(tmp, json.dumps(record, indent=2).encode("utf-8"))
            os.replace(tmp, entry)
        _remove_snapshot(releases / build_id)
        pruned.append(build_id)
    if pruned:
        _fsync_dir(releases)
    return pruned


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------
def _read_pointer(root: Path) -> str | None:
    try:
        text = (Path(root) / POINTER).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if not BUILD_ID.match(text):
        raise SnapshotMissing(f"{Path(root) / POINTER} does not name a release ({text[:40]!r}).")
    return text


def current_id(root: Path) -> str | None:
    """The current snapshot's build id (None before the first publish): one small file read."""
    return _read_pointer(Path(root))


def current(root: Path) -> Snapshot | None:
    """The current snapshot (None before the first publish). Reads two small files; opens no warehouse."""
    root = Path(root)
    build_id = _read_pointer(root)
    if build_id is None:
        return None
    path = root / "releases" / build_id
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotMissing(f"The current release {build_id} has no manifest under {path}.") from None
    if manifest.get("schema_version", 0) > SCHEMA_VERSION:
        raise SnapshotMissing(
            f"Release {build_id} was written by a newer version (snapshot schema "
            f"{manifest['schema_version']} > {SCHEMA_VERSION}); update this app."
        )
    return Snapshot(build_id, path, manifest)


def snapshot(root: Path, build_id: str) -> Snapshot | None:
    """The snapshot of one build (None when it was pruned or never published)."""
    if not BUILD_ID.match(build_id):
        raise ValueError(f"Not a build id: {build_id!r}")
    path = Path(root) / "releases" / build_id
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if manifest.get("schema_version", 0) > SCHEMA_VERSION:
        raise SnapshotMissing(f"Release {build_id} was written by a newer version; update this app.")
    return Snapshot(build_id, path, manifest)


def _entry(snapshot: Snapshot, name: str) -> dict[str, Any]:
    entry = snapshot.manifest["tables"].get(name) or snapshot.manifest["extras"].get(name)
    if entry is None:
        raise KeyError(f"Release {snapshot.build_id} has no table {name!r}.")
    return entry


def read_table(snapshot: Snapshot, name: str) -> pd.DataFrame:
    """A released table (or an extra) of this snapshot as pandas, with the dtypes it was published with."""
    entry = _entry(snapshot, name)
    path = snapshot.path / entry["file"]
    try:
        return pq.read_table(path).to_pandas()
    except FileNotFoundError:
        raise SnapshotMissing(
            f"Release {snapshot.build_id} was pruned or is incomplete: {path} is missing. Read current() again."
        ) from None


def verify(snapshot: Snapshot) -> list[str]:
    """Problems with a snapshot's files against its manifest (missing file, wrong size or sha256)."""
    problems = []
    for section in ("tables", "extras"):
        for name, entry in snapshot.manifest[section].items():
            path = snapshot.path / entry["file"]
            try:
                payload = path.read_bytes()
            except FileNotFoundError:
                problems.append(f"{name}: {path} is missing")
                continue
            if len(payload) != entry["bytes"] or hashlib.sha256(payload).hexdigest() != entry["sha256"]:
                problems.append(f"{name}: {path} does not match its sha256 in the manifest")
    return problems


def history(root: Path) -> list[dict[str, Any]]:
    """Every snapshot that was ever current, oldest first: its manifest, plus `pruned_at` for those
    deleted by the retention setting and `current` for the one being served."""
    root = Path(root)
    pointer = _read_pointer(root)
    out = []
    for path in sorted((root / "history").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        record["current"] = record["build_id"] == pointer
        out.append(record)
    return out


# ------------------------------------------------------------------------------------------------
# What the build publishes (the seam for pipelines/release/build.py)
# ------------------------------------------------------------------------------------------------
def stored_tables(con: Any, names: list[str]) -> dict[str, pd.DataFrame]:
    """The released tables as the warehouse stored them (the frames the app read from DuckDB so far)."""
    for name in names:
        if not TABLE_NAME.match(name):
            raise ValueError(f"Released table names must match {TABLE_NAME.pattern}: {name!r}")
    return {name: con.execute(f'select * from "{name}"').df() for name in names}  # allow-listed, quoted


def app_extras(con: Any) -> dict[str, pd.DataFrame]:
    """Besides the released tables, what every page reads (dashboard.data's snapshot readings):
    settings, model diagnostics, the saved scenarios' list, the saved scenarios whole (`scenarios`,
    for the scope rule and the exports) and the build's release manifest (each table's kind)."""
    from pipelines.models import assumptions, risk  # noqa: F401  (assumptions registers settings)
    from pipelines.store import settings

    return {
        "settings": settings_frame(settings.get_all(con)),
        "model_diagnostics": risk.read_diagnostics(con),
        **scenario_extras(con),
        "release_manifest": release_manifest(con),
    }


def scenario_extras(con: Any) -> dict[str, pd.DataFrame]:
    """The saved scenarios as the snapshot carries them: the list the pages show (`saved_scenarios`)
    and the stored rows (`scenarios`); republished on their own after the app saves one."""
    from pipelines import scenarios

    stored = con.execute(
        "select name, levers, scope, results, created_by, created_at from scenarios order by created_at, name"
    ).df()
    return {"saved_scenarios": scenarios.list_scenarios(con), "scenarios": stored}


def release_manifest(con: Any) -> pd.DataFrame:
    """The build's release_manifest (table_name, kind, row_count, built_at); empty before a build."""
    present = con.execute("select count(*) from information_schema.tables where table_name = 'release_manifest'")
    if not present.fetchone()[0]:
        return pd.DataFrame({"table_name": [], "kind": [], "row_count": [], "built_at": []})
    return con.execute("select table_name, kind, row_count, built_at from release_manifest order by table_name").df()


def saved_scenarios(frame: pd.DataFrame | None) -> list:
    """The `scenarios` extra as `reader.SavedScenario`s, parsed by the reader itself (the same rows
    it reads from the warehouse, on a throwaway in-memory DuckDB); [] when absent."""
    import duckdb

    from pipelines.release import reader

    if frame is None or frame.empty:
        return []
    with duckdb.connect(":memory:") as con:
        con.register("scenarios_frame", frame)
        con.execute("create table scenarios as select * from scenarios_frame")
        return reader.read_scenarios(con)


def publish_from(con: Any, names: list[str], db: str | os.PathLike | None = None) -> Snapshot:
    """Publish the named released tables and the app's extras from an open warehouse connection, under
    default_root(db) with the retention setting: the whole seam for a build, in one call."""
    return publish(stored_tables(con, names), app_extras(con), default_root(db), keep=keep_setting())


def publish_stored(db: str | os.PathLike | None = None, root: Path | None = None) -> Snapshot | None:
    """Publish what the warehouse's last build stored (its rel_*/ref_* tables and the app's extras)
    without building again: for a warehouse built before snapshots existed. None when nothing was built.
    The warehouse is held read-only only for the reads (the tables are aggregates)."""
    from pipelines.release import reader

    with warehouse.connect(db, read_only=True) as con:
        names = list(reader.released_columns(con)[0])
        if not names:
            return None
        tables, extras = stored_tables(con, names), app_extras(con)
    return publish(tables, extras, Path(root) if root else default_root(db), keep=keep_setting())


# Settings (a dict of JSON values) as an extra frame and back: the app's settings travel with the snapshot.
def settings_frame(values: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({"key": list(values), "value": [json.dumps(v) for v in values.values()]})


def settings_from_frame(frame: pd.DataFrame) -> dict[str, Any]:
    return {str(k): json.loads(v) for k, v in zip(frame["key"], frame["value"], strict=True)}
