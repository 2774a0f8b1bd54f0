"""Fixtures for the browser tests: one `streamlit run` per module on a temp warehouse, Debian chromium.

The server, browser and wait helpers live in scripts/screenshots.py (the README's screenshots are
taken the same way), loaded here by path so scripts/ need not be a package.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"


def _load_helpers():
    spec = importlib.util.spec_from_file_location("clinret_screenshots", ROOT / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


browser_helpers = _load_helpers()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A running app on an empty warehouse (it loads the bundled sample on first start)."""
    if not Path(browser_helpers.CHROMIUM).exists():
        pytest.fail(f"chromium not found at {browser_helpers.CHROMIUM} (`make browser` installs it)")
    tmp = tmp_path_factory.mktemp("e2e")
    db = tmp / "warehouse.duckdb"
    log = tmp / "streamlit.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_helpers.start_app(db, log=log) as url:
        yield {"url": url, "db": db, "log": log, "tmp": tmp}
    # keep the server log beside the screenshots for anyone debugging a failure
    if log.exists():
        (ARTIFACTS / f"streamlit-{os.getpid()}.log").write_bytes(log.read_bytes())


@pytest.fixture(scope="module")
def chromium_browser(app: dict):
    with browser_helpers.launch_browser() as b:
        yield b


@pytest.fixture
def app_page(chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    yield p
    context.close()
