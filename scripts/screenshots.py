"""Start the dashboard on the bundled sample and save a PNG of every page to docs/screenshots/.

    python scripts/screenshots.py                 # fresh temp warehouse: the app loads the sample itself
    python scripts/screenshots.py --db data/warehouse.duckdb --out docs/screenshots

Uses Debian's chromium through Playwright (no browser download). The Overview screenshot is the one
the README shows. The helpers here (free_port, start_app, wait_for_app, page_paths, launch_browser)
are shared with the end-to-end tests in tests/e2e/.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CLINRET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Pages whose screenshot is more useful after pressing a button (the button's label).
PRESS_FIRST = {"retention-options": "Run scenario"}
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def page_paths(app: Path = ROOT / "streamlit_app.py") -> list[tuple[str, str]]:
    """(url path, title) of every page in the router's PAGES table, read without running the app."""
    tree = ast.parse(app.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == "PAGES" and node.value is not None:
            out = []
            for section in node.value.values:
                for entry in section.elts:
                    file_name, title, _icon, url_path = (ast.literal_eval(e) for e in entry.elts[:4])
                    out.append((url_path, title))
            return out
    raise RuntimeError(f"No PAGES table found in {app}.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not become healthy within {timeout:.0f} s")


@contextlib.contextmanager
def start_app(db: Path, port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """Run `streamlit run serve.py` (what `make run` starts) headless on 127.0.0.1 with CLINRET_DB=db;
    yield its URL."""
    port = port or free_port()
    env = {**os.environ, "CLINRET_DB": str(db), "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable, "-m", "streamlit", "run", "serve.py",
        "--server.headless=true", "--server.address=127.0.0.1", f"--server.port={port}",
        "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
    ]  # fmt: skip
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc=proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            out.close()


@contextlib.contextmanager
def launch_browser() -> Iterator[object]:
    """Debian chromium through Playwright's sync API (nothing is downloaded)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_app(page, timeout: float = 600.0) -> None:
    """Wait until the script run finished (the app sets data-test-script-state) and charts drew."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    # a run may start a moment after load; give it the chance, then wait for it to end
    with contextlib.suppress(Exception):
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=1500)
    page.wait_for_selector(DONE, timeout=timeout * 1000)
    page.wait_for_timeout(400)  # Plotly draws just after the run ends


def screenshot(page, path: Path, width: int = 1400, height: int = 900) -> None:
    """The whole page: Streamlit scrolls inside its main container, so grow the viewport to fit it."""
    full = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
        " return m ? m.scrollHeight : document.body.scrollHeight; }"
    )
    page.set_viewport_size({"width": width, "height": max(height, min(int(full) + 40, 12000))})
    page.wait_for_timeout(400)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": height})


def capture(url: str, out_dir: Path, *, width: int = 1400, height: int = 900) -> list[Path]:
    """Open every page and save `<url_path>.png` (full page). Returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with launch_browser() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        for url_path, _title in page_paths():
            page.goto(f"{url}/{'' if url_path == 'overview' else url_path}")  # the default page is "/"
            wait_for_app(page)
            if url_path in PRESS_FIRST:
                page.get_by_role("button", name=PRESS_FIRST[url_path]).click()
                wait_for_app(page)
            target = out_dir / f"{url_path}.png"
            screenshot(page, target, width, height)
            written.append(target)
        page.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="warehouse file (default: a fresh temp file; the app loads the sample)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "warehouse.duckdb"
        with start_app(db, args.port, Path(tmp) / "streamlit.log") as url:
            files = capture(url, args.out)
    for f in files:
        print(f.relative_to(ROOT) if f.is_relative_to(ROOT) else f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
