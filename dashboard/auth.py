"""Who is using the dashboard: local mode, or OpenID Connect sign-in with roles and scopes.

Two modes (docs/security.md):

- Local mode, when `.streamlit/secrets.toml` has no `[auth]` section: the app listens on 127.0.0.1
  only and everyone who can open it is the one local user holding every role (a banner says so).
- Sign-in, when `[auth]` is configured: `st.login()` with the organisation's OIDC provider; the
  signed-in user's claims are matched against the access file (pipelines.release.access) for a role and a
  scope. No matching entry: a "no access" page and nothing else.

The router calls, in order:

    principal = auth.current_principal()      # sign-in screen + st.stop() when not signed in
    if principal is None:
        auth.no_access_page()                  # renders, then st.stop()
    auth.local_mode_banner(principal)
    auth.sidebar_account(principal)
    st.navigation(navigation(auth.roles_for(principal))).run()

and the data layer reads `auth.current_scope()` to narrow every released table.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import streamlit as st

from pipelines.release import access
from pipelines.store import audit, warehouse

LOG = logging.getLogger(__name__)
SECURITY_DOC = "docs/security.md"
ROLE_LABELS = {"leader": "Leader", "wellness_officer": "Wellness officer", "admin": "Administrator"}
# session_state keys (prefixed so no page can collide with them)
_PRINCIPAL_KEY = "_clinret_principal"
_SIGNED_IN_KEY = "_clinret_signin_recorded"
_AUDIT_ATTEMPTS_KEY = "_clinret_signin_audit_attempts"
AUDIT_WAIT_SECONDS = 2.0  # how long a sign-in waits for a busy warehouse before trying next rerun
AUDIT_MAX_ATTEMPTS = 3
# Sign-ins already in the audit log, as "email|iat", for this server process (all sessions).
_RECORDED: set[str] = set()
_RECORDED_LOCK = threading.Lock()
# A scope no site matches: what a session sees before (or without) a resolved principal.
NOTHING = access.Scope(site="\x00no access")
# st.user keys Streamlit adds itself; not identity claims
_NOT_CLAIMS = frozenset({"is_logged_in", "origin", "provider", "tokens"})


# ------------------------------------------------------------------------------------------
# Mode
# ------------------------------------------------------------------------------------------
def auth_configured() -> bool:
    """True when `.streamlit/secrets.toml` (or another secrets file) has an `[auth]` section.

    Never raises: no secrets file, an unreadable one or an empty `[auth]` all mean local mode.
    """
    try:
        section = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - StreamlitSecretNotFoundError, parse errors: no sign-in configured
        return False
    return bool(section)


def roles_for(principal: access.Principal | None) -> frozenset[str]:
    """The page roles a principal holds: its role and every role below it (leader < officer < admin)."""
    if principal is None:
        return frozenset()
    return frozenset(access.ROLES[: access.ROLES.index(principal.role) + 1])


def current_scope() -> access.Scope:
    """The part of the organisation this session may see, for the data layer (no widgets, cheap).

    The signed-in principal's scope; the whole organisation in local mode. Fails closed: with
    sign-in configured but no principal resolved in this session, a scope that matches no site.
    """
    principal = st.session_state.get(_PRINCIPAL_KEY)
    if isinstance(principal, access.Principal):
        return principal.scope
    return access.Scope() if not auth_configured() else NOTHING


def actor(principal: access.Principal | None = None) -> str:
    """The name the audit log records for this session's user."""
    principal = principal or st.session_state.get(_PRINCIPAL_KEY)
    if isinstance(principal, access.Principal):
        return "local user" if principal.local else principal.email
    return "local user"


# ------------------------------------------------------------------------------------------
# The principal
# ------------------------------------------------------------------------------------------
def _claims() -> dict[str, Any]:
    return {k: v for k, v in st.user.to_dict().items() if k not in _NOT_CLAIMS}


def _logged_in() -> bool:
    try:
        return bool(st.user.to_dict().get("is_logged_in"))
    except Exception:  # noqa: BLE001 - no user information at all: not signed in
        return False


def current_principal() -> access.Principal | None:
    """This session's principal.

    Local mode: `access.LOCAL_PRINCIPAL`. Sign-in configured but nobody signed in: the sign-in
    screen, then `st.stop()`. Signed in: the access-file entry for the user's claims, or None
    (no access). The first time in a session a 'sign-in' entry goes to the audit log.
    """
    if not auth_configured():
        st.session_state[_PRINCIPAL_KEY] = access.LOCAL_PRINCIPAL
        return access.LOCAL_PRINCIPAL
    if not _logged_in():
        st.session_state.pop(_PRINCIPAL_KEY, None)
        sign_in_page()
        st.stop()
    claims = _claims()
    try:
        principal = access.resolve(claims, access.load_rules())
    except access.AccessFileError as exc:
        LOG.error("Access file unusable: %s", exc)
        st.session_state.pop(_PRINCIPAL_KEY, None)
        st.error(
            "Sign-in is not set up correctly on this server (the access file could not be read). "
            "Ask your administrator.",
            icon=":material/error:",
        )
        _sign_out_button(key="auth_error_sign_out")
        st.stop()
    if principal is None:
        st.session_state.pop(_PRINCIPAL_KEY, None)
    else:
        st.session_state[_PRINCIPAL_KEY] = principal
    _record_sign_in(claims, principal)
    return principal


def _record_sign_in(claims: dict[str, Any], principal: access.Principal | None) -> None:
    """One 'sign-in' audit entry per sign-in: outcome 'ok', or 'no access' when no entry of the
    access file matched.

    Every page load (reload, new tab, link) is a new Streamlit session that reads the same identity
    cookie, so "once per session" would log a sign-in per page view. A sign-in is identified by its
    ID token's issue time (`iat`): recorded once per process (memo) and once in the log (checked
    before writing), so a restart does not repeat it either. Without `iat`, once per session.
    A busy warehouse never blocks the user: it is retried on the next reruns, a few times, then
    given up (and logged).
    """
    email = str(claims.get("email") or claims.get("sub") or "unknown")
    iat = claims.get("iat")
    key = f"{email}|{iat}" if iat is not None else f"{email}|session"
    if st.session_state.get(_SIGNED_IN_KEY) == key:
        return
    if iat is not None and key in _RECORDED:
        st.session_state[_SIGNED_IN_KEY] = key
        return
    attempts = st.session_state.get(_AUDIT_ATTEMPTS_KEY, 0)
    if attempts >= AUDIT_MAX_ATTEMPTS:
        return
    if principal is None:
        outcome, detail = "no access", {"groups": claims.get("groups") or []}
    else:
        outcome, detail = "ok", {"role": principal.role, "scope": principal.scope.label()}
    if iat is not None:
        detail["token_iat"] = str(iat)
    try:
        with warehouse.connect(warehouse.resolve_db(None), wait=AUDIT_WAIT_SECONDS) as con:
            seen = (
                iat is not None
                and con.execute(
                    "select count(*) from audit_log where action = 'sign-in' and actor = ? "
                    "and detail->>'$.token_iat' = ?",
                    [email, str(iat)],
                ).fetchone()[0]
            )
            if not seen:
                audit.record(con, email, "sign-in", claims.get("iss") or "oidc", detail, outcome)
    except Exception as exc:  # noqa: BLE001 - the audit write must never lock a user out
        st.session_state[_AUDIT_ATTEMPTS_KEY] = attempts + 1
        LOG.warning("Could not record sign-in of %s (attempt %d): %s", email, attempts + 1, exc)
        return
    with _RECORDED_LOCK:
        _RECORDED.add(key)
    st.session_state[_SIGNED_IN_KEY] = key
    st.session_state.pop(_AUDIT_ATTEMPTS_KEY, None)


# ------------------------------------------------------------------------------------------
# Screens and pieces of the layout
# ------------------------------------------------------------------------------------------
def _sign_out_button(key: str, where: Any = st) -> None:
    if where.button("Sign out", key=key, icon=":material/logout:"):
        st.session_state.pop(_PRINCIPAL_KEY, None)
        st.session_state.pop(_SIGNED_IN_KEY, None)
        st.logout()


def sign_in_page() -> None:
    """The only thing someone who has not signed in sees."""
    st.title("Clinician retention")
    st.markdown("Survey results are confidential. Sign in with your organisation account to continue.")
    if st.button("Sign in", type="primary", key="auth_sign_in", icon=":material/login:"):
        st.login()


def no_access_page() -> None:
    """For a signed-in user who matches no entry of the access file: this message, a sign-out
    button, and nothing else (no navigation, no data). Stops the script."""
    st.title("No access")
    st.markdown("You have no access to this dashboard; ask your administrator.")
    _sign_out_button(key="auth_no_access_sign_out")
    st.stop()


def local_mode_banner(principal: access.Principal | None = None) -> None:
    """In local mode, a visible note that there is no sign-in and how to configure it."""
    principal = principal or st.session_state.get(_PRINCIPAL_KEY)
    if not (isinstance(principal, access.Principal) and principal.local):
        return
    st.info(
        "**Local mode**: sign-in is not configured, so whoever can open this address is the local "
        "user with every role. The dashboard listens on 127.0.0.1 only. To require sign-in with your "
        f"organisation's accounts, roles and scopes, see `{SECURITY_DOC}`.",
        icon=":material/lock_open:",
    )


def _plain(text: object) -> str:
    """Names and emails come from the identity provider: show them literally, never as markdown."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in str(text))


def sidebar_account(principal: access.Principal) -> None:
    """Who is signed in, with which role and scope, and a sign-out button (sign-in mode only)."""
    with st.sidebar:
        st.divider()
        role = ROLE_LABELS.get(principal.role, principal.role)
        if principal.local:
            st.caption(
                f"**{_plain(principal.name)}** · {role} · {_plain(principal.scope.label())}  \nLocal mode: no sign-in"
            )
            return
        st.caption(
            f"**{_plain(principal.name)}**  \n{_plain(principal.email)}  \n{role} · {_plain(principal.scope.label())}"
        )
        _sign_out_button(key="auth_sidebar_sign_out")
