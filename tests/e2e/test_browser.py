"""End to end in headless chromium: every page opens without an exception, a Qualtrics export goes in
through the Upload page, a scenario is run and saved, and uploads (in the app and from the CLI) run
while other people read pages: no lock error reaches anyone and nobody sees half a wave.

Run with `pytest -m e2e` (they are part of `make test`). Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.release import publish
from pipelines.store import warehouse

from .conftest import ARTIFACTS, ROOT, browser_helpers

pytestmark = pytest.mark.e2e

SHARED_FORMATS = ROOT.parent / "shared" / "data" / "formats"
QUALTRICS = SHARED_FORMATS / "qualtrics_sample.csv"
QUALTRICS_MAPPING = ROOT / "tests" / "mappings" / "qualtrics_sample.json"
EXCEPTION = '[data-testid="stException"]'
# DuckDB's and our own messages for a held warehouse (not the word "lock", which icons contain)
LOCK_WORDS = (
    "could not set lock",
    "conflicting lock",
    "different configuration",
    "unique file handle conflict",
    "in use by another process",
    "WarehouseBusy",
)


def wait(page) -> None:
    browser_helpers.wait_for_app(page)


def problems_on(page) -> list[str]:
    """Exceptions or lock messages visible on the page."""
    found = [page.locator(EXCEPTION).nth(i).inner_text()[:300] for i in range(page.locator(EXCEPTION).count())]
    body = page.locator('[data-testid="stMain"]').inner_text() if page.locator('[data-testid="stMain"]').count() else ""
    found += [f"lock message: {w}" for w in LOCK_WORDS if w.lower() in body.lower()]
    if page.get_by_text("Page not found").count():
        found.append("a 'Page not found' dialog")
    return found


def open_and_check(page, url: str, shot: str | None = None) -> None:
    page.goto(url)
    wait(page)
    if shot:
        browser_helpers.screenshot(page, ARTIFACTS / f"{shot}.png")
    assert not problems_on(page), (url, problems_on(page))


def rows_by_wave(db: Path) -> dict[str, int]:
    with warehouse.connect(db, read_only=True) as con:
        return dict(con.execute("select coalesce(wave, ''), count(*) from responses group by 1").fetchall())


def canonical_wave(path: Path, rows: int, skip: int = 0) -> Path:
    """A canonical CSV with `rows` answers taken from the bundled sample (a realistic new wave)."""
    with open(ROOT / "sample_data" / "wave_2026.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        body = [row for i, row in enumerate(reader) if skip <= i < skip + rows]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(body)
    return path


def load_button(page):
    return page.locator('[data-testid="stBaseButton-primary"]', has_text="Load")


def upload_through_page(page, url: str, file: Path, wave: str, mapping: Path | None = None, click_load: bool = True):
    page.goto(f"{url}/upload")
    wait(page)
    uploaders = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    uploaders.nth(0).set_input_files(str(file))
    wait(page)
    wave_box = page.get_by_role("textbox", name="Wave", exact=True)
    wave_box.fill(wave)
    wave_box.press("Enter")
    wait(page)
    if mapping is not None:
        page.get_by_text("Optional: REDCap data dictionary or a mapping file").click()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').nth(2).set_input_files(str(mapping))
        wait(page)
    page.get_by_text("ready to load").first.wait_for(timeout=60_000)
    if click_load:
        load_button(page).click()


# ------------------------------------------------------------------------------------------------
def test_every_page_opens_without_exception(app: dict, app_page) -> None:
    paths = browser_helpers.page_paths()
    assert len(paths) >= 10
    for url_path, _title in paths:
        open_and_check(app_page, f"{app['url']}/{'' if url_path == 'overview' else url_path}", shot=url_path)


def test_model_pages_show_their_charts(app: dict, app_page) -> None:
    for url_path, text in (
        ("attrition-risk", "Which units are most at risk"),
        ("drivers", "What predicts intent to leave across the organisation"),
        ("intentions", "What they plan to do"),
        ("retention-options", "Options to test"),
    ):
        open_and_check(app_page, f"{app['url']}/{url_path}")
        assert app_page.get_by_text(text).first.is_visible(), url_path
    open_and_check(app_page, f"{app['url']}/attrition-risk")
    # drawn as SVG images by the server (pipelines/charts/svg.py): visible with no chart library loaded
    charts = app_page.locator('[data-testid="stImage"] img[src^="data:image/svg+xml"]')
    assert charts.count() >= 3
    assert charts.first.is_visible()
    assert charts.first.evaluate("img => img.complete && img.naturalWidth > 0")
    assert "Intent to leave is highest in" in (charts.first.get_attribute("alt") or "")
    open_and_check(app_page, f"{app['url']}/drivers")
    assert app_page.locator(".js-plotly-plot").count() >= 1  # richer charts stay interactive Plotly


def test_filters_in_the_url_reach_the_model_pages(app: dict, app_page) -> None:
    with warehouse.connect(app["db"], read_only=True) as con:
        site = con.execute(
            "select site from rel_groups where level = 'site' and not suppressed order by n desc limit 1"
        ).fetchone()[0]
    from urllib.parse import quote

    for url_path in ("attrition-risk", "drivers", "intentions", "retention-options"):
        open_and_check(app_page, f"{app['url']}/{url_path}?site={quote(site)}", shot=f"{url_path}-site")
        # the department filter appears only once a site is chosen, and the link keeps the site
        assert "Department" in app_page.locator('[data-testid="stSidebar"]').inner_text(), url_path
        assert "site=" in app_page.url, app_page.url


def test_filters_survive_navigation_between_model_pages(app: dict, app_page) -> None:
    """BRIEF.md: filters are shared across pages. Choose a site by link, then move with the sidebar."""
    with warehouse.connect(app["db"], read_only=True) as con:
        site = con.execute(
            "select site from rel_groups where level = 'site' and not suppressed order by n desc limit 1"
        ).fetchone()[0]
    from urllib.parse import quote

    open_and_check(app_page, f"{app['url']}/attrition-risk?site={quote(site)}")
    for title in ("Drivers", "Retention options", "Intentions & reasons"):
        app_page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
        wait(app_page)
        assert not problems_on(app_page), title
        assert "site=" in app_page.url, f"the site filter was lost on the way to {title}: {app_page.url}"


def test_run_and_save_a_scenario(app: dict, app_page) -> None:
    open_and_check(app_page, f"{app['url']}/retention-options")
    app_page.get_by_role("button", name="Run scenario").click()
    wait(app_page)
    app_page.get_by_text("Departures avoided").first.wait_for(timeout=60_000)
    assert not problems_on(app_page)
    name = f"E2E call relief {int(time.time())}"
    app_page.get_by_label("Save this scenario as").fill(name)
    app_page.get_by_role("button", name="Save scenario").click()
    wait(app_page)
    app_page.get_by_text("Saved").first.wait_for(timeout=30_000)
    browser_helpers.screenshot(app_page, ARTIFACTS / "retention-options-saved.png")
    assert not problems_on(app_page)
    with warehouse.connect(app["db"], read_only=True) as con:
        assert con.execute("select count(*) from scenarios where name = ?", [name]).fetchone()[0] == 1


def built_at(db: Path):
    with warehouse.connect(db, read_only=True) as con:
        return con.execute("select max(built_at) from release_manifest").fetchone()[0]


@contextlib.contextmanager
def publishing_held(root: Path) -> Iterator[None]:
    """Hold the release folder's publish lock: a build that reaches publish waits there (its
    warehouse connections already closed) until the block ends. An explicit barrier, not a timing."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".publish.lock", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def test_upload_while_others_read_and_a_cli_ingest_runs(app: dict, chromium_browser, tmp_path: Path) -> None:
    """Three things at once, ordered by explicit synchronisation rather than timing windows:

    1. the Qualtrics export is uploaded through the Upload page (with its mapping file) into wave 2026;
       the app stores it and rebuilds, and its build is held at publish by the test (publishing_held),
       after it has computed and written, i.e. when the app holds no connection on the warehouse;
    2. then a CLI ingest of a new wave 2030 runs into the same file with CLINRET_LOCK_WAIT=0, so it
       fails if it has to wait for anyone at all, while a second session keeps reading pages;
    3. then the publish is let go: the upload reports success and the new snapshot is served.

    No lock error may reach anyone; the reader sees the previous build whole until the new one is
    published; wave 2030 is complete after the ingest. Bounded waits (generous, for a loaded machine)
    only guard against a hang; nothing depends on how long anything takes."""
    if not QUALTRICS.exists():
        pytest.fail(f"The shared Qualtrics sample is missing: {QUALTRICS}")
    cli_rows = 1500
    cli_file = canonical_wave(tmp_path / "wave_2030.csv", cli_rows)
    root = publish.default_root(app["db"])
    uploader = chromium_browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    reader = chromium_browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    findings: list[str] = []
    # pages that read only the published snapshot (Retention options also compares saved scenarios,
    # on a copy of the warehouse made in a fraction of a second: read before and after, not in step 2)
    snapshot_pages = ["attrition-risk", "drivers", "intentions", "overview"]

    def read_pages(names: list[str], step: str) -> None:
        for name in names:
            reader.goto(f"{app['url']}/{'' if name == 'overview' else name}")
            wait(reader)
            findings.extend(f"reader on {name} ({step}): {p}" for p in problems_on(reader))

    try:
        open_and_check(uploader, f"{app['url']}/upload")  # on a fresh warehouse the first visit loads the sample
        before, built_before = rows_by_wave(app["db"])["2026"], built_at(app["db"])
        published_before = publish.current(root).build_id
        upload_through_page(uploader, app["url"], QUALTRICS, "2026", mapping=QUALTRICS_MAPPING, click_load=False)
        read_pages([*snapshot_pages, "retention-options"], "before")
        with publishing_held(root):
            load_button(uploader).click()
            # step 1: the upload is stored and the app's build has written its tables; it now waits
            # to publish, holding nothing on the warehouse (its write connection is closed)
            deadline = time.monotonic() + 900
            while built_at(app["db"]) == built_before:
                assert time.monotonic() < deadline, "the app's build never wrote its tables"
                assert not problems_on(uploader), problems_on(uploader)
                time.sleep(0.5)
            if rows_by_wave(app["db"]).get("2026") != before + 1:
                findings.append("the upload was not stored before the build")
            # step 2: the CLI ingest may not wait at all, while the reader keeps reading
            cli = subprocess.Popen(
                [sys.executable, "-m", "pipelines", "ingest", str(cli_file), "--wave", "2030", "--db", str(app["db"])],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**os.environ, "CLINRET_LOCK_WAIT": "0"},
            )
            rounds = 0
            while cli.poll() is None or rounds < 1:
                read_pages(snapshot_pages, "during the CLI ingest")
                rounds += 1
            cli_out = cli.communicate(timeout=60)[0].decode(errors="replace")
            if cli.returncode != 0:
                findings.append(f"CLI ingest (exit {cli.returncode}, no lock wait allowed): {cli_out[-500:]}")
            if publish.current(root).build_id != published_before:
                findings.append("a snapshot was published while publishing was held")
        # step 3: the app publishes; the upload reports success
        uploader.get_by_text("Loaded 1 responses").first.wait_for(timeout=300_000)
        wait(uploader)
        read_pages([*snapshot_pages, "retention-options"], "after")
        browser_helpers.screenshot(reader, ARTIFACTS / "concurrent-reader.png")
        browser_helpers.screenshot(uploader, ARTIFACTS / "upload-qualtrics-loaded.png")
        findings += [f"uploader: {p}" for p in problems_on(uploader)]
    finally:
        uploader.context.close()
        reader.context.close()
    final = rows_by_wave(app["db"])
    if final.get("2030") != cli_rows:
        findings.append(f"wave 2030 has {final.get('2030')} rows, expected {cli_rows}")
    if final.get("2026") != before + 1:
        findings.append(f"wave 2026 has {final.get('2026')} rows after the upload, expected {before + 1}")
    current = publish.current(root)
    if current.build_id == published_before or publish.verify(current):
        findings.append(f"the app's build was not published whole: {publish.verify(current)}")
    assert not findings, "\n".join(findings)
