"""Sign-in end to end: a real `streamlit run`, headless chromium and a fake OIDC provider on 127.0.0.1.

Streamlit's own `st.login()` (Authlib) runs unchanged against tests/oidc_provider.py: discovery,
authorization-code flow with state, nonce and PKCE, RS256 ID token checked against the provider's
JWKS, then the identity cookie. Each server runs with its working directory in a temporary folder
holding `.streamlit/secrets.toml` (the `[auth]` block for the fake provider), passed explicitly with
`--secrets.files` too so a secrets file beside the app can never leak in; the repository's
`.streamlit/` folder is not touched. `$CLINRET_DB` and `$CLINRET_ACCESS` point at temporary files.

Two apps:
- a probe app (a few lines over dashboard/auth.py): sign-in, no-access and sign-out work today;
- the real router (streamlit_app.py): scenarios per role, run once the router calls
  `auth.current_principal()` (skipped before, with that reason). The leader-scope scenario also
  needs dashboard/data.py to apply `auth.current_scope()`; upload and settings audit entries need
  the pipelines to record them.

Run with `pytest -m e2e tests/e2e/test_auth.py`.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.store import warehouse
from tests.oidc_provider import FakeOIDCProvider

from .conftest import ARTIFACTS, ROOT, browser_helpers

pytestmark = pytest.mark.e2e

ROUTER = ROOT / "streamlit_app.py"
ENTRY = ROOT / "serve.py"  # what `make run` starts: the router, warmed up through st.App
ACCESS_FILE = """
[[users]]
email = "north.lead@example.org"
role = "leader"
site = "North Campus"

[[users]]
email = "wellness@example.org"
role = "wellness_officer"

[[groups]]
claim = "groups"
value = "retention-admins"
role = "admin"
"""
LEADER = {"email": "north.lead@example.org", "name": "North Lead", "groups": ["staff"]}
OFFICER = {"email": "wellness@example.org", "name": "Wendy Wellness", "groups": ["staff"]}
ADMIN = {"email": "ada@example.org", "name": "Ada Admin", "groups": ["staff", "retention-admins"]}
STRANGER = {"email": "stranger@example.org", "name": "Sam Stranger", "groups": ["staff"]}
SIGNED_IN_MARK = '[data-testid="stSidebar"] button:has-text("Sign out")'
PROBE = textwrap.dedent(
    """
    import streamlit as st
    from dashboard import auth

    st.set_page_config(page_title="Sign-in probe")
    principal = auth.current_principal()
    if principal is None:
        auth.no_access_page()
    auth.local_mode_banner(principal)
    auth.sidebar_account(principal)
    st.title("Signed in")
    st.text(f"st.user email: {st.user.get('email')}")
    st.text(f"principal: {principal.email} | {principal.role} | {principal.scope.label()}")
    st.text(f"roles: {sorted(auth.roles_for(principal))}")
    """
)


def router_wired() -> bool:
    return "auth.current_principal(" in ROUTER.read_text(encoding="utf-8")


def data_layer_scoped() -> bool:
    return "current_scope(" in (ROOT / "dashboard" / "data.py").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def serve(script: Path, workdir: Path, db: Path, access_file: Path, idp: FakeOIDCProvider) -> Iterator[str]:
    """`streamlit run script` on a free port, cwd=workdir with .streamlit/secrets.toml for `idp`."""
    port = browser_helpers.free_port()
    url = f"http://127.0.0.1:{port}"
    secrets = workdir / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir(parents=True, exist_ok=True)
    secrets.write_text(idp.secrets_toml(f"{url}/oauth2callback"), encoding="utf-8")
    env = {
        **os.environ,
        "CLINRET_DB": str(db),
        "CLINRET_ACCESS": str(access_file),
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script),
        "--server.headless=true", "--server.address=127.0.0.1", f"--server.port={port}",
        "--browser.gatherUsageStats=false", "--server.fileWatcherType=none", f"--secrets.files={secrets}",
    ]  # fmt: skip
    log = workdir / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            browser_helpers.wait_healthy(url, proc=proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / f"auth-{script.stem}-streamlit.log").write_bytes(log.read_bytes())


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeOIDCProvider]:
    with FakeOIDCProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def access_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("access") / "access.toml"
    path.write_text(ACCESS_FILE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def probe(tmp_path_factory, idp, access_file) -> Iterator[dict]:
    if not Path(browser_helpers.CHROMIUM).exists():
        pytest.fail(f"chromium not found at {browser_helpers.CHROMIUM}")
    work = tmp_path_factory.mktemp("probe")
    script = work / "signin_probe.py"
    script.write_text(PROBE, encoding="utf-8")
    db = work / "warehouse.duckdb"
    with serve(script, work, db, access_file, idp) as url:
        yield {"url": url, "db": db}


@pytest.fixture(scope="module")
def router(tmp_path_factory, idp, access_file) -> Iterator[dict]:
    if not router_wired():
        pytest.fail("streamlit_app.py does not call auth.current_principal() yet")
    if not Path(browser_helpers.CHROMIUM).exists():
        pytest.fail(f"chromium not found at {browser_helpers.CHROMIUM}")
    from pipelines.ingest.first_run import load_sample

    work = tmp_path_factory.mktemp("router")
    db = work / "warehouse.duckdb"
    load_sample(db)  # prebuilt, so the first page does not wait for the app's own first-run load
    with serve(ENTRY, work, db, access_file, idp) as url:
        yield {"url": url, "db": db}


@pytest.fixture(scope="module")
def browser():
    with browser_helpers.launch_browser() as b:
        yield b


@pytest.fixture
def page(browser):
    """A fresh context per test: no identity cookie from another user."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------
def wait(page) -> None:
    browser_helpers.wait_for_app(page)


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def all_text(page) -> str:
    sidebar = page.locator('[data-testid="stSidebar"]')
    return main_text(page) + "\n" + (sidebar.inner_text() if sidebar.count() else "")


def sign_in(page, url: str, idp: FakeOIDCProvider, user: dict, *, expect_access: bool = True) -> None:
    """Open the app, press Sign in, let the provider approve `user`, land back on the app."""
    idp.next_user = dict(user)
    page.goto(url)
    wait(page)
    assert "Sign in with your organisation account" in main_text(page)
    tokens_before = sum(1 for p, _ in idp.requests if p == "/token")
    page.get_by_role("button", name="Sign in").click()
    deadline = time.monotonic() + 30  # the provider is called by the app server: wait for the code exchange
    while sum(1 for p, _ in idp.requests if p == "/token") == tokens_before:
        assert time.monotonic() < deadline, ("no token request reached the provider", idp.requests[-5:])
        page.wait_for_timeout(100)
    page.wait_for_url(re.compile(rf"^{re.escape(url)}/?$"), timeout=30_000)
    wait(page)
    if expect_access:
        page.locator(SIGNED_IN_MARK).wait_for(timeout=30_000)


def audit(db: Path, action: str | None = None) -> list[tuple]:
    with warehouse.connect(db, read_only=True) as con:
        sql = "select actor, action, object, outcome, detail from audit_log"
        if action:
            return con.execute(sql + " where action = ? order by logged_at", [action]).fetchall()
        return con.execute(sql + " order by logged_at").fetchall()


def other_sites(own: str) -> list[str]:
    with open(ROOT / "sample_data" / "headcount.csv", newline="", encoding="utf-8") as fh:
        sites = {row["site"] for row in csv.DictReader(fh)}
    assert own in sites
    return sorted(sites - {own})


# ------------------------------------------------------------------------------------------
# Probe app: works before the router is wired
# ------------------------------------------------------------------------------------------
def test_sign_in_with_the_provider_resolves_role_and_scope(probe, idp, page):
    before = len(idp.requests)
    sign_in(page, probe["url"], idp, LEADER)
    text = main_text(page)
    browser_helpers.screenshot(page, ARTIFACTS / "auth-probe-leader.png")
    assert "st.user email: north.lead@example.org" in text
    assert "principal: north.lead@example.org | leader | North Campus" in text
    assert "roles: ['leader']" in text
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "North Lead" in sidebar and "Leader" in sidebar and "North Campus" in sidebar

    # What Streamlit sent: discovery, an authorization request with state, nonce and S256 PKCE, a
    # token exchange, and the JWKS to check the ID token's signature; the nonce came back in it.
    calls = idp.requests[before:]
    paths = [p for p, _ in calls]
    assert "/authorize" in paths and "/token" in paths
    authorize = next(q for p, q in calls if p == "/authorize")
    assert authorize["state"] and authorize["nonce"] and authorize["code_challenge_method"] == "S256"
    assert authorize["scope"].split()[0] == "openid"
    assert idp.issued_id_tokens[-1]["nonce"] == authorize["nonce"]
    assert "/jwks" in [p for p, _ in idp.requests]

    entries = audit(probe["db"], "sign-in")
    assert [(a, o) for a, _, _, o, _ in entries if a == LEADER["email"]] == [(LEADER["email"], "ok")]
    page.reload()
    wait(page)
    assert "principal: north.lead@example.org" in main_text(page)  # the cookie keeps the user signed in
    # a reload is a new session with the same identity cookie: still one sign-in in the log
    assert len([e for e in audit(probe["db"], "sign-in") if e[0] == LEADER["email"]]) == 1


def test_group_claim_grants_admin(probe, idp, page):
    sign_in(page, probe["url"], idp, ADMIN)
    assert "principal: ada@example.org | admin | whole organisation" in main_text(page)
    assert "roles: ['admin', 'leader', 'wellness_officer']" in main_text(page)


def test_unknown_user_sees_only_no_access(probe, idp, page):
    sign_in(page, probe["url"], idp, STRANGER, expect_access=False)
    page.get_by_text("You have no access").wait_for(timeout=30_000)
    text = main_text(page)
    assert "ask your administrator" in text and "Signed in" not in text and "principal:" not in text
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert [o for a, _, _, o, _ in audit(probe["db"], "sign-in") if a == STRANGER["email"]] == ["no access"]


def test_sign_out_returns_to_the_sign_in_screen(probe, idp, page):
    sign_in(page, probe["url"], idp, OFFICER)
    page.locator(SIGNED_IN_MARK).click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    assert "/logout" in [p for p, _ in idp.requests]  # provider-side sign-out (end_session_endpoint)
    page.goto(probe["url"])
    wait(page)
    assert "Sign in with your organisation account" in main_text(page)


def test_forged_identity_cookie_is_ignored(probe, page):
    page.context.add_cookies([{"name": "_streamlit_user", "value": '{"email": "x"}', "url": probe["url"]}])
    page.goto(probe["url"])
    wait(page)
    assert "Sign in with your organisation account" in main_text(page)


# ------------------------------------------------------------------------------------------
# The real router (after the lead's wiring)
# ------------------------------------------------------------------------------------------
def test_router_unknown_user_sees_only_no_access(router, idp, page):
    sign_in(page, router["url"], idp, STRANGER, expect_access=False)
    page.get_by_text("You have no access").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    for path in ("overview", "upload", "settings", "reports"):
        page.goto(f"{router['url']}/{path}")
        wait(page)
        assert "You have no access" in main_text(page), path
        assert "Upload a survey wave" not in main_text(page) and "Settings" not in main_text(page)


def test_router_leader_cannot_open_upload_or_settings_by_url(router, idp, page):
    sign_in(page, router["url"], idp, LEADER)
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Overview" in nav and "Upload" not in nav and "Settings" not in nav
    for path in ("upload", "uploads", "settings", "audit-log"):
        page.goto(f"{router['url']}/{path}")
        wait(page)
        text = main_text(page)
        assert "Upload a survey wave" not in text and "Save and rebuild" not in text, path


def test_router_site_leader_sees_only_their_site_on_every_page(router, idp, page):
    """Every page the leader can open, with the default filters and with their site chosen (so the
    pages show figures, not an empty state), including the tables behind "Show data": no other
    site's name appears anywhere, and the site filter offers only their own site."""
    from urllib.parse import quote

    sign_in(page, router["url"], idp, LEADER)
    own = "North Campus"
    forbidden = other_sites(own)
    leaks, shown = [], []
    for url_path, _title in browser_helpers.page_paths():
        if url_path in ("upload", "uploads", "settings", "audit-log"):
            continue
        for query in ("", f"?site={quote(own)}"):
            path = "" if url_path == "overview" else url_path  # the default page lives at "/"
            page.goto(f"{router['url']}/{path}{query}")
            wait(page)
            if page.get_by_role("dialog").count():
                page.keyboard.press("Escape")
            with contextlib.suppress(Exception):  # open every "Show data" expander: tables count too
                for i in range(page.get_by_text("Show data").count()):
                    page.get_by_text("Show data").nth(i).click()
            select = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Site")
            if select.count():
                select.first.click()
                options = page.locator('[role="option"]').all_inner_texts()
                page.keyboard.press("Escape")
                leaks += [f"{url_path}{query}: site option {o}" for o in options if o in forbidden]
            text = all_text(page)
            leaks += [f"{url_path}{query}: {site}" for site in forbidden if site in text]
            if query and page.locator('[data-testid="stMetric"]').count():
                shown.append(url_path)
        browser_helpers.screenshot(page, ARTIFACTS / f"auth-leader-{url_path}.png")
    assert not leaks, leaks
    assert "overview" in shown, "the leader's own site shows no figures: the test would prove nothing"


def test_router_officer_uploads_a_canonical_csv(router, idp, page, tmp_path):
    with open(ROOT / "sample_data" / "wave_2026.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[:41]
    small = tmp_path / "wave_2031.csv"
    with open(small, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    sign_in(page, router["url"], idp, OFFICER)
    page.goto(f"{router['url']}/upload")
    wait(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').nth(0).set_input_files(str(small))
    wait(page)
    wave_box = page.get_by_role("textbox", name="Wave", exact=True)
    wave_box.fill("2031")
    wave_box.press("Enter")
    wait(page)
    page.get_by_text("ready to load").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stBaseButton-primary"]', has_text="Load").click()
    page.get_by_text("Loaded 40 responses").first.wait_for(timeout=180_000)
    uploads = audit(router["db"], "upload")
    assert any(a == OFFICER["email"] for a, *_ in uploads), (
        "no 'upload' audit entry by the officer (pipelines/ingest/load.py must record it)",
        audit(router["db"]),
    )


def test_router_admin_changes_the_anonymity_threshold(router, idp, page):
    sign_in(page, router["url"], idp, ADMIN)
    page.goto(f"{router['url']}/settings")
    wait(page)
    box = page.get_by_label("Min group size", exact=True)
    box.fill("7")
    box.press("Tab")
    page.get_by_role("button", name="Save and rebuild").click()
    page.get_by_text("Saved min_group_size").first.wait_for(timeout=180_000)
    with warehouse.connect(router["db"], read_only=True) as con:
        assert con.execute("select value from settings where key = 'min_group_size'").fetchone()[0] == "7"
    changes = audit(router["db"], "settings change")
    assert any(a == ADMIN["email"] for a, *_ in changes), (
        "no 'settings change' audit entry by the admin (pipelines/store/settings.py must record it)",
        audit(router["db"]),
    )


def test_router_audit_log_has_every_sign_in(router, page):
    """One entry per sign-in (each test signs in once), however many pages each user opened.

    Takes `page` although it opens nothing: pytest-playwright parametrizes browser tests by browser
    name, and a test outside that group got a new `router` (and an empty audit log) of its own."""
    entries = sorted((a, o) for a, _, _, o, _ in audit(router["db"], "sign-in"))
    expected = [(STRANGER["email"], "no access")] + [(u["email"], "ok") for u in (LEADER, LEADER, OFFICER, ADMIN)]
    assert entries == sorted(expected), entries
