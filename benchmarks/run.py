"""Measured speed and memory at a large health system's scale: one command, a JSON and a Markdown table.

    python -m benchmarks.run --sizes 100000,1000000 [--waves 4] [--repeats 3] [--out benchmarks/results]

For each size N it generates a synthetic health system with the project's own generator (N responses
over --waves waves), then runs every step as a separate process and measures that child's wall time
and peak RSS (os.wait4 rusage: the child's own high-water mark). See benchmarks/README.md for the
steps and what each one measures, and benchmarks/NOTES.md for the causes of missed targets.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RESULT_PREFIX = "BENCH-RESULT "

# Every step the benchmark reports, in order; a step that cannot run is still reported, as skipped.
PER_SIZE_STEPS = (
    "generate",
    "prepare_qualtrics",
    "ingest_canonical",
    "floor_canonical",
    "ingest_qualtrics",
    "floor_qualtrics",
    "load_history",
    "released_metrics",
    "build_cli",
    "full_build",
    "rebuild_cached",
    "baseline_pandas",
)
FULL_SCALE_STEPS = ("page_data", "page_render", "export_pdf", "export_xlsx")
STEP_IDS = PER_SIZE_STEPS + FULL_SCALE_STEPS

LABELS = {
    "generate": "Generate sample (pipelines sample)",
    "prepare_qualtrics": "Write Qualtrics-style export",
    "ingest_canonical": "Ingest canonical CSV",
    "floor_canonical": "Floor: DuckDB read_csv CTAS (canonical)",
    "ingest_qualtrics": "Ingest Qualtrics export",
    "floor_qualtrics": "Floor: DuckDB read_csv CTAS (Qualtrics)",
    "load_history": "Load the waves into one warehouse (per-wave ingests + roster)",
    "released_metrics": "Released metrics (build.produce_metrics)",
    "build_cli": "Build as wired (python -m pipelines build)",
    "full_build": "Full build (metrics, risk model, drivers, intentions)",
    "rebuild_cached": "Rebuild with nothing changed (model results from pipelines/models/cache.py)",
    "baseline_pandas": "Baseline: the same job in plain pandas",
    "page_data": "Page data (dashboard data layer)",
    "page_render": "Page render (headless chromium)",
    "export_pdf": "Export: PDF board report",
    "export_xlsx": "Export: Excel workbook",
}

TARGETS = {
    "ingest_ratio": 4.0,  # ingest of 1M canonical rows within 4x the floor
    "ingest_rss_mb": 1024.0,  # ... and peak memory under 1 GB
    "released_metrics_s": 2.0,
    "full_build_s": 60.0,
    "rebuild_cached_s": 5.0,  # the full build again with nothing changed (issue 12)
    "page_data_warm_ms": 150.0,
    "render_s": 2.5,
    "pdf_s": 15.0,
}
TARGET_SIZE = 1_000_000


# ------------------------------------------------------------------------------------------------
# Measuring a child process
# ------------------------------------------------------------------------------------------------
@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    result: dict | None
    load_1min: float
    output_tail: str = ""


def measure(cmd: list[str], *, env: dict | None = None, log: Path | None = None, timeout: float = 3600) -> Run:
    """Run cmd as a child; its wall time, its peak RSS (wait4 rusage) and its BENCH-RESULT line."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if log:
        log.write_text(text)
    result = None
    for line in text.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
    if result is None and text.lstrip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            result = json.loads(text)
    return Run(round(wall, 3), round(usage.ru_maxrss / 1024, 1), proc.returncode, result, round(load, 2), text[-2000:])


@dataclass
class Step:
    id: str
    size: int
    status: str = "ok"  # ok | skipped | failed
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    inner: dict = field(default_factory=dict)
    note: str = ""
    runs: list[dict] = field(default_factory=list)
    load_1min: float | None = None
    at: str = field(default_factory=lambda: dt.datetime.now().astimezone().isoformat(timespec="seconds"))

    @property
    def label(self) -> str:
        return LABELS[self.id]

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "size": self.size,
            "status": self.status,
            "wall_s": self.wall_s,
            "peak_rss_mb": self.peak_rss_mb,
            "inner": self.inner,
            "note": self.note,
            "load_1min": self.load_1min,
            "at": self.at,
            "runs": self.runs,
        }

    @classmethod
    def from_json(cls, d: dict) -> Step:
        keys = ("id", "size", "status", "wall_s", "peak_rss_mb", "inner", "note", "runs", "load_1min", "at")
        return cls(**{k: d[k] for k in keys if k in d})


def step_from_runs(step_id: str, size: int, runs: list[Run], note: str = "") -> Step:
    ok = [r for r in runs if r.returncode == 0]
    step = Step(step_id, size, note=note)
    step.runs = [
        {"wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb, "returncode": r.returncode, "load_1min": r.load_1min}
        for r in runs
    ]
    step.load_1min = max(r.load_1min for r in runs) if runs else None
    if not ok:
        step.status = "failed"
        step.note = (
            (note + " " if note else "") + "failed: " + (runs[-1].output_tail.strip().splitlines() or ["?"])[-1][:300]
        )
        return step
    step.wall_s = round(statistics.median(r.wall_s for r in ok), 3)
    step.peak_rss_mb = max(r.peak_rss_mb for r in ok)
    median_run = sorted(ok, key=lambda r: r.wall_s)[len(ok) // 2]
    step.inner = median_run.result or {}
    return step


def skipped(step_id: str, size: int, note: str) -> Step:
    return Step(step_id, size, status="skipped", note=note)


class LoadSampler(threading.Thread):
    """Samples the 1-minute load average every few seconds while the benchmark runs."""

    def __init__(self, every: float = 5.0):
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def stop(self) -> dict:
        self._stop.set()
        s = self.samples or [os.getloadavg()[0]]
        return {"min_1min": round(min(s), 2), "mean_1min": round(statistics.mean(s), 2), "max_1min": round(max(s), 2)}


# ------------------------------------------------------------------------------------------------
# Machine and repository
# ------------------------------------------------------------------------------------------------
def machine() -> dict:
    mem_kb = 0
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import duckdb
    import pandas

    try:
        import streamlit

        st_version = streamlit.__version__
    except ImportError:
        st_version = None
    return {
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "streamlit": st_version,
    }


def git_info() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    status = git("status", "--porcelain", "--untracked-files=no")
    untracked = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "short": git("rev-parse", "--short", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
        "uncommitted_files": len([line for line in untracked.splitlines() if line.strip()]),
    }


# ------------------------------------------------------------------------------------------------
# The steps
# ------------------------------------------------------------------------------------------------
def _concat(parts: list[Path], out: Path) -> None:
    """One canonical file of every wave's rows (header once)."""
    with open(out, "wb") as dst:
        for i, part in enumerate(parts):
            with open(part, "rb") as src:
                header = src.readline()
                if i == 0:
                    dst.write(header)
                shutil.copyfileobj(src, dst, 1 << 20)


def _ingest_cmd(path: Path, wave: str, db: Path) -> list[str]:
    return [PY, "-m", "pipelines", "ingest", str(path), "--wave", wave, "--db", str(db), "--json"]


def _ingest_note(run: Run) -> dict:
    r = run.result or {}
    keep = ("status", "rows_read", "rows_loaded", "rows_rejected", "detected_format")
    out = {k: r.get(k) for k in keep if k in r}
    if "dropped_columns" in r:
        out["dropped_columns"] = len(r["dropped_columns"])
    if r.get("warnings"):
        out["warnings"] = len(r["warnings"])
    return out


def ingest_pair(kind: str, size: int, path: Path, work: Path, repeats: int, logs: Path) -> list[Step]:
    """Ingest and floor of one file, interleaved (floor, ingest, floor, ingest...) so both see the
    same machine load; each in its own process, into its own fresh database file."""
    ingests: list[Run] = []
    floors: list[Run] = []
    for i in range(repeats):
        fdb = work / f"floor-{kind}-{i}.duckdb"
        idb = work / f"ingest-{kind}-{i}.duckdb"
        for p in (fdb, idb):
            p.unlink(missing_ok=True)
        floors.append(
            measure(
                [PY, "-m", "benchmarks.steps", "floor", str(path), str(fdb)], log=logs / f"floor-{kind}-{size}-{i}.log"
            )
        )
        run = measure(_ingest_cmd(path, "2026", idb), log=logs / f"ingest-{kind}-{size}-{i}.log")
        if run.result and run.result.get("status") != "loaded":
            run.returncode = run.returncode or 3
        ingests.append(run)
        for p in (fdb, idb):
            p.unlink(missing_ok=True)
    floor = step_from_runs(f"floor_{kind}", size, floors, note=f"{size:,} rows; median of {repeats}")
    ingest = step_from_runs(f"ingest_{kind}", size, ingests, note=f"{size:,} rows; median of {repeats}")
    ingest.inner = _ingest_note(sorted(ingests, key=lambda r: r.wall_s)[len(ingests) // 2])
    if ingest.status == "ok" and floor.status == "ok":
        ratios = [i.wall_s / f.wall_s for i, f in zip(ingests, floors, strict=True) if f.wall_s]
        ingest.inner["vs_floor"] = round(ingest.wall_s / floor.wall_s, 2)
        ingest.inner["vs_floor_each_pair"] = [round(x, 2) for x in ratios]
        ingest.inner["floor_rss_mb"] = floor.peak_rss_mb
    return [ingest, floor]


def write_turnover(roster: Path, periods: list[str], out: Path, rate: float = 0.13, seed: int = 12) -> bool:
    """A turnover file for the roster's cells: leavers ~ Binomial(headcount, rate) in each period
    (13% left within two years in Hamidi et al. 2018). False when the roster cannot be read."""
    import csv

    import numpy as np

    try:
        with open(roster, encoding="utf-8", newline="") as fh:
            cells = list(csv.DictReader(fh))
    except OSError:
        return False
    rng = np.random.default_rng(seed)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["site", "department", "role", "period", "headcount_at_start", "leavers"])
        for period in periods:
            for c in cells:
                h = int(float(c["headcount"]))
                w.writerow([c["site"], c["department"], c["role"], period, h, int(rng.binomial(h, rate))])
    return bool(cells)


def load_history(size: int, wave_files: list[Path], roster: Path, db: Path, logs: Path) -> Step:
    db.unlink(missing_ok=True)
    runs = []
    per_wave = {}
    t0 = time.perf_counter()
    for path in wave_files:
        wave = path.stem.removeprefix("wave_")
        run = measure(_ingest_cmd(path, wave, db), log=logs / f"history-{size}-{wave}.log")
        if run.result and run.result.get("status") != "loaded":
            run.returncode = run.returncode or 3
        runs.append(run)
        per_wave[wave] = {"wall_s": run.wall_s, "peak_rss_mb": run.peak_rss_mb}
        if run.returncode:
            break
    run = measure(
        [PY, "-m", "pipelines", "ingest-headcount", str(roster), "--db", str(db), "--json"],
        log=logs / f"roster-{size}.log",
    )
    runs.append(run)
    # actual turnover for every wave but the latest (the build then checks those forecasts:
    # pipelines/models/turnover.py), so the full build measured below is the build a customer runs
    turnover = db.parent / f"turnover-{size}.csv"
    periods = [p.stem.removeprefix("wave_") for p in wave_files][:-1]
    if periods and write_turnover(roster, periods, turnover):
        runs.append(
            measure(
                [PY, "-m", "pipelines", "ingest-turnover", str(turnover), "--db", str(db), "--json"],
                log=logs / f"turnover-{size}.log",
            )
        )
    total = time.perf_counter() - t0
    step = step_from_runs(
        "load_history",
        size,
        runs,
        note=f"{len(wave_files)} waves of {size // max(len(wave_files), 1):,} rows + roster"
        + (f" + turnover for {', '.join(periods)}" if periods else ""),
    )
    if step.status == "ok":
        step.wall_s = round(total, 3)
        step.inner = {"per_wave": per_wave, "roster_s": run.wall_s, "db_mb": round(db.stat().st_size / 2**20, 1)}
    return step


def export_steps(size: int, db: Path, work: Path, logs: Path) -> list[Step]:
    probe = measure([PY, "-m", "pipelines", "export", "--help"])
    via_cli = probe.returncode == 0
    if not via_cli:
        api = measure([PY, "-c", "import pipelines.reports as r; r.export"])
        if api.returncode != 0:
            note = "neither `python -m pipelines export` nor pipelines.reports.export exists yet in this build"
            return [skipped("export_pdf", size, note), skipped("export_xlsx", size, note)]
    steps = []
    for fmt in ("pdf", "xlsx"):
        out = work / f"report.{fmt}"
        out.unlink(missing_ok=True)
        if via_cli:
            cmd = [PY, "-m", "pipelines", "export", "--format", fmt, "--db", str(db), "--out", str(out)]
            note = f"python -m pipelines export --format {fmt} (latest wave, whole organisation)"
        else:
            cmd = [PY, "-m", "benchmarks.steps", "export", fmt, str(db), str(out)]
            note = "pipelines.reports.export (the `export` CLI command is not registered in pipelines/cli/main.py yet)"
        runs = [measure(cmd, log=logs / f"export-{fmt}-{size}.log", timeout=900)]
        step = step_from_runs(f"export_{fmt}", size, runs, note=note)
        if step.status == "ok" and out.exists():
            step.inner = {**(step.inner or {}), "file_kb": round(out.stat().st_size / 1024, 1)}
        steps.append(step)
    return steps


def page_data_step(size: int, db: Path, logs: Path, repeats: int) -> Step:
    from benchmarks import pages

    per_page: dict[str, dict] = {}
    rss: list[float] = []
    missing = []
    failed = []
    for page in pages.PAGES:
        if not pages.page_exists(page):
            missing.append(page)
            continue
        cmd = [PY, "-m", "benchmarks.steps", "page-data", str(db), page, "--repeats", str(repeats)]
        run = measure(cmd, log=logs / f"page-data-{page}.log")
        if run.returncode or not run.result:
            failed.append(page)
            per_page[page] = {"error": (run.output_tail.strip().splitlines() or ["?"])[-1][:300]}
            continue
        r = run.result
        per_page[page] = {
            "cold_ms": r["cold_ms"], "warm_ms": r["warm_ms"], "cached_ms": r["cached_ms"],
            "warm_ms_all": r["warm_ms_all"], "calls": r["calls"], "process_wall_s": run.wall_s,
            "warm_connections": r.get("warm_connections"), "warm_connect_ms": r.get("warm_connect_ms"),
            "peak_rss_mb": run.peak_rss_mb, "load_1min": run.load_1min,
        }  # fmt: skip
        rss.append(run.peak_rss_mb)
    step = Step("page_data", size, inner={"pages": per_page})
    step.peak_rss_mb = max(rss) if rss else None
    warm = [v["warm_ms"] for p, v in per_page.items() if "warm_ms" in v and p not in pages.ACTIONS]
    step.wall_s = round(max(warm) / 1000, 3) if warm else None
    notes = [
        "wall = slowest page's warm data time (page loads; scenario-run is the Run scenario button, not a page load)"
    ]
    if missing:
        notes.append(f"pages not in this build yet: {', '.join(missing)}")
    if failed:
        step.status = "failed"
        notes.append(f"failed: {', '.join(failed)}")
    step.note = "; ".join(notes)
    return step


def render_step(size: int, db: Path, logs: Path, warm: int) -> Step:
    from benchmarks import pages

    wanted = [p for p in ("overview", "attrition-risk") if pages.page_exists(p)]
    if not wanted:
        return skipped("page_render", size, "neither the Overview nor the Attrition risk page exists yet")
    if not Path("/usr/bin/chromium").exists():
        return skipped("page_render", size, "/usr/bin/chromium is not installed")
    run = measure([PY, "-m", "benchmarks.render", str(db), "--pages", ",".join(wanted), "--warm", str(warm),
                   "--log-dir", str(logs)], log=logs / "render.log", timeout=900)  # fmt: skip
    step = step_from_runs("page_render", size, [run])
    if step.status != "ok" or not run.result:
        return step
    step.inner = {"pages": run.result}
    step.wall_s = max(v["cold_seconds"] for v in run.result.values())
    step.peak_rss_mb = max((v["server_peak_rss_mb"] or 0) for v in run.result.values())
    missing = [p for p in ("overview", "attrition-risk") if p not in wanted]
    step.note = "wall = slowest cold first render; peak RSS = streamlit server (VmHWM)"
    if missing:
        step.note += f"; not in this build yet: {', '.join(missing)}"
    if any(v["exceptions"] for v in run.result.values()):
        step.status = "failed"
        step.note += "; a page showed an exception"
    return step


def run_size(size: int, args: argparse.Namespace, full_scale: bool, logs: Path) -> list[Step]:
    """Every step at one size. With --only, just those steps, reusing the scratch files (the
    generated data and the history warehouse) a previous --keep run left in --work."""
    work = Path(args.work) / f"n{size}"
    only = args.only
    if only:
        if not (work / "history.duckdb").exists():
            raise SystemExit(f"--only needs the scratch files of an earlier run with --keep in {work}")
    else:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)

    def want(step_id: str) -> bool:
        return not only or step_id in only

    waves = args.waves
    per_wave = size // waves
    steps: list[Step] = []
    say = args.say
    gen = work / "gen"
    canonical = work / "all_waves.csv"
    qualtrics = work / "qualtrics.csv"
    history = work / "history.duckdb"

    if not only:
        say(f"[{size:,}] generate {waves} waves x {per_wave:,}")
        run = measure([PY, "-m", "pipelines", "sample", "--out", str(gen), "--respondents-per-wave", str(per_wave),
                       "--waves", str(waves)], log=logs / f"generate-{size}.log")  # fmt: skip
        steps.append(step_from_runs("generate", size, [run], note=f"{waves} waves x {per_wave:,}"))
        if run.returncode:
            rest = [s for s in STEP_IDS if s != "generate" and (full_scale or s in PER_SIZE_STEPS)]
            return steps + [skipped(s, size, "generation failed") for s in rest]
        _concat(sorted(gen.glob("wave_*.csv")), canonical)
        say(f"[{size:,}] write Qualtrics export")
        run = measure(
            [PY, "-m", "benchmarks.qualtrics", str(canonical), str(qualtrics)], log=logs / f"qualtrics-{size}.log"
        )
        note = f"{qualtrics.stat().st_size / 2**20:.0f} MB" if qualtrics.exists() else ""
        steps.append(step_from_runs("prepare_qualtrics", size, [run], note=note))
    wave_files = sorted(gen.glob("wave_*.csv"))
    for kind, path in {"canonical": canonical, "qualtrics": qualtrics}.items():
        if want(f"ingest_{kind}") or want(f"floor_{kind}"):
            say(f"[{size:,}] ingest {kind} vs floor, {args.repeats}x")
            pair = ingest_pair(kind, size, path, work, args.repeats, logs)
            pair[0].inner["file_mb"] = round(path.stat().st_size / 2**20, 1) if path.exists() else None
            steps += pair
    if not only:
        say(f"[{size:,}] load history warehouse")
        steps.append(load_history(size, wave_files, gen / "headcount.csv", history, logs))
    if want("released_metrics"):
        say(f"[{size:,}] released metrics")
        runs = [measure([PY, "-m", "benchmarks.steps", "metrics", str(history)], log=logs / f"metrics-{size}-{i}.log")
                for i in range(args.repeats)]  # fmt: skip
        note = f"inner = producer only (after imports and connect); median of {args.repeats}"
        steps.append(step_from_runs("released_metrics", size, runs, note=note))

    from pipelines.release import build as build_module

    wired = any("model" in p.__name__ or "model" in p.__module__ for p in build_module.PRODUCERS)
    if want("build_cli"):
        if wired:
            steps.append(
                skipped("build_cli", size, "models are wired into build.py: the full build below is the CLI build")
            )
        else:
            say(f"[{size:,}] build as wired")
            run = measure([PY, "-m", "pipelines", "build", "--db", str(history)], log=logs / f"build-cli-{size}.log")
            note = "build.py does not list the model producers yet: metrics + benchmarks only"
            steps.append(step_from_runs("build_cli", size, [run], note=note))
    if want("full_build"):
        say(f"[{size:,}] full build (models wired in build.py: {wired})")
        run = measure(
            [PY, "-m", "benchmarks.steps", "build", str(history), "--with-models", "--cold"],
            log=logs / f"build-full-{size}.log",
        )
        note = "pipelines.release.build.build, each producer timed; stored model results forgotten first" + (
            "" if wired else "; models_cli.produce_models appended by the benchmark (not yet wired in build.py)"
        )
        steps.append(step_from_runs("full_build", size, [run], note=note))
    if want("rebuild_cached"):
        say(f"[{size:,}] rebuild, nothing changed")
        run = measure(
            [PY, "-m", "benchmarks.steps", "build", str(history), "--with-models"], log=logs / f"build-again-{size}.log"
        )
        note = "the full build again: each wave's model results reused (their fingerprints match)"
        steps.append(step_from_runs("rebuild_cached", size, [run], note=note))

    if full_scale:
        if want("page_data"):
            say(f"[{size:,}] page data")
            steps.append(page_data_step(size, history, logs, args.page_repeats))
        if want("page_render"):
            if args.skip_render:
                steps.append(skipped("page_render", size, "--skip-render"))
            else:
                say(f"[{size:,}] page render")
                steps.append(render_step(size, history, logs, args.render_warm))
        if want("export_pdf") or want("export_xlsx"):
            say(f"[{size:,}] exports")
            steps += [s for s in export_steps(size, history, work, logs) if want(s.id)]

    if want("baseline_pandas"):
        say(f"[{size:,}] pandas baseline")
        run = measure([PY, "-m", "benchmarks.baseline", str(canonical)], log=logs / f"baseline-{size}.log")
        note = "read_csv, map labels, validate, group by site/role/department, burnout + ITL rates"
        steps.append(step_from_runs("baseline_pandas", size, [run], note=note))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return steps


# ------------------------------------------------------------------------------------------------
# Targets and report
# ------------------------------------------------------------------------------------------------
def evaluate_targets(steps: list[Step]) -> list[dict]:
    at = {s.id: s for s in steps if s.size == TARGET_SIZE}
    out = []

    def add(name: str, value, limit, unit: str, met, note: str = "") -> None:
        out.append({"target": name, "value": value, "limit": limit, "unit": unit, "met": met, "note": note})

    def missing(step_id: str) -> str:
        s = at.get(step_id)
        if s is None:
            return f"not run at {TARGET_SIZE:,}"
        return f"{s.status}: {s.note}"

    s = at.get("ingest_canonical")
    if s and s.status == "ok" and "vs_floor" in s.inner:
        add(
            "Ingest 1M canonical rows within 4x the floor",
            s.inner["vs_floor"],
            TARGETS["ingest_ratio"],
            "x floor",
            s.inner["vs_floor"] <= TARGETS["ingest_ratio"],
        )
        add(
            "Ingest 1M canonical rows: peak memory under 1 GB",
            s.peak_rss_mb,
            TARGETS["ingest_rss_mb"],
            "MB",
            s.peak_rss_mb < TARGETS["ingest_rss_mb"],
        )
    else:
        add(
            "Ingest 1M canonical rows within 4x the floor",
            None,
            TARGETS["ingest_ratio"],
            "x floor",
            None,
            missing("ingest_canonical"),
        )
        add(
            "Ingest 1M canonical rows: peak memory under 1 GB",
            None,
            TARGETS["ingest_rss_mb"],
            "MB",
            None,
            missing("ingest_canonical"),
        )
    s = at.get("released_metrics")
    if s and s.status == "ok":
        inner = s.inner.get("seconds")
        add("Released metrics at 1M under 2 s (producer time)", inner, TARGETS["released_metrics_s"], "s", inner < TARGETS["released_metrics_s"],
            f"process wall incl. start-up and imports: {s.wall_s} s")  # fmt: skip
    else:
        add(
            "Released metrics at 1M under 2 s",
            None,
            TARGETS["released_metrics_s"],
            "s",
            None,
            missing("released_metrics"),
        )
    s = at.get("full_build")
    if s and s.status == "ok":
        add(
            "Full build at 1M under 60 s",
            s.wall_s,
            TARGETS["full_build_s"],
            "s",
            s.wall_s < TARGETS["full_build_s"],
            s.note,
        )
    else:
        add("Full build at 1M under 60 s", None, TARGETS["full_build_s"], "s", None, missing("full_build"))
    s = at.get("rebuild_cached")
    if s and s.status == "ok":
        add(
            "Rebuild at 1M with nothing changed under 5 s",
            s.wall_s,
            TARGETS["rebuild_cached_s"],
            "s",
            s.wall_s < TARGETS["rebuild_cached_s"],
            s.note,
        )
    else:
        add(
            "Rebuild at 1M with nothing changed under 5 s",
            None,
            TARGETS["rebuild_cached_s"],
            "s",
            None,
            missing("rebuild_cached"),
        )
    s = at.get("page_data")
    if s and s.inner.get("pages"):
        from benchmarks.pages import ACTIONS

        for page, v in s.inner["pages"].items():
            if "warm_ms" in v and page not in ACTIONS:
                add(f"Warm page data under 150 ms: {page}", v["warm_ms"], TARGETS["page_data_warm_ms"], "ms", v["warm_ms"] < TARGETS["page_data_warm_ms"],
                    f"cold {v['cold_ms']} ms, cache hit {v['cached_ms']} ms")  # fmt: skip
    else:
        add("Warm page data under 150 ms", None, TARGETS["page_data_warm_ms"], "ms", None, missing("page_data"))
    s = at.get("page_render")
    if s and s.status in ("ok", "failed") and s.inner.get("pages"):
        for page, v in s.inner["pages"].items():
            add(f"First complete render under 2.5 s: {page}", v["cold_seconds"], TARGETS["render_s"], "s", v["cold_seconds"] < TARGETS["render_s"],
                f"warm (server caches full) {v['warm_seconds']} s")  # fmt: skip
    else:
        add("First complete render under 2.5 s", None, TARGETS["render_s"], "s", None, missing("page_render"))
    s = at.get("export_pdf")
    if s and s.status == "ok":
        add("PDF board report at 1M under 15 s", s.wall_s, TARGETS["pdf_s"], "s", s.wall_s < TARGETS["pdf_s"])
    else:
        add("PDF board report at 1M under 15 s", None, TARGETS["pdf_s"], "s", None, missing("export_pdf"))
    return out


def _fmt(x, digits: int = 2) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def _inner_text(s: Step) -> str:
    i = s.inner or {}
    parts = []
    if s.id.startswith("ingest_"):
        if "vs_floor" in i:
            parts.append(f"**{i['vs_floor']}× floor**")
        if "rows_loaded" in i:
            parts.append(f"{i['rows_loaded']:,} loaded")
        if i.get("dropped_columns"):
            parts.append(f"{i['dropped_columns']} columns dropped")
        if i.get("file_mb"):
            parts.append(f"{i['file_mb']} MB file")
    elif s.id == "released_metrics" and "seconds" in i:
        parts.append(f"producer {i['seconds']} s")
    elif s.id in ("full_build", "rebuild_cached") and "producers" in i:
        parts += [f"{k.rsplit('.', 1)[-1]} {v} s" for k, v in i["producers"].items() if v >= 0.05]
        if i.get("model_parts"):
            parts.append("(" + ", ".join(f"{k} {v} s" for k, v in i["model_parts"].items()) + ")")
        if i.get("cached"):
            parts.append(f"reused: {len(i['cached'])} wave results")
    elif s.id == "baseline_pandas" and "seconds" in i:
        parts.append(f"read {i['read_seconds']} s, clean {i['clean_seconds']} s")
    elif s.id == "load_history" and "per_wave" in i:
        parts.append(", ".join(f"{w}: {v['wall_s']} s" for w, v in i["per_wave"].items()))
        parts.append(f"warehouse {i['db_mb']} MB")
    elif s.id.startswith("export_") and "file_kb" in i:
        parts.append(f"{i['file_kb']} kB")
    return "; ".join(parts)


def markdown(report: dict, steps: list[Step]) -> str:
    m, g, load = report["machine"], report["git"], report["load"]
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {report['date']}",
        f"- Commit: `{g['short']}` ({g['branch']}){' with uncommitted changes' if g['dirty'] or g['uncommitted_files'] else ''}",
        f"- Machine: {m['cores']} cores ({m['cores_available']} available), {m['memory_gb']} GB RAM, {m['cpu']}; {m['os']}",
        f"- Python {m['python']}, DuckDB {m['duckdb']}, pandas {m['pandas']}, Streamlit {m['streamlit']}",
        f"- Load average (1 min) during the run: min {load['min_1min']}, mean {load['mean_1min']}, max {load['max_1min']}"
        f" (other work shared the {m['cores']} cores; each step's own reading is in latest.json)",
        f"- Command: `{report['command']}`",
        *(
            f"- Rerun {r['date']} at `{r['git']['short']}` (load mean {r['load']['mean_1min']}, max {r['load']['max_1min']}):"
            f" {', '.join(r['steps'])}"
            for r in report.get("reruns", [])
        ),
        "",
        "Each step ran as its own process; wall time and peak RSS are the child's (os.wait4). Ingest and floor"
        " runs alternate so both see the same load; the figure shown is the median run.",
        "",
    ]
    for size in report["config"]["sizes"]:
        lines += [f"## {size:,} responses", "", "| step | wall | peak RSS | detail | note |", "|---|---:|---:|---|---|"]
        for s in steps:
            if s.size != size or s.id in ("page_data", "page_render"):
                continue
            wall = f"{s.wall_s:.2f} s" if s.wall_s is not None else s.status
            rss = f"{s.peak_rss_mb:,.0f} MB" if s.peak_rss_mb else "–"
            lines.append(f"| {s.label} | {wall} | {rss} | {_inner_text(s)} | {s.note} |")
        lines.append("")
        for s in steps:
            if s.size == size and s.id == "page_data":
                lines += [
                    f"### Page data at {size:,} (dashboard.data / dashboard.queries calls, outside Streamlit)",
                    "",
                    "cold = first call in a fresh process (after imports); warm = every st.cache_data cleared (real"
                    " queries), median; cached = a cache hit, median. scenario-run is the Run scenario button"
                    " with the default options, not a page load.",
                    "",
                    "| page | cold | warm | cached | data-layer calls | warehouse connections opened (warm) | peak RSS |",
                    "|---|---:|---:|---:|---:|---|---:|",
                ]
                for page, v in s.inner.get("pages", {}).items():
                    if "warm_ms" in v:
                        conns = (
                            f"{v['warm_connections']} ({v['warm_connect_ms']:.0f} ms opening)"
                            if v.get("warm_connections") is not None
                            else "–"
                        )
                        lines.append(
                            f"| {page} | {v['cold_ms']:.0f} ms | {v['warm_ms']:.0f} ms | {v['cached_ms']:.1f} ms | {len(v['calls'])} | {conns} | {v['peak_rss_mb']:.0f} MB |"
                        )
                    else:
                        lines.append(f"| {page} | failed | | | {v.get('error', '')} | |")
                lines += ["", s.note, ""]
            if s.size == size and s.id == "page_render":
                lines += [f"### Page render at {size:,} (headless chromium)", ""]
                if s.status == "skipped" or not s.inner.get("pages"):
                    lines += [f"{s.status}: {s.note}", ""]
                    continue
                lines += [
                    "cold = first visit, in a fresh browser, after `streamlit run serve.py` (what `make run` starts) reported healthy; warm = later visits in new browser contexts (median).",
                    "",
                    "| page | cold first render | warm | charts | server peak RSS |",
                    "|---|---:|---:|---:|---:|",
                ]
                for page, v in s.inner["pages"].items():
                    lines.append(
                        f"| {page} | {v['cold_seconds']:.2f} s | {_fmt(v['warm_seconds'])} s | {v['charts_drawn']} | {_fmt(v['server_peak_rss_mb'], 0)} MB |"
                    )
                lines += ["", s.note, ""]
    lines += ["## Targets (at 1,000,000 responses)", "", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for t in report["targets"]:
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        value = f"{_fmt(t['value'])} {t['unit']}" if t["value"] is not None else t["note"]
        lines.append(f"| {t['target']} | {value} | {_fmt(t['limit'])} {t['unit']} | {met} |")
    lines += ["", "Causes of missed targets and suggested fixes: [benchmarks/NOTES.md](../NOTES.md).", ""]
    return "\n".join(lines)


def merge(previous: dict, new: list[Step], rerun: dict) -> tuple[list[Step], dict]:
    """The previous full run with the rerun steps replaced (each step keeps its own date and load)."""
    replaced = {(s.id, s.size) for s in new}
    kept = [Step.from_json(d) for d in previous["steps"] if (d["id"], d["size"]) not in replaced]
    order = {step_id: i for i, step_id in enumerate(STEP_IDS)}
    steps = sorted(kept + new, key=lambda s: (s.size, order.get(s.id, 99)))
    report = dict(previous)
    report.setdefault("reruns", []).append(
        {
            "date": rerun["date"],
            "command": rerun["command"],
            "git": rerun["git"],
            "load": rerun["load"],
            "steps": sorted(f"{s.id}@{s.size}" for s in new),
        }  # fmt: skip
    )
    return steps, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="100000,1000000", help="comma-separated response counts (default 100000,1000000)"
    )
    parser.add_argument("--waves", type=int, default=4, help="waves the responses are spread over (default 4)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each ingest/floor/metrics step; the median is reported (default 3)",
    )
    parser.add_argument(
        "--full-at", type=int, default=None, help="size for page data, render and exports (default: the largest size)"
    )
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results"), help="where latest.json and latest.md go"
    )
    parser.add_argument(
        "--work", default=None, help="scratch directory for generated files and warehouses (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch files")
    parser.add_argument("--page-repeats", type=int, default=5, help="warm and cached runs per page (default 5)")
    parser.add_argument("--skip-render", action="store_true", help="skip the headless-browser render step")
    parser.add_argument(
        "--render-warm", type=int, default=3, help="warm visits per page after the cold one (default 3)"
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="STEPS",
        help="rerun just these steps (comma-separated ids, e.g. page_render,export_pdf) on the scratch files "
        "an earlier --keep run left in --work, and merge them into --out/latest.json",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    args.only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = args.only - set(STEP_IDS)
    if unknown:
        parser.error(f"unknown step(s) {sorted(unknown)}; choose from {', '.join(STEP_IDS)}")
    if args.only and not args.work:
        parser.error("--only needs --work (the scratch directory of an earlier --keep run)")
    if args.only:
        args.keep = True
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    full_at = args.full_at or max(sizes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    own_work = args.work is None
    args.work = args.work or tempfile.mkdtemp(prefix="clinret-bench-")
    logs = Path(args.work) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    args.say = (
        (lambda *_: None)
        if args.quiet
        else (lambda text: print(f"{time.perf_counter() - started:7.1f}s {text}", flush=True))
    )
    sampler = LoadSampler()
    sampler.start()
    report = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "git": git_info(),
        "config": {"sizes": sizes, "waves": args.waves, "repeats": args.repeats, "full_at": full_at},
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    steps: list[Step] = []
    try:
        for size in sizes:
            steps += run_size(size, args, size == full_at, logs)
    finally:
        report["load"] = sampler.stop()
        report["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
        report["total_seconds"] = round(time.perf_counter() - started, 1)
        if args.only and (out / "latest.json").exists():
            steps, report = merge(json.loads((out / "latest.json").read_text()), steps, report)
        report["steps"] = [s.to_json() for s in steps]
        report["targets"] = evaluate_targets(steps)
        (out / "latest.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        (out / "latest.md").write_text(markdown(report, steps))
        args.say(f"wrote {out / 'latest.json'} and {out / 'latest.md'}")
        if own_work and not args.keep:
            shutil.rmtree(args.work, ignore_errors=True)
        elif not own_work:
            args.say(f"logs in {logs}")
    failed = [f"{s.id}@{s.size}" for s in steps if s.status == "failed"]
    if failed:
        print("failed steps: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
