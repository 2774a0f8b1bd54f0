"""Sign-in, roles and scopes in the app (dashboard/auth.py), with AppTest.

AppTest 1.67 simulates the signed-in user with `at.user = {"is_logged_in": True, "email": ..., ...}`
(it becomes `st.user` for the run) and sign-in configuration with `at.secrets["auth"] = {...}`
(it replaces `st.secrets`, which is what `auth.auth_configured()` reads). `st.login()` itself cannot
run in AppTest (it validates against the real secrets file); tests/e2e/test_auth.py covers it.

Two app scripts are tested:
- a stand-in router: the router's own PAGES table (read from streamlit_app.py) wired to
  dashboard/auth.py exactly as the lead wires streamlit_app.py, so these tests run today;
- the real router (streamlit_app.py), once it calls `auth.current_principal()` (skipped before).
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth
from pipelines.release import access
from tests.conftest import ROOT

ROUTER = ROOT / "streamlit_app.py"
TIMEOUT = 180
ACCESS_FILE = """
[[users]]
email = "north.lead@example.org"
role = "leader"
site = "North Campus"

[[users]]
email = "cmo@example.org"
role = "leader"

[[users]]
email = "wellness@example.org"
role = "wellness_officer"

[[groups]]
claim = "groups"
value = "retention-admins"
role = "admin"
"""
AUTH_SECRETS = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "a-test-cookie-secret-that-is-long-enough",
    "client_id": "clinret-test",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
USERS = {
    "leader": {"email": "north.lead@example.org", "name": "North Lead", "groups": []},
    "officer": {"email": "wellness@example.org", "name": "Wellness Officer", "groups": []},
    "admin": {"email": "boss@example.org", "name": "Ada Admin", "groups": ["staff", "retention-admins"]},
    "stranger": {"email": "stranger@example.org", "name": "Stranger", "groups": ["staff"]},
}
ALL_PAGES = {
    "overview", "attrition-risk", "drivers", "retention-options", "intentions", "trends",
    "upload", "uploads", "reports", "settings", "audit-log", "methodology",
}  # fmt: skip


# ------------------------------------------------------------------------------------------
# The router's PAGES table, and a stand-in router wired to dashboard/auth.py
# ------------------------------------------------------------------------------------------
def router_source() -> str:
    return ROUTER.read_text(encoding="utf-8")


def router_wired() -> bool:
    return "auth.current_principal(" in router_source()


def router_pages_source() -> str:
    """The router's role constants and PAGES table, as source (run inside the stand-in)."""
    source = router_source()
    wanted = {"LEADER", "OFFICER", "ADMIN", "EVERYONE", "PAGES"}
    parts = []
    for node in ast.parse(source).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        names = {
            e.id for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t]) if isinstance(e, ast.Name)
        }
        if names & wanted:
            parts.append(ast.get_source_segment(source, node))
    return "\n".join(parts)


STAND_IN = """
import streamlit as st
from dashboard import auth

{pages}


def placeholder(title):
    def page():
        st.title(title)
        st.caption("page body")
    page.__name__ = "page_" + title.replace(" ", "_").replace("&", "and")
    return page


principal = auth.current_principal()
if principal is None:
    auth.no_access_page()
auth.local_mode_banner(principal)
auth.sidebar_account(principal)
roles = auth.roles_for(principal)
sections = {{}}
for section, entries in PAGES.items():
    for file_name, title, icon, url_path, allowed in entries:
        if roles & allowed:
            sections.setdefault(section, []).append(
                st.Page(placeholder(title), title=title, icon=icon, url_path=url_path, default=url_path == "overview")
            )
st.navigation(sections).run()
st.session_state["scope_seen"] = auth.current_scope().label()
"""


@pytest.fixture
def stand_in(tmp_path: Path) -> Path:
    path = tmp_path / "stand_in_app.py"
    path.write_text(STAND_IN.format(pages=router_pages_source()), encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """A fresh warehouse and the access file above, through $CLINRET_DB and $CLINRET_ACCESS."""
    db = tmp_path / "warehouse.duckdb"
    rules = tmp_path / "access.toml"
    rules.write_text(ACCESS_FILE, encoding="utf-8")
    monkeypatch.setenv("CLINRET_DB", str(db))
    monkeypatch.setenv("CLINRET_ACCESS", str(rules))
    return {"db": db, "access": rules}


def app(script: Path, user: dict | None, *, configured: bool = True) -> AppTest:
    at = AppTest.from_file(str(script), default_timeout=TIMEOUT)
    if configured:
        at.secrets["auth"] = dict(AUTH_SECRETS)
    at.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, **user}
    return at


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def registered(at: AppTest) -> set[str]:
    """URL paths st.navigation registered in the last run (AppTest keeps them for switch_page).
    The default page (Overview) is registered with an empty path: it is "overview" here."""
    return {str(info["url_pathname"] or "overview") for info in at._registered_pages.values() if "url_pathname" in info}


def texts(at: AppTest) -> str:
    parts = [t.value for t in at.title] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [i.value for i in at.info] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def audit_rows(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select actor, action, outcome, detail from audit_log order by logged_at").fetchall()


# ------------------------------------------------------------------------------------------
# Plain functions
# ------------------------------------------------------------------------------------------
def test_roles_are_cumulative():
    def p(role):
        return access.Principal("x@example.org", "X", role)

    assert auth.roles_for(p("leader")) == {"leader"}
    assert auth.roles_for(p("wellness_officer")) == {"leader", "wellness_officer"}
    assert auth.roles_for(p("admin")) == {"leader", "wellness_officer", "admin"}
    assert auth.roles_for(access.LOCAL_PRINCIPAL) == set(access.ROLES)
    assert auth.roles_for(None) == set()


def test_auth_configured_is_false_without_a_secrets_file(tmp_path, monkeypatch):
    # Outside a running app with no secrets file anywhere Streamlit looks: local mode, no exception.
    from streamlit import config

    monkeypatch.setattr(
        config, "get_option", lambda key: [str(tmp_path / "none.toml")] if key == "secrets.files" else None
    )
    from streamlit.runtime.secrets import secrets_singleton

    secrets_singleton._reset()
    try:
        assert auth.auth_configured() is False
    finally:
        monkeypatch.undo()
        secrets_singleton._reset()


# ------------------------------------------------------------------------------------------
# Stand-in router (runs before and after the lead's wiring)
# ------------------------------------------------------------------------------------------
def test_local_mode_has_every_page_a_banner_and_no_sign_in(stand_in, env):
    at = run(app(stand_in, {"email": "ignored@example.org"}, configured=False))
    assert registered(at) == ALL_PAGES
    assert "Local mode" in texts(at) and "docs/security.md" in texts(at)
    assert "Local user" in " ".join(c.value for c in at.sidebar.caption)
    assert not [b for b in at.button if b.label in ("Sign in", "Sign out")]
    assert audit_rows(env["db"]) == []  # nobody signs in in local mode


def test_signed_out_user_sees_only_the_sign_in_screen(stand_in, env):
    at = run(app(stand_in, None))
    assert registered(at) == set()
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in with your organisation account" in texts(at)
    assert "Local mode" not in texts(at)
    assert audit_rows(env["db"]) == []


@pytest.mark.parametrize(
    ("who", "expected_pages", "role_label", "scope_label"),
    [
        ("leader", ALL_PAGES - {"upload", "uploads", "settings", "audit-log"}, "Leader", "North Campus"),
        ("officer", ALL_PAGES - {"settings", "audit-log"}, "Wellness officer", "whole organisation"),
        ("admin", ALL_PAGES, "Administrator", "whole organisation"),
    ],
)
def test_navigation_follows_the_role(stand_in, env, who, expected_pages, role_label, scope_label):
    at = run(app(stand_in, USERS[who]))
    assert registered(at) == expected_pages
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert role_label in sidebar and scope_label in sidebar and USERS[who]["name"] in sidebar
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    assert "Local mode" not in texts(at)
    assert at.session_state["scope_seen"] == scope_label
    run(at)  # a rerun does not sign in again
    entries = audit_rows(env["db"])
    assert [(a, action, outcome) for a, action, outcome, _ in entries] == [(USERS[who]["email"], "sign-in", "ok")]
    assert json.loads(entries[0][3])["scope"] == scope_label


def test_one_sign_in_entry_per_id_token_not_per_page_load(stand_in, env):
    """Each page load is a new session reading the same identity cookie (same ID token `iat`)."""
    user = {**USERS["officer"], "iat": 1_900_000_001}
    for _ in range(3):
        run(app(stand_in, user))  # three sessions
    run(app(stand_in, {**user, "iat": 1_900_000_002}))  # signed in again: a new ID token
    entries = [(a, action) for a, action, _, _ in audit_rows(env["db"])]
    assert entries == [("wellness@example.org", "sign-in")] * 2


def test_leader_cannot_switch_to_upload(stand_in, env):
    at = run(app(stand_in, USERS["leader"]))
    with pytest.raises(ValueError):
        at.switch_page("dashboard/pages/upload.py")


def test_unknown_user_sees_only_the_no_access_page(stand_in, env):
    at = run(app(stand_in, USERS["stranger"]))
    assert registered(at) == set()
    assert [t.value for t in at.title] == ["No access"]
    assert "ask your administrator" in texts(at)
    assert [b.label for b in at.button] == ["Sign out"]
    assert not at.sidebar.caption and not at.info and not at.dataframe and not at.metric
    assert [(a, action, outcome) for a, action, outcome, _ in audit_rows(env["db"])] == [
        ("stranger@example.org", "sign-in", "no access")
    ]


def test_sign_out_returns_to_the_sign_in_screen(stand_in, env):
    at = run(app(stand_in, USERS["officer"]))
    at.sidebar.button[0].click()
    run(at)
    assert at.user.get("is_logged_in") is False
    run(at)
    assert [b.label for b in at.button] == ["Sign in"] and registered(at) == set()


def test_a_broken_access_file_shows_an_error_and_no_pages(stand_in, env):
    env["access"].write_text('[[users]]\nemail = "a@x.org"\nrole = "owner"\n', encoding="utf-8")
    at = run(app(stand_in, USERS["admin"]))
    assert registered(at) == set()
    assert "access file could not be read" in texts(at)
    assert "owner" not in texts(at)  # the file's details go to the server log, not to the browser


def test_busy_warehouse_does_not_block_sign_in(stand_in, env, monkeypatch):
    from pipelines.store import warehouse

    def busy(*args, **kwargs):
        raise warehouse.WarehouseBusy("busy")

    monkeypatch.setattr(warehouse, "connect", busy)
    at = run(app(stand_in, USERS["admin"]))
    assert registered(at) == ALL_PAGES
    monkeypatch.undo()
    monkeypatch.setenv("CLINRET_DB", str(env["db"]))
    monkeypatch.setenv("CLINRET_ACCESS", str(env["access"]))
    run(at)  # the next rerun records it
    assert [(a, action) for a, action, _, _ in audit_rows(env["db"])] == [("boss@example.org", "sign-in")]


# ------------------------------------------------------------------------------------------
# The real router, once wired (streamlit_app.py calls auth.current_principal())
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory) -> Path:
    if not router_wired():
        pytest.fail("router not wired")
    from pipelines.ingest.first_run import load_sample

    path = tmp_path_factory.mktemp("auth-sample") / "warehouse.duckdb"
    load_sample(path)
    return path


@pytest.fixture
def router_env(sample_warehouse, env, monkeypatch) -> dict[str, Path]:
    from pipelines.release import build

    monkeypatch.setattr(build, "PRODUCERS", [build.produce_metrics, build.produce_benchmarks])
    shutil.copy(sample_warehouse, env["db"])
    return env


@pytest.mark.parametrize(
    ("who", "expected_pages"),
    [
        ("leader", ALL_PAGES - {"upload", "uploads", "settings", "audit-log"}),
        ("officer", ALL_PAGES - {"settings", "audit-log"}),
        ("admin", ALL_PAGES),
    ],
)
def test_router_navigation_follows_the_role(router_env, who, expected_pages):
    at = run(app(ROUTER, USERS[who]))
    assert registered(at) == expected_pages
    assert "Local mode" not in texts(at)


def test_router_unknown_user_sees_only_no_access(router_env):
    at = run(app(ROUTER, USERS["stranger"]))
    assert registered(at) == set()
    assert [t.value for t in at.title] == ["No access"]


def test_router_local_mode_shows_banner_and_every_page(router_env):
    at = run(app(ROUTER, {}, configured=False))
    assert registered(at) == ALL_PAGES
    assert "Local mode" in texts(at)
