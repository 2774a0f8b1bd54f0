"""The benchmark runs end to end at a small size, so it cannot rot (no timing is asserted).

`python -m benchmarks.run` at a few thousand responses: every step (generation, both ingests and
their floors, the history warehouse, released metrics, the builds, the pandas baseline, page data,
the headless-browser render, the exports) must run or be reported as skipped with a reason, and
latest.json / latest.md must be written with every step present.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import run as bench

ROOT = Path(__file__).resolve().parent.parent
SIZE = 4000


def test_benchmark_runs_end_to_end_and_reports_every_step(tmp_path):
    out = tmp_path / "results"
    cmd = [
        sys.executable, "-m", "benchmarks.run", "--sizes", str(SIZE), "--waves", "2", "--repeats", "1",
        "--page-repeats", "1", "--render-warm", "0", "--out", str(out), "--work", str(tmp_path / "work"), "--quiet",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (out / "latest.json").exists(), done.stdout + done.stderr
    report = json.loads((out / "latest.json").read_text())
    steps = {s["id"]: s for s in report["steps"]}
    assert set(bench.STEP_IDS) <= set(steps), set(bench.STEP_IDS) - set(steps)
    failed = {k: s["note"] for k, s in steps.items() if s["status"] == "failed"}
    assert not failed, failed
    assert done.returncode == 0, done.stderr[-2000:]
    for s in steps.values():
        assert s["size"] == SIZE
        assert s["status"] in ("ok", "skipped")
        assert s["status"] == "ok" or s["note"], s  # a skipped step says why
        if s["status"] == "ok" and s["id"] not in ("page_data",):
            assert s["wall_s"] is not None and s["peak_rss_mb"], s
    assert steps["ingest_canonical"]["inner"]["rows_loaded"] == SIZE
    assert steps["ingest_qualtrics"]["inner"]["rows_loaded"] == SIZE
    assert "vs_floor" in steps["ingest_canonical"]["inner"]
    # the second build reuses both waves' risk and driver results
    assert sorted(steps["rebuild_cached"]["inner"]["cached"]) == [
        "drivers 2025",
        "drivers 2026",
        "risk 2025",
        "risk 2026",
    ]
    assert report["machine"]["cores"] and report["machine"]["memory_gb"]
    assert report["git"]["commit"] and report["date"]
    assert report["load"]["max_1min"] >= 0
    assert {t["target"].split(":")[0] for t in report["targets"]} >= {
        "Ingest 1M canonical rows within 4x the floor",
        "Full build at 1M under 60 s",
        "PDF board report at 1M under 15 s",
    }
    md = (out / "latest.md").read_text()
    for step_id in bench.STEP_IDS:
        if step_id not in ("page_data", "page_render"):
            assert bench.LABELS[step_id] in md, step_id
    assert "Page data at" in md and "Page render at" in md
    assert report["machine"]["cpu"] is not None and "Load average" in md
