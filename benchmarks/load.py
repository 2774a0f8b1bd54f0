"""Load test: N browser sessions through nginx and several replicas while an ingest and a build run.

    python -m benchmarks.load                                   # 20 sessions x 3 rounds, 2 replicas, 250k-row ingest
    python -m benchmarks.load --contexts 2 --rounds 1 --ingest-rows 3000   # a quick check that it works

What runs (all on 127.0.0.1):
- `deploy/run-replicas.sh N` (N `streamlit run serve.py` replicas behind nginx with cookie affinity) on
  a copy of the warehouse (`--db`, else the bundled sample is loaded into the work folder once);
- `--contexts` Playwright contexts in one Debian chromium (the launch flags of scripts/screenshots.py),
  each for `--rounds` rounds: open every page of `--pages` through the balancer and wait until it is
  complete (script finished, no status widget running, the page's main charts drawn: benchmarks/render.py's
  DONE_JS), then change the sidebar's Site filter and wait until the rerun is complete;
- at the same moment, in another process, `ingest` of a `--ingest-rows` canonical file (a new wave made by
  pipelines.sample) followed by `build`, with every wait for the warehouse's lock counted and timed
  (pipelines.store.warehouse.retry_while_busy).

Reported (stdout as `BENCH-RESULT {json}` and a markdown table in `--out`, default
benchmarks/results/load.md): p50/p95/max page-complete and filter-change times, errors (timeouts,
Streamlit exceptions, lock messages, JS errors, HTTP 5xx), the ingest's and build's wall time and whether
they waited for the lock, and the replicas each session was served by. Bounded: `--time-limit` seconds for
the whole browser phase, 60 s per wait, at most 100 contexts and 50 rounds. The first visit of each replica
(imports, first queries) is made before the clock starts and reported separately.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from benchmarks.render import DONE_JS, MAIN_CHARTS
from scripts.screenshots import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
WAIT_MS = 60_000
MAX_CONTEXTS, MAX_ROUNDS = 100, 50
EXCEPTION = '[data-testid="stException"]'
LOCK_WORDS = ("could not set lock", "conflicting lock", "in use by another process", "WarehouseBusy")


# ------------------------------------------------------------------------------------------------
# The balancer (also used by tests/e2e/test_replicas.py)
# ------------------------------------------------------------------------------------------------
def nginx_path() -> str | None:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000 - count)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def _healthy(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
        return response.read().strip() == b"ok"
    return False


@contextlib.contextmanager
def balancer(
    db: Path, replicas: int, run_dir: Path, *, timeout: float = 300, env: dict | None = None
) -> Iterator[dict]:
    """Run deploy/run-replicas.sh (N replicas + nginx on loopback ports) until the block ends.

    Yields {"url", "ports", "run_dir", "proc", "replica_pid": port -> pid}."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in [*run_dir.glob("replica-*.pid"), *run_dir.glob("logs/*.log")]:
        old.unlink()  # a previous run's logs would mix with this one's (nginx appends)
    lb_port = free_ports(1)
    base = free_ports(replicas)
    ports = [base + i for i in range(replicas)]
    environment = {
        **os.environ,
        **(env or {}),
        "CLINRET_DB": str(db),
        "LB_PORT": str(lb_port),
        "BASE_PORT": str(base),
        "RUN_DIR": str(run_dir),
        "PYTHON": sys.executable,
        "NGINX": nginx_path() or "nginx",
        "HEALTH_WAIT": str(int(timeout)),
        "PYTHONPATH": str(ROOT),
    }
    log = open(run_dir / "run-replicas.out", "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        ["bash", str(DEPLOY / "run-replicas.sh"), str(replicas)],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole below, by its id
    )
    url = f"http://127.0.0.1:{lb_port}"
    try:
        deadline = time.monotonic() + timeout + 30
        while not _healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"run-replicas.sh exited with {proc.returncode}: "
                    + (run_dir / "run-replicas.out").read_text(errors="replace")[-2000:]
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the balancer on {url} did not become healthy; see {run_dir}/logs")
            time.sleep(0.25)

        def replica_pid(port: int) -> int:
            return int((run_dir / f"replica-{port}.pid").read_text().strip())

        yield {"url": url, "ports": ports, "run_dir": run_dir, "proc": proc, "replica_pid": replica_pid}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the script stops its replicas and nginx
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the group this function started
                proc.wait()
        log.close()


def access_log(run_dir: Path) -> list[dict]:
    """nginx's access log (deploy/nginx.conf.template's `upstream` format) as dicts: request, status,
    replica_key, upstream (the replica that answered) and upstreams (every one tried, in order)."""
    rows = []
    path = run_dir / "logs" / "nginx-access.log"
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        match = _LOG_LINE.search(line)
        if not match:
            continue
        tried = [u.strip() for u in match["upstream"].replace(" : ", ", ").split(",") if u.strip() not in ("", "-")]
        rows.append(
            {
                "request": match["request"],
                "status": match["status"],
                "replica_key": match["key"],
                "upstreams": tried,
                "upstream": tried[-1] if tried else "-",
            }
        )
    return rows


_LOG_LINE = re.compile(
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) \d+ upstream="(?P<upstream>[^"]*)" replica_key=(?P<key>\S*)'
)


# ------------------------------------------------------------------------------------------------
# The writer: an ingest and a build, with lock waits counted (run in its own process)
# ------------------------------------------------------------------------------------------------
def writer_main(db: str, file: str, wave: str) -> int:
    import duckdb

    from pipelines.ingest.load import ingest
    from pipelines.release import build
    from pipelines.store import warehouse

    waits: list[dict] = []
    real = warehouse.retry_while_busy

    def timed(action, *, path, wait=None):
        busy = {"n": 0}

        def attempt():
            try:
                return action()
            except duckdb.Error as exc:
                if warehouse.is_busy_error(exc):
                    busy["n"] += 1
                raise

        t0 = time.monotonic()
        try:
            return real(attempt, path=path, wait=wait)
        finally:
            if busy["n"]:
                waits.append({"phase": phase, "busy_attempts": busy["n"], "seconds": round(time.monotonic() - t0, 3)})

    warehouse.retry_while_busy = timed
    out: dict = {"started_at": time.time()}
    phase = "ingest"
    t0 = time.monotonic()
    try:
        result = ingest(file, wave=wave, db=db, replace=True, uploaded_by="load test")
        out["ingest_rows"] = result.rows_loaded
        out["ingest_ok"] = result.status == "loaded"
        if not out["ingest_ok"]:
            out["ingest_error"] = "; ".join(result.errors[:3]) or result.status
    except Exception as exc:  # reported, not raised: the report says what failed
        out["ingest_ok"], out["ingest_error"] = False, f"{type(exc).__name__}: {exc}"
    out["ingest_seconds"] = round(time.monotonic() - t0, 2)
    phase = "build"
    t0 = time.monotonic()
    try:
        build.build(db)
        out["build_ok"] = True
    except Exception as exc:
        out["build_ok"], out["build_error"] = False, f"{type(exc).__name__}: {exc}"
    out["build_seconds"] = round(time.monotonic() - t0, 2)
    out["ended_at"] = time.time()
    out["lock_waits"] = waits
    print("WRITER-RESULT " + json.dumps(out), flush=True)
    return 0 if out["ingest_ok"] and out["build_ok"] else 1


# ------------------------------------------------------------------------------------------------
# Browser sessions
# ------------------------------------------------------------------------------------------------
MARK_RUN_JS = """() => {
  window.__clinretRan = false;
  const app = document.querySelector('[data-testid="stApp"]');
  const seen = () => { if (app.getAttribute('data-test-script-state') === 'running') window.__clinretRan = true; };
  new MutationObserver(seen).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
RERUN_DONE_JS = "(want) => window.__clinretRan === true && (" + DONE_JS + ")(want)"


async def _problems(page) -> list[str]:
    found = []
    if await page.locator(EXCEPTION).count():
        found.append("exception: " + (await page.locator(EXCEPTION).first.inner_text())[:200])
    main = page.locator('[data-testid="stMain"]')
    body = (await main.inner_text()) if await main.count() else ""
    found += [f"lock message: {w}" for w in LOCK_WORDS if w.lower() in body.lower()]
    return found


async def _session(
    browser, index: int, url: str, pages: list[str], rounds: int, deadline: float, shots: Path | None = None
) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    result = {"pages": [], "ended_at": [], "filters": [], "errors": [], "replicas": []}
    page.on("pageerror", lambda e: result["errors"].append(f"js error: {str(e)[:200]}"))
    page.on(
        "response",
        lambda r: result["errors"].append(f"HTTP {r.status} {r.url[:120]}") if r.status >= 500 else None,
    )
    try:
        for rnd in range(rounds):
            for name in pages:
                if time.monotonic() > deadline:
                    result["errors"].append("time limit reached")
                    return result
                want = MAIN_CHARTS.get(name, 1)
                target = f"{url}/{'' if name == 'overview' else name}"
                t0 = time.perf_counter()
                try:
                    await page.goto(target, wait_until="commit", timeout=WAIT_MS)
                    await page.wait_for_function(DONE_JS, arg=want, polling=50, timeout=WAIT_MS)
                    result["pages"].append(time.perf_counter() - t0)
                    result["ended_at"].append(time.time())
                except Exception as exc:
                    result["errors"].append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
                    continue
                result["errors"] += [f"{name}: {p}" for p in await _problems(page)]
                # change the Site filter and wait for the rerun to complete
                select = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Site")
                try:
                    await page.evaluate(MARK_RUN_JS)
                    t0 = time.perf_counter()
                    options = page.locator('[role="option"]')
                    for attempt in range(3):  # a click that lands while the sidebar redraws opens nothing
                        await select.first.click(timeout=WAIT_MS)
                        with contextlib.suppress(Exception):
                            await options.first.wait_for(timeout=5_000 * (attempt + 1))
                            break
                    await options.first.wait_for(timeout=WAIT_MS)
                    count = await options.count()
                    await options.nth(1 + (index + rnd) % max(count - 1, 1)).click(timeout=WAIT_MS)
                    await page.wait_for_function(RERUN_DONE_JS, arg=0, polling=50, timeout=WAIT_MS)
                    result["filters"].append(time.perf_counter() - t0)
                except Exception as exc:
                    result["errors"].append(f"{name} filter: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
                    if shots is not None:
                        with contextlib.suppress(Exception):
                            await page.screenshot(path=str(shots / f"error-{index}-{rnd}-{name}.png"))
                    continue
                result["errors"] += [f"{name} after filter: {p}" for p in await _problems(page)]
        cookies = await context.cookies()
        result["replicas"] = sorted({c["value"] for c in cookies if c["name"] == "clinret_replica"})
    finally:
        await context.close()
    return result


async def _browse(
    url: str, contexts: int, pages: list[str], rounds: int, time_limit: float, started, shots: Path | None = None
) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            started()  # the writer starts now, with the sessions
            deadline = time.monotonic() + time_limit
            return await asyncio.gather(
                *(_session(browser, i, url, pages, rounds, deadline, shots) for i in range(contexts))
            )
        finally:
            await browser.close()


async def _warm(urls: list[str], pages: list[str]) -> list[float]:
    """One complete visit of each page on each replica (directly), before the clock starts."""
    from playwright.async_api import async_playwright

    out = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for url in urls:
                for name in pages:
                    context = await browser.new_context()
                    page = await context.new_page()
                    t0 = time.perf_counter()
                    await page.goto(f"{url}/{'' if name == 'overview' else name}", wait_until="commit")
                    await page.wait_for_function(DONE_JS, arg=MAIN_CHARTS.get(name, 1), polling=50, timeout=120_000)
                    out.append(time.perf_counter() - t0)
                    await context.close()
        finally:
            await browser.close()
    return out


# ------------------------------------------------------------------------------------------------
# Orchestration and report
# ------------------------------------------------------------------------------------------------
def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def _fmt(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.2f} s"


def prepare(work: Path, db: Path | None, ingest_rows: int) -> tuple[Path, Path]:
    """A copy of the warehouse (never the user's file) and the ingest file, made once per work folder."""
    work.mkdir(parents=True, exist_ok=True)
    base = work / "base.duckdb"
    if db is not None:
        shutil.copy(db, base)
    elif not base.exists():
        from pipelines.ingest.first_run import load_sample

        load_sample(base)
    target = work / "warehouse.duckdb"
    shutil.copy(base, target)
    for stale in work.glob("releases"):
        shutil.rmtree(stale)
    from pipelines.release import publish

    publish.publish_stored(target, work / "releases")  # the replicas serve a published snapshot from the start
    sample_dir = work / f"ingest-{ingest_rows}"
    file = sample_dir / "wave_2026.csv"
    if not file.exists():
        subprocess.run(
            [sys.executable, "-m", "pipelines", "sample", "--out", str(sample_dir),
             "--respondents-per-wave", str(ingest_rows), "--waves", "1", "--seed", "11"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return target, file


def run(args: argparse.Namespace) -> dict:
    work = Path(args.work).resolve()
    db, file = prepare(work, Path(args.db).resolve() if args.db else None, args.ingest_rows)
    pages = [p for p in args.pages.split(",") if p]
    env = {"CLINRET_RELEASES": str(work / "releases")}
    with balancer(db, args.replicas, work / "run", env=env) as lb:
        warm = asyncio.run(_warm([f"http://127.0.0.1:{port}" for port in lb["ports"]], pages))
        writer: dict = {}

        def start_writer() -> None:
            writer["proc"] = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.load", "--writer", str(db), str(file), "2027"],
                cwd=ROOT,
                env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                stdout=subprocess.PIPE,
                text=True,
            )
            writer["t0"] = time.monotonic()

        t0 = time.monotonic()
        sessions = asyncio.run(
            _browse(lb["url"], args.contexts, pages, args.rounds, args.time_limit, start_writer, work / "run")
        )
        browse_seconds = time.monotonic() - t0
        proc = writer["proc"]
        try:
            stdout, _ = proc.communicate(timeout=args.writer_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
            stdout += "\nWRITER-RESULT " + json.dumps({"error": f"writer still running after {args.writer_timeout} s"})
        lines = [ln for ln in stdout.splitlines() if ln.startswith("WRITER-RESULT ")]
        writer_result = json.loads(lines[-1].split(" ", 1)[1]) if lines else {"error": "the writer printed no result"}
        writer_result["exit_code"] = proc.returncode
        log = access_log(lb["run_dir"])
    page_times = [t for s in sessions for t in s["pages"]]
    filter_times = [t for s in sessions for t in s["filters"]]
    errors = [e for s in sessions for e in s["errors"]]
    replicas_used = {u for row in log for u in [row.get("upstream", "-")] if u not in ("-", "")}
    waits = writer_result.get("lock_waits", [])
    during = [
        t
        for s in sessions
        for t in s["ended_at"]
        if writer_result.get("started_at", 0) <= t <= writer_result.get("ended_at", 0)
    ]
    return {
        "page_loads_while_writing": len(during),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "contexts": args.contexts,
        "rounds": args.rounds,
        "replicas": args.replicas,
        "pages": pages,
        "ingest_rows": args.ingest_rows,
        "page_loads": len(page_times),
        "page_loads_expected": args.contexts * args.rounds * len(pages),
        "page_p50": _quantile(page_times, 0.50),
        "page_p95": _quantile(page_times, 0.95),
        "page_max": max(page_times) if page_times else None,
        "filter_changes": len(filter_times),
        "filter_p50": _quantile(filter_times, 0.50),
        "filter_p95": _quantile(filter_times, 0.95),
        "errors": len(errors),
        "error_samples": errors[:10],
        "browse_seconds": round(browse_seconds, 1),
        "warm_up_visits": [round(w, 2) for w in warm],
        "replicas_serving": sorted(replicas_used),
        "writer": writer_result,
        "ingest_waited": any(w["phase"] == "ingest" for w in waits),
        "build_waited": any(w["phase"] == "build" for w in waits),
    }


def markdown(r: dict) -> str:
    w = r["writer"]
    waits = w.get("lock_waits", [])

    def waited(phase: str) -> str:
        mine = [x for x in waits if x["phase"] == phase]
        if not mine:
            return "no"
        return f"yes: {len(mine)} time(s), {sum(x['seconds'] for x in mine):.1f} s in all"

    rows = [
        ("browser sessions (Playwright contexts) x rounds", f"{r['contexts']} x {r['rounds']}"),
        ("replicas behind nginx", f"{r['replicas']} (served: {', '.join(r['replicas_serving']) or '–'})"),
        ("pages per round", ", ".join(r["pages"]) + " (each: open, then change the Site filter)"),
        ("page loads complete / expected", f"{r['page_loads']} / {r['page_loads_expected']}"),
        ("page loads completed while the ingest or build ran", str(r["page_loads_while_writing"])),
        (
            "page-complete time p50 / p95 / max",
            f"{_fmt(r['page_p50'])} / {_fmt(r['page_p95'])} / {_fmt(r['page_max'])}",
        ),
        ("filter change (rerun complete) p50 / p95", f"{_fmt(r['filter_p50'])} / {_fmt(r['filter_p95'])}"),
        ("errors", str(r["errors"])),
        (
            f"ingest of {r['ingest_rows']:,} rows (new wave) in another process",
            f"{w.get('ingest_seconds', '–')} s, {'ok' if w.get('ingest_ok') else w.get('ingest_error', w.get('error'))}",
        ),
        (
            "build after it",
            f"{w.get('build_seconds', '–')} s, {'ok' if w.get('build_ok') else w.get('build_error', w.get('error'))}",
        ),
        ("ingest waited for the warehouse lock", waited("ingest")),
        ("build waited for the warehouse lock", waited("build")),
        ("browser phase", f"{r['browse_seconds']} s"),
        ("first visit per replica and page (before the clock)", ", ".join(f"{x:.2f} s" for x in r["warm_up_visits"])),
    ]
    out = [
        "# Load test: browser sessions through nginx while an ingest and a build run",
        "",
        f"`python -m benchmarks.load --contexts {r['contexts']} --rounds {r['rounds']} --replicas {r['replicas']} "
        f"--ingest-rows {r['ingest_rows']}` on {r['date']}, {r['cores']} cores, 1-minute load average "
        f"{r['load_average_1m']} at the end. Goal: 0 errors, the ingest never waits on readers, p95 page-complete under 3 s.",
        "",
        "| what | result |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
    ]
    if r["contexts"] < 20 or r["ingest_rows"] < 250_000:
        out += [
            "",
            "A small check run (fewer than 20 sessions or a smaller ingest than the issue's 250,000 rows): it shows the "
            "benchmark works, not how the deployment performs. Rerun at full size with `python -m benchmarks.load`.",
        ]
    if r["error_samples"]:
        out += ["", "First errors:", "", *[f"- {e}" for e in r["error_samples"]]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--writer"]:
        return writer_main(*argv[1:4])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--contexts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--pages", default="overview,attrition-risk")
    parser.add_argument("--ingest-rows", type=int, default=250_000)
    parser.add_argument("--db", help="warehouse to copy (default: the bundled sample, loaded once into --work)")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "out" / "load"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load.md"))
    parser.add_argument("--time-limit", type=float, default=900, help="seconds for the browser phase")
    parser.add_argument("--writer-timeout", type=float, default=1800, help="seconds the ingest+build may take")
    args = parser.parse_args(argv)
    if not 1 <= args.contexts <= MAX_CONTEXTS or not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--contexts must be 1..{MAX_CONTEXTS} and --rounds 1..{MAX_ROUNDS}")
    if nginx_path() is None:
        parser.error("nginx is not installed (Debian: apt-get install -y nginx)")
    if not Path(CHROMIUM).exists():
        parser.error(f"chromium not found at {CHROMIUM} (`make browser` installs it)")
    result = run(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(markdown(result), encoding="utf-8")
    print("BENCH-RESULT " + json.dumps(result, default=str), flush=True)
    print(markdown(result))
    ok = result["errors"] == 0 and result["writer"].get("ingest_ok") and result["writer"].get("build_ok")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
