"""pipelines.release.publish: the snapshot layout, what reads back, retention and history, and that a
reader always sees one build whole while another process publishes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.release import publish as P
from pipelines.store import warehouse

ROOT = Path(__file__).resolve().parents[2]


def frames(tag: int = 0) -> dict[str, pd.DataFrame]:
    """Released-like frames with every dtype the warehouse gives pandas (str, float, int, nullable Int64,
    bool, nullable boolean, timestamps), tagged with `tag` so a build can be told apart."""
    return {
        "rel_metrics": pd.DataFrame(
            {
                "wave": pd.array(["2025", "2026", "2026"], dtype="str"),
                "site": pd.array(["North", None, "South"], dtype="str"),
                "value": [0.25, np.nan, 0.5 + tag],
                "n": np.array([12, 30, 7 + tag], dtype="int64"),
                "n_prev": pd.array([None, 3, 4], dtype="Int64"),
                "suppressed": np.array([False, True, False]),
                "changed": pd.array([True, None, False], dtype="boolean"),
                "tag": tag,
            }
        ),
        "ref_benchmarks": pd.DataFrame({"metric": pd.array(["itl"], dtype="str"), "value": [0.31], "tag": tag}),
        "rel_empty": pd.DataFrame({"wave": pd.array([], dtype="str"), "value": pd.Series([], dtype="float64")}),
    }


def extras(tag: int = 0) -> dict[str, pd.DataFrame]:
    return {
        "settings": P.settings_frame({"min_group_size": 5 + tag, "currency": "GBP", "costs": {"rn": 1.5}}),
        "saved_scenarios": pd.DataFrame(
            {"name": pd.array(["a"], dtype="str"), "created_at": [pd.Timestamp("2026-01-02 03:04:05")], "tag": tag}
        ),
    }


def test_a_snapshot_is_parquet_plus_a_manifest_and_reads_back_the_same_frames(tmp_path):
    snap = P.publish(frames(), extras(), tmp_path, keep=5)
    assert (tmp_path / "CURRENT").read_text().strip() == snap.build_id
    assert snap.path == tmp_path / "releases" / snap.build_id
    manifest = json.loads((snap.path / "manifest.json").read_text())
    assert manifest["schema_version"] == P.SCHEMA_VERSION
    assert manifest["build_id"] == snap.build_id
    created = dt.datetime.fromisoformat(manifest["created_at"])
    assert abs((dt.datetime.now(dt.UTC) - created).total_seconds()) < 60
    assert {n: e["rows"] for n, e in manifest["tables"].items()} == {
        "rel_metrics": 3,
        "ref_benchmarks": 1,
        "rel_empty": 0,
    }
    for entry in [*manifest["tables"].values(), *manifest["extras"].values()]:
        payload = (snap.path / entry["file"]).read_bytes()
        assert hashlib.sha256(payload).hexdigest() == entry["sha256"]
        assert payload[:4] == b"PAR1"  # Parquet magic
    # any Parquet reader sees the rows (DuckDB here, pyarrow in read_table)
    rows = duckdb.sql(f"select count(*) from read_parquet('{snap.path / 'rel_metrics.parquet'}')").fetchall()[0][0]
    assert rows == 3
    got = P.current(tmp_path)
    assert got is not None and got.build_id == snap.build_id and P.verify(got) == []
    for name, frame in frames().items():
        pd.testing.assert_frame_equal(P.read_table(got, name), frame, check_exact=True, obj=name)
    for name, frame in extras().items():
        pd.testing.assert_frame_equal(P.read_table(got, name), frame, check_exact=True, obj=name)
    assert P.settings_from_frame(P.read_table(got, "settings")) == {
        "min_group_size": 5,
        "currency": "GBP",
        "costs": {"rn": 1.5},
    }
    with pytest.raises(KeyError):
        P.read_table(got, "rel_nope")


def test_nothing_published_yet_is_none(tmp_path):
    assert P.current(tmp_path) is None
    assert P.history(tmp_path) == []


def test_the_app_extras_of_a_fresh_warehouse_read_back_the_same():
    with warehouse.connect(":memory:") as con:
        got = P.app_extras(con)
        from pipelines import scenarios as engine
        from pipelines.models import risk
        from pipelines.store import settings

        expected_settings = settings.get_all(con)
        expected_diagnostics = risk.read_diagnostics(con)
        expected_scenarios = engine.list_scenarios(con)
    assert set(got) == {"settings", "model_diagnostics", "saved_scenarios", "scenarios", "release_manifest"}
    assert got["scenarios"].empty and got["release_manifest"].empty  # nothing saved or built yet
    assert P.saved_scenarios(got["scenarios"]) == []
    assert P.settings_from_frame(got["settings"]) == expected_settings
    pd.testing.assert_frame_equal(got["model_diagnostics"], expected_diagnostics)
    pd.testing.assert_frame_equal(got["saved_scenarios"], expected_scenarios)


def test_retention_keeps_the_newest_and_history_keeps_every_manifest(tmp_path):
    ids = [P.publish(frames(i), {}, tmp_path, keep=3).build_id for i in range(7)]
    assert ids == sorted(ids) and len(set(ids)) == 7
    on_disk = sorted(p.name for p in (tmp_path / "releases").iterdir())
    assert on_disk == ids[-3:]
    assert P.current(tmp_path).build_id == ids[-1]
    record = P.history(tmp_path)
    assert [r["build_id"] for r in record] == ids
    assert [("pruned_at" in r) for r in record] == [True] * 4 + [False] * 3
    assert [r["current"] for r in record] == [False] * 6 + [True]
    assert all(r["tables"]["rel_metrics"]["rows"] == 3 for r in record)
    # keep=1: only the current one stays
    last = P.publish(frames(9), {}, tmp_path, keep=1)
    assert [p.name for p in (tmp_path / "releases").iterdir()] == [last.build_id]
    assert P.read_table(P.current(tmp_path), "rel_metrics")["tag"].tolist() == [9, 9, 9]


def test_bad_input_is_refused_and_nothing_changes(tmp_path):
    first = P.publish(frames(), {}, tmp_path, keep=2)
    with pytest.raises(ValueError, match="rel"):
        P.publish({"responses": pd.DataFrame({"a": [1]})}, {}, tmp_path, keep=2)
    with pytest.raises(ValueError, match="Extra"):
        P.publish(frames(), {"../x": pd.DataFrame()}, tmp_path, keep=2)
    with pytest.raises(ValueError, match="at least 1"):
        P.publish(frames(), {}, tmp_path, keep=0)
    with pytest.raises(TypeError):
        P.publish({"rel_x": [1, 2]}, {}, tmp_path, keep=2)
    assert P.current(tmp_path).build_id == first.build_id
    assert [p.name for p in (tmp_path / "releases").iterdir()] == [first.build_id]


def test_a_failure_while_writing_leaves_the_previous_release_current(tmp_path, monkeypatch):
    first = P.publish(frames(1), extras(1), tmp_path, keep=5)
    calls = {"n": 0}
    real = P._parquet_bytes

    def fail_on_third(frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(frame)

    monkeypatch.setattr(P, "_parquet_bytes", fail_on_third)
    with pytest.raises(RuntimeError, match="boom"):
        P.publish(frames(2), extras(2), tmp_path, keep=5)
    assert P.current(tmp_path).build_id == first.build_id
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == [first.build_id]  # partial folder removed


def test_republish_replaces_the_extras_and_keeps_the_tables(tmp_path):
    first = P.publish(frames(4), extras(4), tmp_path, keep=5)
    new = P.republish(tmp_path, extras={"settings": P.settings_frame({"min_group_size": 11})}, keep=5)
    assert new.build_id != first.build_id and P.current(tmp_path).build_id == new.build_id
    for name, frame in frames(4).items():
        pd.testing.assert_frame_equal(P.read_table(new, name), frame, obj=name)
    assert P.settings_from_frame(P.read_table(new, "settings")) == {"min_group_size": 11}
    pd.testing.assert_frame_equal(P.read_table(new, "saved_scenarios"), extras(4)["saved_scenarios"])


def test_settings_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(P.ROOT_ENV, raising=False)
    assert P.default_root(tmp_path / "w" / "warehouse.duckdb") == tmp_path / "w" / "releases"
    monkeypatch.delenv(warehouse.DB_ENV, raising=False)
    assert P.default_root() == Path("data") / "releases"
    monkeypatch.setenv(P.ROOT_ENV, str(tmp_path / "elsewhere"))
    assert P.default_root(tmp_path / "w" / "warehouse.duckdb") == tmp_path / "elsewhere"
    monkeypatch.delenv(P.KEEP_ENV, raising=False)
    assert P.keep_setting() == 5
    monkeypatch.setenv(P.KEEP_ENV, "2")
    assert P.keep_setting() == 2
    for bad in ("0", "-1", "many"):
        monkeypatch.setenv(P.KEEP_ENV, bad)
        with pytest.raises(ValueError, match=P.KEEP_ENV):
            P.keep_setting()


def test_a_reader_in_this_process_always_sees_one_build_whole_while_another_process_publishes(tmp_path):
    P.publish(frames(0), extras(0), tmp_path, keep=3)
    writer = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from pipelines.release import publish as P
        from test_publish import frames, extras
        for tag in range(1, 41):
            P.publish(frames(tag), extras(tag), Path({str(tmp_path)!r}), keep=3)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], cwd=ROOT)
    seen, retries = set(), 0
    try:
        while proc.poll() is None or not seen:
            snap = P.current(tmp_path)
            try:
                tags = {int(t) for name in snap.tables for t in P.read_table(snap, name).get("tag", [])}
                tags |= {int(t) for t in P.read_table(snap, "saved_scenarios")["tag"]}
                tags.add(P.settings_from_frame(P.read_table(snap, "settings"))["min_group_size"] - 5)
            except P.SnapshotMissing:
                retries += 1  # pruned under us after `keep` newer builds: read the current one again
                continue
            assert len(tags) == 1, (snap.build_id, tags)
            seen |= tags
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == 0
    assert P.read_table(P.current(tmp_path), "rel_metrics")["tag"].tolist() == [40] * 3
    assert len(seen) > 1  # the reader really saw builds change under it
    assert len(os.listdir(tmp_path / "releases")) == 3
