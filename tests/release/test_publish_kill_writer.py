"""kill -9 of the writer: a `python -m pipelines ingest` and a `python -m pipelines build` in their own
processes, killed mid-ingest, mid-build (while computing) and mid-publish, on a real warehouse of one
sample wave. In every case nothing is half-published: the previous snapshot stays current, complete
(its files match the manifest) and readable by the pages' reader; the warehouse holds the killed wave
entirely or not at all; and the next build succeeds and publishes.

The kill points are found by watching the writer, not by sleeping a fixed time: mid-ingest is the
moment the warehouse's write-ahead log appears (the ingest's commit), mid-publish is the moment the
snapshot's temporary folder appears, mid-build is half of a measured build's time (deep in the model fits, with no cached fits).
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.release import build, publish
from pipelines.store import warehouse

ROOT = Path(__file__).resolve().parents[2]
WAVE = ROOT / "sample_data" / "wave_2026.csv"


# The writer's builds search their confidentiality pattern themselves (not from the test run's shared
# folder), so a build takes as long as the measured one.
ENV = {k: v for k, v in os.environ.items() if k != "CLINRET_PATTERN_CACHE"}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines", *args]


def run_until(command: list[str], ready, *, limit: float = 600) -> tuple[int, str]:
    """Start `command`, SIGKILL it as soon as `ready()` is true (checked every 5 ms); return its exit
    code and what the kill landed on ('killed' or 'finished first')."""
    proc = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit
    while proc.poll() is None:
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            return proc.wait(), "killed"
        assert time.monotonic() < deadline, f"{command} ran for more than {limit} s"
        time.sleep(0.005)
    return proc.returncode, "finished first"


def big_wave(path: Path, copies: int) -> Path:
    """The sample wave `copies` times over (a real, valid file; an ingest long enough to be killed in)."""
    with open(WAVE, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(rows[0])
        for _ in range(copies):
            writer.writerows(rows[1:])
    return path


def waves(db: Path) -> dict[str, int]:
    with warehouse.connect(db, read_only=True) as con:
        return dict(con.execute("select wave, count(*) from responses group by 1").fetchall())


def assert_serving(root: Path, build_id: str) -> None:
    """The snapshot `build_id` is current, complete, and the pages' reader reads it."""
    snap = publish.current(root)
    assert snap is not None and snap.build_id == build_id
    assert publish.verify(snap) == []
    for name in snap.tables:
        publish.read_table(snap, name)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, float]:
    """One sample wave ingested and built (and the build's wall time, to find 'mid-build')."""
    db = tmp_path_factory.mktemp("kill-writer") / "warehouse.duckdb"
    subprocess.run(
        cli("ingest", str(WAVE), "--wave", "2026", "--db", str(db)), cwd=ROOT, env=ENV, check=True, capture_output=True
    )
    started = time.monotonic()
    subprocess.run(cli("build", "--db", str(db)), cwd=ROOT, env=ENV, check=True, capture_output=True)
    return db, time.monotonic() - started


@pytest.fixture
def db(built, tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(built[0], path)
    shutil.copytree(built[0].parent / "releases", tmp_path / "releases")
    return path


def test_kill_9_mid_ingest_leaves_the_wave_out_and_the_release_serving(db, tmp_path):
    root = publish.default_root(db)
    before, rows_before = publish.current(root).build_id, waves(db)
    wal = db.with_name(db.name + ".wal")
    assert not wal.exists()
    file = big_wave(tmp_path / "wave_2031.csv", copies=20)
    code, outcome = run_until(cli("ingest", str(file), "--wave", "2031", "--db", str(db)), wal.exists)
    assert outcome == "killed" and code == -signal.SIGKILL, "the ingest finished before its commit was seen"
    assert_serving(root, before)  # an ingest never touches the release
    after = waves(db)  # the warehouse opens (the log is replayed or dropped) with the wave whole or absent
    assert after.get("2031", 0) in (0, 20 * rows_before["2026"])
    assert {w: n for w, n in after.items() if w != "2031"} == rows_before
    # the next build succeeds and publishes a new, complete snapshot
    build.build(db)
    assert publish.current(root).build_id != before
    assert publish.verify(publish.current(root)) == []


def test_kill_9_mid_build_keeps_the_previous_release_and_the_next_build_succeeds(built, db):
    root = publish.default_root(db)
    before = publish.current(root).build_id
    with warehouse.connect(db) as con:  # no cached model fits or pattern: the build recomputes, as the measured one did
        con.execute("delete from model_cache")
        con.execute("delete from release_patterns")
        stored_before = con.execute("select table_name, built_at from release_manifest order by 1").fetchall()
    started = time.monotonic()
    code, outcome = run_until(cli("build", "--db", str(db)), lambda: time.monotonic() - started > built[1] / 2)
    assert outcome == "killed" and code == -signal.SIGKILL
    assert_serving(root, before)
    with warehouse.connect(db, read_only=True) as con:  # nothing of the killed build was stored either
        assert con.execute("select table_name, built_at from release_manifest order by 1").fetchall() == stored_before
    build.build(db)
    now = publish.current(root)
    assert now.build_id != before and publish.verify(now) == []
    assert before in {r["build_id"] for r in publish.history(root)}  # the old release stays in the history


def test_kill_9_mid_publish_keeps_the_previous_release_and_the_next_build_cleans_up(db):
    root = publish.default_root(db)
    before = publish.current(root).build_id
    releases = root / "releases"

    def publishing() -> bool:
        return any(p.name.startswith(publish.TMP_PREFIX) for p in releases.iterdir())

    code, outcome = run_until(cli("build", "--db", str(db)), publishing)
    assert outcome == "killed" and code == -signal.SIGKILL, "the publish was not seen before the build ended"
    assert_serving(root, before)
    build.build(db)
    now = publish.current(root)
    assert now.build_id != before and publish.verify(now) == []
    assert not [p.name for p in releases.iterdir() if p.name.startswith((publish.TMP_PREFIX, publish.TRASH_PREFIX))]


def test_a_build_computing_holds_nothing_a_writer_in_another_process_needs(db, monkeypatch):
    """build() computes on an in-memory copy: mid-compute, another process opens the warehouse for
    writing with no wait at all and stores a setting; the build then stores and publishes as usual."""
    real_compute = build.compute
    writer: list[subprocess.CompletedProcess] = []

    def compute_while_another_process_writes(con):
        code = (
            "from pipelines.store import settings, warehouse\n"
            f"with warehouse.connect({str(db)!r}, wait=0) as con:\n"
            "    settings.put(con, 'min_group_size', 6, updated_by='writer')\n"
        )
        writer.append(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True))
        return real_compute(con)

    monkeypatch.setattr(build, "compute", compute_while_another_process_writes)
    before = publish.current(publish.default_root(db)).build_id
    build.build(db)
    assert writer[0].returncode == 0, writer[0].stderr[-800:]
    now = publish.current(publish.default_root(db))
    assert now.build_id != before and publish.verify(now) == []
