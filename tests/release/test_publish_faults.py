"""Faults while publishing a release: kill -9 of the publishing process at random points, and a full
disk (a real 1 MB tmpfs when we may mount one, else a writer that raises ENOSPC). In every case the
previous snapshot stays current and complete, no half-written folder is ever current, and the next
publish succeeds and clears what the dead one left."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.release import publish as P

ROOT = Path(__file__).resolve().parents[2]
TABLES = 150  # enough tables that a publish takes about a second (an fsync per file)


def small(tag: str) -> dict[str, pd.DataFrame]:
    return {"rel_metrics": pd.DataFrame({"tag": [tag] * 5, "value": np.arange(5.0)})}


def assert_complete(root: Path) -> P.Snapshot:
    """CURRENT names a folder whose every file matches its manifest; every release folder is complete."""
    snap = P.current(root)
    assert snap is not None
    assert P.verify(snap) == [], P.verify(snap)
    for folder in (root / "releases").iterdir():
        if P.BUILD_ID.match(folder.name):
            assert (folder / "manifest.json").exists(), f"{folder} is a release folder without a manifest"
    tags = {t for name in snap.tables for t in P.read_table(snap, name)["tag"]}
    assert len(tags) == 1, tags  # one build, whole
    return snap


def leftovers(root: Path) -> list[str]:
    return sorted(
        [p.name for p in (root / "releases").iterdir() if p.name.startswith((P.TMP_PREFIX, P.TRASH_PREFIX))]
        + [p.name for p in root.glob(f"{P.POINTER}{P.TMP_PREFIX}*")]
    )


CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    import numpy as np, pandas as pd
    from pipelines.release import publish as P
    tag = sys.argv[1]
    rng = np.random.default_rng(0)
    frames = {{f"rel_t{{i:03d}}": pd.DataFrame({{"tag": [tag] * 2000, "v": rng.random(2000)}}) for i in range({n})}}
    print("go", flush=True)
    P.publish(frames, {{}}, Path({out!r}), keep=3)
    print("done", flush=True)
    """
)


def run_child(root: Path, tag: str, kill_after: float | None) -> tuple[int, float]:
    code = CHILD.format(root=str(ROOT), n=TABLES, out=str(root))
    proc = subprocess.Popen([sys.executable, "-c", code, tag], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "go"
    started = time.monotonic()
    if kill_after is not None:
        time.sleep(kill_after)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=120)
    return proc.returncode, time.monotonic() - started


@pytest.mark.slow
def test_kill_9_mid_publish_never_makes_half_a_release_current(tmp_path):
    P.publish(small("base"), {}, tmp_path, keep=3)
    code, duration = run_child(tmp_path, "full", None)  # how long an uninterrupted publish takes here
    assert code == 0
    print(f"an uninterrupted publish of {TABLES} tables took {duration:.2f} s")
    previous = assert_complete(tmp_path)
    assert P.read_table(previous, "rel_t000")["tag"].iloc[0] == "full"
    rng = random.Random(1402)
    interrupted_before_swap = 0
    for i in range(4):
        tag = f"killed{i}"
        code, _ = run_child(tmp_path, tag, kill_after=rng.uniform(0.05, 0.9) * duration)
        snap = assert_complete(tmp_path)
        if code == -signal.SIGKILL:
            got = {t for name in snap.tables for t in P.read_table(snap, name)["tag"]}
            assert got <= {tag, P.read_table(previous, next(iter(previous.tables)))["tag"].iloc[0]}
            if snap.build_id == previous.build_id:
                interrupted_before_swap += 1
        previous = snap
    assert interrupted_before_swap >= 1  # the kills really landed mid-publish
    # the next publish succeeds and clears the dead publishers' leftovers
    survivor = P.publish(small("next"), {}, tmp_path, keep=3)
    assert assert_complete(tmp_path).build_id == survivor.build_id
    assert leftovers(tmp_path) == []
    on_disk = sorted(p.name for p in (tmp_path / "releases").iterdir())
    history = {r["build_id"] for r in P.history(tmp_path)}
    assert set(on_disk) <= history  # every folder left was current once: no orphan of a killed publish
    assert len(on_disk) <= 3


def test_a_killed_publish_after_the_rename_but_before_the_swap_is_cleaned_up(tmp_path):
    """The narrowest window: the new folder is complete and renamed, CURRENT not yet swapped."""
    base = P.publish(small("base"), {}, tmp_path, keep=3)
    child = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        import pandas as pd
        from pipelines.release import publish as P
        P._write_pointer = lambda root, build_id: os.kill(os.getpid(), 9)
        P.publish({{"rel_metrics": pd.DataFrame({{"tag": ["orphan"]}})}}, {{}}, Path({str(tmp_path)!r}), keep=3)
        """
    )
    assert subprocess.run([sys.executable, "-c", child], cwd=ROOT).returncode == -signal.SIGKILL
    assert len(list((tmp_path / "releases").iterdir())) == 2  # the orphan is there, complete, not current
    assert assert_complete(tmp_path).build_id == base.build_id
    new = P.publish(small("next"), {}, tmp_path, keep=3)
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == sorted([base.build_id, new.build_id])


def big(tag: str) -> dict[str, pd.DataFrame]:
    """About 3 MB of Parquet that does not compress."""
    rng = np.random.default_rng(7)
    return {f"rel_big{i}": pd.DataFrame({"tag": [tag] * 40_000, "v": rng.random(40_000)}) for i in range(10)}


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs (needs root and CAP_SYS_ADMIN); skipped where it cannot be mounted."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the monkeypatched ENOSPC test covers this")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def check_disk_full(root: Path, exc: pytest.ExceptionInfo, old: P.Snapshot) -> None:
    message = str(exc.value)
    assert "disk is full" in message.lower()
    assert str(root) in message  # where
    assert old.build_id in message  # and that the old one still serves
    assert isinstance(exc.value.__cause__, OSError) and exc.value.__cause__.errno in (errno.ENOSPC, errno.EDQUOT)
    snap = assert_complete(root)
    assert snap.build_id == old.build_id
    assert P.read_table(snap, "rel_metrics")["tag"].tolist() == ["old"] * 5
    assert leftovers(root) == []
    assert [p.name for p in (root / "releases").iterdir()] == [old.build_id]


def test_disk_full_on_a_real_tiny_disk_keeps_the_old_release(tiny_disk):
    old = P.publish(small("old"), {}, tiny_disk, keep=3)
    with pytest.raises(P.DiskFull) as exc:
        P.publish(big("new"), {}, tiny_disk, keep=3)
    check_disk_full(tiny_disk, exc, old)
    # space is back (the partial folder was removed): a small build publishes again
    assert P.publish(small("again"), {}, tiny_disk, keep=3).build_id == P.current(tiny_disk).build_id


@pytest.mark.parametrize("fail_at", [1, 4, "manifest", "pointer"])
def test_disk_full_at_any_write_keeps_the_old_release(tmp_path, monkeypatch, fail_at):
    old = P.publish(small("old"), {}, tmp_path, keep=3)
    real = P._write_bytes
    calls = {"n": 0}

    def write(path: Path, payload: bytes) -> None:
        calls["n"] += 1
        hit = (
            calls["n"] == fail_at
            or (fail_at == "manifest" and path.name == "manifest.json")
            or (fail_at == "pointer" and path.name.startswith(P.POINTER))
        )
        if hit:
            real(path, payload[: len(payload) // 2])  # a half-written file, as a full disk leaves it
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, payload)

    monkeypatch.setattr(P, "_write_bytes", write)
    with pytest.raises(P.DiskFull) as exc:
        P.publish(big("new"), {}, tmp_path, keep=3)
    check_disk_full(tmp_path, exc, old)
    monkeypatch.setattr(P, "_write_bytes", real)
    assert P.publish(small("again"), {}, tmp_path, keep=3).build_id == P.current(tmp_path).build_id
