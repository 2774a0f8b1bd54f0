"""First complete render of dashboard pages in headless chromium, against a given warehouse.

For each page: start `streamlit run streamlit_app.py` (CLINRET_DB=the warehouse, headless, a free
127.0.0.1 port), wait for /_stcore/health, then open the page in a fresh browser context and time
from navigation until the app has finished its run (stApp data-test-script-state = notRunning, no
stStatusWidget) and the page's main charts are drawn (an SVG inside each stPlotlyChart, or a static
chart's SVG image, which the server draws; see pipelines/charts/svg.py).
"cold" is the first visit after the server started (Python imports, first queries, empty caches:
what the first leader of the morning sees); "warm" visits follow in new browser contexts (server
caches full). The server's peak RSS (VmHWM) is read from /proc before it is stopped.

    python -m benchmarks.render DB [--pages overview,attrition-risk] [--warm 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from scripts.screenshots import CHROMIUM, CHROMIUM_ARGS  # one browser launch recipe for screenshots, tests, benchmarks

ROOT = Path(__file__).resolve().parent.parent

# url path -> main charts that must be drawn (outside collapsed expanders)
MAIN_CHARTS: dict[str, int] = {"overview": 2, "attrition-risk": 2}
TIMEOUT_S = 120

DONE_JS = """(want) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"],'
      + '[data-testid="stStatusWidgetRunningManIcon"]')) return false;
  if (!document.querySelector('h1')) return false;
  const plotly = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  // static charts (pipelines/charts/svg.py) are SVG images: drawn once the image has decoded
  const images = [...document.querySelectorAll('[data-testid="stImage"] img[src^="data:image/svg+xml"]')];
  const charts = {length: plotly.length + images.length};
  const drawn = plotly.filter(c => c.querySelector('svg.main-svg')).length
    + images.filter(i => i.complete && i.naturalWidth > 0).length;
  const empty = document.querySelectorAll('[data-testid="stAlert"], [data-testid="stAlertContainer"]').length;
  return drawn >= want ? {drawn: drawn, charts: charts.length, alerts: empty} : false;
}"""


# Milestones on the way (for finding where the time goes): the JS app is up and connected to the
# server; the page's title is on screen (its script is running); the script has finished on the
# server (every element has been sent); then DONE_JS (charts drawn).
APP_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-connection-state') === 'CONNECTED';
}"""
TITLE_JS = "() => !!document.querySelector('h1')"
SCRIPT_DONE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def start_server(db: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CLINRET_DB": db}
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"),
        "--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
    ]  # fmt: skip
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.read().strip() == b"ok":
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"streamlit did not become healthy in 60 s; see {log}")


def visit(browser, url: str, want: int) -> dict:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")
        marks = {}
        page.wait_for_load_state("domcontentloaded", timeout=TIMEOUT_S * 1000)
        marks["html_loaded"] = time.perf_counter() - t0
        page.wait_for_function(APP_JS, polling=20, timeout=TIMEOUT_S * 1000)
        marks["app_connected"] = time.perf_counter() - t0
        page.wait_for_function(TITLE_JS, polling=20, timeout=TIMEOUT_S * 1000)
        marks["title_shown"] = time.perf_counter() - t0
        page.wait_for_function(SCRIPT_DONE_JS, polling=20, timeout=TIMEOUT_S * 1000)
        marks["script_finished"] = time.perf_counter() - t0
        state = page.wait_for_function(DONE_JS, arg=want, polling=20, timeout=TIMEOUT_S * 1000).json_value()
        seconds = time.perf_counter() - t0
        exceptions = page.locator('[data-testid="stException"]').count()
        return {
            "seconds": round(seconds, 3),
            "marks": {k: round(v, 3) for k, v in marks.items()},
            **state,
            "exceptions": exceptions,
            "page_errors": errors[:3],
        }
    finally:
        context.close()


def render(db: str, pages: list[str], warm: int, log_dir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    results: dict[str, dict] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for name in pages:
                port = free_port()
                t_start = time.perf_counter()
                server = start_server(db, port, log_dir / f"streamlit-{name}.log")
                started = time.perf_counter() - t_start
                try:
                    url = f"http://127.0.0.1:{port}/{'' if name == 'overview' else name}"
                    want = MAIN_CHARTS.get(name, 1)
                    cold = visit(browser, url, want)
                    warms = [visit(browser, url, want) for _ in range(warm)]
                    results[name] = {
                        "server_start_seconds": round(started, 3),
                        "cold_seconds": cold["seconds"],
                        "cold_marks": cold["marks"],
                        "warm_marks": warms[-1]["marks"] if warms else None,
                        "warm_seconds": round(statistics.median(w["seconds"] for w in warms), 3) if warms else None,
                        "warm_all": [w["seconds"] for w in warms],
                        "charts_drawn": cold["drawn"],
                        "charts_on_page": cold["charts"],
                        "exceptions": cold["exceptions"] + sum(w["exceptions"] for w in warms),
                        "page_errors": cold["page_errors"],
                        "server_peak_rss_mb": peak_rss_mb(server.pid),
                    }
                finally:
                    server.terminate()
                    try:
                        server.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        server.kill()
                        server.wait()
        finally:
            browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.render")
    parser.add_argument("db")
    parser.add_argument("--pages", default="overview,attrition-risk")
    parser.add_argument("--warm", type=int, default=3)
    parser.add_argument("--log-dir", default=None)
    args = parser.parse_args(argv)
    log_dir = Path(args.log_dir or Path(args.db).parent)
    log_dir.mkdir(parents=True, exist_ok=True)
    out = render(str(Path(args.db).resolve()), [p for p in args.pages.split(",") if p], args.warm, log_dir)
    print("BENCH-RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
