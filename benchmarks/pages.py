"""The data behind each dashboard page, called the way the page calls it, outside Streamlit.

Each function makes the same dashboard data-layer calls (dashboard.data, dashboard.queries) as
the page script in dashboard/pages/, with the default view a leader first sees: the latest wave, the
whole organisation, the page's default breakdown. Chart building and layout are not included (the
render benchmark covers them). st.cache_data works outside a Streamlit server (in memory), so the
same caches apply; benchmarks.steps clears them between "warm" runs.

Keep these in step with the pages: when a page changes its reads, change its function here.
Pages whose script is not in dashboard/pages yet are skipped by run.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE_FILES: dict[str, str] = {
    "overview": "overview.py",
    "attrition-risk": "attrition_risk.py",
    "drivers": "drivers.py",
    "retention-options": "retention_options.py",
    "scenario-run": "retention_options.py",
    "intentions": "intentions.py",
    "trends": "trends.py",
    "reports": "reports.py",
}


def page_exists(page: str) -> bool:
    return (ROOT / "dashboard" / "pages" / PAGE_FILES[page]).exists()


def _sidebar(wave: bool = True):
    """filters.sidebar(): the released waves and dimension values, default choice."""
    from dashboard import data
    from dashboard.filters import Filters

    waves = list(reversed(data.waves()))
    data.dimension_values()
    data.departments_by_site()
    return Filters(waves[0] if waves else None)


def overview() -> list[str]:
    """The Overview page's reads, through the same named queries the page calls."""
    from dashboard import data, queries

    f = _sidebar()
    data.min_group_size()
    queries.overview_selection(f)
    queries.group_row(f)
    if queries.risk_ready():
        queries.risk_selection(f)
    by = f.breakdown_options()[0]
    queries.key_metric_units(f, by)
    queries.benchmarks()
    return ["sidebar", "min_group_size", "selection", "group", f"key metrics by {by}", "benchmarks"]


def attrition_risk() -> list[str]:
    from dashboard import data
    from dashboard import queries as md

    f = _sidebar()
    data.min_group_size()
    if not md.ready(md.RISK):
        return ["sidebar", "min_group_size", f"{md.RISK} absent"]
    md.risk_selection(f)
    by = f.breakdown_options()[0]
    md.risk_units(f, by)
    md.observed_itl(f, by)
    md.risk_by_role(f)
    md.departure_assumptions()
    md.model_quality(f.wave)
    return ["sidebar", "min_group_size", "risk_selection", f"risk_units by {by}", "observed_itl",
            "risk_by_role", "departure_assumptions", "model_quality"]  # fmt: skip


def drivers() -> list[str]:
    from dashboard import data
    from dashboard import queries as md

    f = _sidebar()
    data.min_group_size()
    if not md.ready(md.DRIVERS):
        return ["sidebar", "min_group_size", f"{md.DRIVERS} absent"]
    md.drivers_organisation(f)
    units = md.driver_units(f)
    if not units.empty:
        md.drivers_for_unit(f, units.iloc[0])
    return ["sidebar", "min_group_size", "drivers_organisation", "driver_units", "drivers_for_unit"]


def retention_options() -> list[str]:
    """Opening the page: the scenario is only run when the leader presses "Run scenario" (below)."""
    from dashboard import data
    from dashboard import queries as md

    f = _sidebar()
    data.min_group_size()
    md.group_hidden(f)
    md.lever_library()
    md.saved_scenarios()
    return ["sidebar", "min_group_size", "group_hidden", "lever_library", "saved_scenarios"]


def scenario_run() -> list[str]:
    """Pressing "Run scenario" with the page's default options (dropped call, EHR support)."""
    from dashboard import queries as md

    f = _sidebar()
    library = {lever["key"]: lever for lever in md.lever_library()}
    levers = [
        {"key": key, "params": {p["key"]: float(p["default"]) for p in library[key]["parameters"]}}
        for key in ("dropped_call", "ehr_support")
        if key in library
    ]
    md.run_scenario(levers, f)
    return ["sidebar", "lever_library", f"run_scenario ({', '.join(lv['key'] for lv in levers)})"]


def intentions() -> list[str]:
    from dashboard import queries as md

    f = _sidebar()
    md.intentions_k()
    if not (md.ready(md.LEAVE_PATHS) and md.ready(md.LEAVE_REASONS)):
        return ["sidebar", "intentions_k", "tables absent"]
    by = "role" if "role" in f.breakdown_options() else None
    md.leave_paths(f, by)
    md.leave_reasons(f, by)
    md.option_map()
    return ["sidebar", "intentions_k", f"leave_paths by {by}", f"leave_reasons by {by}", "option_map"]


def trends() -> list[str]:
    from dashboard import data
    from pipelines import charts

    f = _sidebar(wave=False)
    data.min_group_size()
    data.query_released("rel_metrics", metric=list(charts.KEY_METRICS), order_by=["wave"], **f.selection())
    return ["sidebar", "min_group_size", "rel_metrics key metrics, every wave"]


def reports() -> list[str]:
    from dashboard import data

    f = _sidebar()
    data.min_group_size()
    scopes = [f.selection(), f.breakdown(f.breakdown_options()[0])]
    for scope in scopes:
        data.query_released("rel_metrics", wave=f.wave, order_by=["wave"], **scope)
    return ["sidebar", "min_group_size", "rel_metrics selection", "rel_metrics by site"]


# An explicit action, not a page load: fewer repeats (it refits the model and bootstraps).
REPEATS: dict[str, int] = {"scenario-run": 2}
# Page loads judged against the page-data target; the others are reported beside them.
ACTIONS: tuple[str, ...] = ("scenario-run",)

PAGES: dict[str, Callable[[], list[str]]] = {
    "overview": overview,
    "attrition-risk": attrition_risk,
    "drivers": drivers,
    "retention-options": retention_options,
    "scenario-run": scenario_run,
    "intentions": intentions,
    "trends": trends,
    "reports": reports,
}
