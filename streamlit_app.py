"""Router: page config, first-run sample, and the navigation built from the user's roles."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import auth, data

HERE = Path(__file__).parent
LEADER, OFFICER, ADMIN = "leader", "wellness_officer", "admin"
EVERYONE = frozenset({LEADER, OFFICER, ADMIN})

# section -> (page file, title, icon, url path, roles that may open it)
PAGES: dict[str, list[tuple[str, str, str, str, frozenset[str]]]] = {
    "Insights": [
        ("overview.py", "Overview", ":material/dashboard:", "overview", EVERYONE),
        ("attrition_risk.py", "Attrition risk", ":material/trending_down:", "attrition-risk", EVERYONE),
        ("drivers.py", "Drivers", ":material/insights:", "drivers", EVERYONE),
        ("retention_options.py", "Retention options", ":material/tune:", "retention-options", EVERYONE),
        ("intentions.py", "Intentions & reasons", ":material/signpost:", "intentions", EVERYONE),
        ("trends.py", "Trends", ":material/show_chart:", "trends", EVERYONE),
    ],
    "Data": [
        ("upload.py", "Upload", ":material/upload_file:", "upload", frozenset({OFFICER, ADMIN})),
        ("uploads.py", "Uploads & waves", ":material/history:", "uploads", frozenset({OFFICER, ADMIN})),
    ],
    "Reports": [("reports.py", "Reports", ":material/description:", "reports", EVERYONE)],
    "Admin": [
        ("settings.py", "Settings", ":material/settings:", "settings", frozenset({ADMIN})),
        ("audit_log.py", "Audit log", ":material/policy:", "audit-log", frozenset({ADMIN})),
    ],
    "Help": [("methodology.py", "Methodology", ":material/menu_book:", "methodology", EVERYONE)],
}


def current_roles() -> frozenset[str]:
    """The signed-in user's roles (sign-in screen, no-access page or local-mode banner on the way)."""
    principal = auth.current_principal()  # sign-in screen and st.stop() when not signed in
    if principal is None:
        auth.no_access_page()  # "no access; ask your administrator", sign out, st.stop()
    auth.local_mode_banner(principal)
    auth.sidebar_account(principal)
    return auth.roles_for(principal)


def _not_ready(title: str):
    def page() -> None:
        st.title(title)
        st.info("This page is not installed in this build yet.")

    return page


def navigation(roles: frozenset[str]) -> dict[str, list[st.Page]]:
    """The pages this set of roles may open, by section. A page not listed cannot be reached."""
    sections: dict[str, list[st.Page]] = {}
    for section, pages in PAGES.items():
        for file_name, title, icon, url_path, allowed in pages:
            if not roles & allowed:
                continue
            path = HERE / "dashboard" / "pages" / file_name
            source = path if path.exists() else _not_ready(title)
            page = st.Page(source, title=title, icon=icon, url_path=url_path, default=url_path == "overview")
            sections.setdefault(section, []).append(page)
    return sections


st.set_page_config(page_title="Clinician retention", page_icon=":material/health_and_safety:", layout="wide")
with st.spinner("Preparing the warehouse (first run loads the sample health system)…"):
    data.ensure_warehouse(str(data.db_path()))
st.navigation(navigation(current_roles())).run()
