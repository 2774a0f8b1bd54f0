"""AppTest for the model pages: Attrition risk, Drivers, Retention options, Intentions & reasons.

One warehouse per session: the bundled sample, built with every released table (the model tables
included). Each test opens a page through the real router (streamlit_app.py), with filters in the URL
as a shared link would carry them, and fails on any exception the page raises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.ingest import first_run as bootstrap
from pipelines.release import build
from pipelines.store import warehouse

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "streamlit_app.py")
TIMEOUT = 120
RISK, DRIVERS = "dashboard/pages/attrition_risk.py", "dashboard/pages/drivers.py"
OPTIONS, INTENTIONS = "dashboard/pages/retention_options.py", "dashboard/pages/intentions.py"


@pytest.fixture(scope="session")
def warehouse_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("model_pages") / "warehouse.duckdb"
    bootstrap.load_sample(db, build=False)
    build.build(db)
    return db


@pytest.fixture(autouse=True)
def _db_env(warehouse_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINRET_DB", str(warehouse_file))


def _rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with warehouse.connect(db, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def open_page(page: str, **filters: str):
    """Open `page` through the router, then choose the sidebar filters (site, department, role) as
    a user would, one after the other (the department box appears once a site is chosen)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    for name in ("wave", "site", "department", "role"):
        if name in filters:
            at.selectbox(key=f"filter_{name}").set_value(filters[name]).run()
            assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.info] + [m.value for m in at.warning]
    parts += [m.value for m in at.caption] + [m.value for m in at.subheader] + [m.value for m in at.error]
    parts += [m.value for m in at.success]
    return "\n".join(str(p) for p in parts)


def _a_site(db: Path) -> str:
    return _rows(db, "select site from rel_groups where level = 'site' and not suppressed order by n desc limit 1")[0][
        0
    ]


@pytest.mark.parametrize("page", [RISK, DRIVERS, OPTIONS, INTENTIONS])
def test_page_opens_without_exception(page: str) -> None:
    at = open_page(page)
    assert at.title, "every page has a title"


def test_attrition_risk_shows_tiles_ranking_roles_and_quality() -> None:
    at = open_page(RISK)
    labels = [m.label for m in at.metric]
    for wanted in ("Estimated intent to leave", "Expected departures in 2 years", "Replacement-cost exposure"):
        assert wanted in labels
    body = texts(at)
    assert "not a count of people who will leave" in body
    assert [e.label for e in at.expander].count("Show data") >= 2
    assert any("assumptions" in e.label for e in at.expander)
    assert any(m.label.startswith("AUROC") for m in at.metric), "model quality sits in its expander"


def test_attrition_risk_with_site_filter_ranks_departments(warehouse_file: Path) -> None:
    site = _a_site(warehouse_file)
    at = open_page(RISK, site=site)
    assert at.segmented_control(key="risk_by").options[0] == "Department"
    assert site in texts(at)


def test_drivers_page_names_borrowed_weights(warehouse_file: Path) -> None:
    rows = _rows(
        warehouse_file,
        "select site, department, role from rel_driver_importance where level = 'department_role' "
        "and not suppressed and weights_source = 'organisation' order by n limit 1",
    )
    assert rows, "the sample has small released units that borrow the organisation's weights"
    site, department, role = rows[0]
    at = open_page(DRIVERS, site=site, department=department, role=role)
    assert "borrows the organisation's weights" in texts(at)


def test_drivers_quadrant_for_each_offered_unit_kind(warehouse_file: Path) -> None:
    at = open_page(DRIVERS, site=_a_site(warehouse_file))
    box = at.selectbox(key="drivers_unit")
    for i in range(min(len(box.options), 4)):
        box.set_value(i).run()
        assert not at.exception
        box = at.selectbox(key="drivers_unit")


def test_intentions_breakdowns_and_option_map() -> None:
    at = open_page(INTENTIONS)
    for by in ("Site", "Role", None):
        at.segmented_control(key="intentions_by").set_value(by.lower() if by else None).run()
        assert not at.exception, [e.value for e in at.exception]
    assert "at least 10 people answered" in texts(at)
    assert len(at.dataframe) >= 1  # the option map


def test_hidden_group_gives_words_not_numbers(warehouse_file: Path) -> None:
    rows = _rows(
        warehouse_file,
        """select g.site, g.department, g.role from rel_groups g
           join rel_groups d on d.wave = g.wave and d.level = 'department' and d.site = g.site
                and d.department = g.department and not d.suppressed
           where g.level = 'department_role' and g.suppressed and g.wave = (select max(wave) from rel_groups)
           limit 1""",
    )
    if not rows:
        pytest.skip("no hidden department x role group in this sample")
    site, department, role = rows[0]
    for page in (RISK, OPTIONS, INTENTIONS, DRIVERS):
        at = open_page(page, site=site, department=department, role=role)
        assert not at.metric or all("%" not in m.value for m in at.metric if m.label == "Estimated intent to leave")
    at = open_page(OPTIONS, site=site, department=department, role=role)
    assert "hidden to protect confidentiality" in texts(at)


def test_run_save_and_compare_scenarios(warehouse_file: Path) -> None:
    at = open_page(OPTIONS)
    at.multiselect(key="ro_levers").set_value(["dropped_call", "temporary_break"]).run()
    at.number_input(key="ro_dropped_call_threshold").set_value(6.0).run()
    at.button(key="ro_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    labels = {m.label: m.value for m in at.metric}
    assert {"Eligible headcount", "Departures avoided", "Net", "Return on investment"} <= set(labels)
    assert "Published evidence" in texts(at)

    for name in ("Call relief", "Call relief (copy)"):
        at.text_input(key="ro_name").input(name)
        at.button(key="FormSubmitter:ro_save-Save scenario").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert "Saved" in texts(at)
    at.text_input(key="ro_name").input("Call relief")
    at.button(key="FormSubmitter:ro_save-Save scenario").click().run()
    assert "already exists" in texts(at), "a duplicate name is refused in words"

    saved = _rows(warehouse_file, "select name, levers from scenarios order by name")
    assert [s[0] for s in saved][:2] == ["Call relief", "Call relief (copy)"]
    assert '"threshold": 6.0' in saved[0][1]

    at = open_page(OPTIONS)
    compare = at.multiselect(key="ro_compare")
    compare.set_value(["Call relief", "Call relief (copy)"]).run()
    assert not at.exception
    assert any(len(df.value.columns) >= 3 for df in at.dataframe), "side-by-side table of both scenarios"


def test_scenario_with_site_filter_runs_in_scope(warehouse_file: Path) -> None:
    site = _a_site(warehouse_file)
    at = open_page(OPTIONS, site=site)
    at.button(key="ro_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Results for {site}".replace(".", "\\.") in texts(at) or f"Results for {site}" in texts(at)


def test_pages_do_not_import_duckdb_or_write_sql() -> None:
    for page in (RISK, DRIVERS, OPTIONS, INTENTIONS):
        source = (ROOT / page).read_text(encoding="utf-8").lower()
        assert "duckdb" not in source and "select " not in source and "unsafe_allow_html" not in source, page


def test_charts_module_has_no_streamlit() -> None:
    for path in [*(ROOT / "pipelines" / "charts").glob("*.py"), *(ROOT / "pipelines" / "narrative").glob("*.py")]:
        assert "import streamlit" not in path.read_text(encoding="utf-8"), path


# ------------------------------------------------------------------------------------------------
# Figure builders (pipelines/charts/risk.py, scenarios.py, intentions.py): hidden rows are words, never numbers
# ------------------------------------------------------------------------------------------------
def _risk_rows():
    import pandas as pd

    return pd.DataFrame(
        {
            "wave": "2026",
            "site": ["North", "South", "Tiny"],
            "department": None,
            "role": None,
            "level": "site",
            "n": [400, 300, None],
            "suppressed": [False, False, True],
            "predicted_itl_rate": [0.40, 0.20, None],
            "predicted_itl_rate_lo": [0.36, 0.17, None],
            "predicted_itl_rate_hi": [0.44, 0.23, None],
            "expected_departures": [50.0, 30.0, None],
            "expected_departures_lo": [45.0, 26.0, None],
            "expected_departures_hi": [55.0, 34.0, None],
            "cost_exposure": [2e6, 1e6, None],
            "cost_exposure_lo": [1.8e6, 0.9e6, None],
            "cost_exposure_hi": [2.2e6, 1.1e6, None],
            "headcount": [600.0, 500.0, None],
            "headcount_source": ["roster", "roster", None],
        }
    )


def test_risk_ranking_states_the_finding_and_shows_hidden_units_as_words() -> None:
    from pipelines import charts

    fig = charts.risk_ranking_figure(_risk_rows(), k=5)
    title = fig.layout.title.text
    assert title.startswith("Intent to leave is highest in North: 40%, clearly above every other unit")
    assert "1 hidden: fewer than 5" in title
    hidden = [t for t in fig.data if t.text is not None]
    assert hidden and list(hidden[0].x) == [0] and "fewer than 5" in hidden[0].text[0]
    assert "n = 400" in fig.data[0].customdata[0] and "95% interval" in fig.data[0].customdata[0]
    table = charts.risk_table(_risk_rows(), 5)
    assert table.loc[2, "Estimated ITL"] == "fewer than 5" and table.loc[2, "Cost exposure"] == ""


def test_scenario_table_and_tiles_hide_a_suppressed_lever() -> None:
    import pandas as pd

    from pipelines import charts

    row = {"lever": "temporary_break", "label": "Temporary break", "kind": "assumed", "n": 40, "suppressed": True}
    row.update({m: None for m in ("eligible_headcount", "net", "net_lo", "net_hi", "roi", "programme_cost")})
    row["notes"] = "Fewer than 5 eligible respondents: not shown."
    results = pd.DataFrame([row])
    assert charts.scenario_table(results).loc[0, "Eligible headcount"] == "hidden"
    assert charts.scenario_tiles(results)[0].value == "hidden"
    assert "No option" in charts.scenario_figure(results).layout.title.text


def test_intentions_figure_explains_a_fully_hidden_breakdown() -> None:
    import pandas as pd

    from pipelines import charts

    long = pd.DataFrame(
        {
            "wave": "2026",
            "site": ["A", "B"],
            "department": None,
            "role": None,
            "level": "site",
            "n": [None, None],
            "question": "path",
            "code": "retire",
            "label": "Retire",
            "count": [None, None],
            "pct": [None, None],
            "suppressed": [True, True],
        }  # fmt: skip
    )
    assert "fewer than 10" in charts.intentions_figure(long, "path", 10).layout.title.text
