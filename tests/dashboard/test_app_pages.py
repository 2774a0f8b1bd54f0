"""AppTest of every dashboard page this package owns, against a real warehouse with the sample.

Each test runs the real router (streamlit_app.py) on a copy of a warehouse built once from the
bundled sample, switches to a page, interacts, and fails on any exception the page raised.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.ingest.first_run import load_sample
from pipelines.store import warehouse as warehouse_module
from tests.conftest import MAPPINGS, ROOT

APP = str(ROOT / "streamlit_app.py")
TIMEOUT = 180


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "warehouse.duckdb"
    load_sample(path)
    return path


@pytest.fixture
def warehouse(sample_warehouse: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the sample warehouse, used by the app through $CLINRET_DB. The build runs
    the base producers (metrics, benchmarks) even if another test registered the model producers,
    so these pages are tested on exactly the tables they read."""
    from pipelines.release import build

    monkeypatch.setattr(build, "PRODUCERS", [build.produce_metrics, build.produce_benchmarks])
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_warehouse, path)
    monkeypatch.setenv("CLINRET_DB", str(path))
    return path


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(page: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = value
    run(at)
    if page != "overview":
        at.switch_page(f"dashboard/pages/{page}.py")
        run(at)
    return at


def text_of(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [s.value for s in at.subheader] + [i.value for i in at.info] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def static_charts(at) -> list[str]:
    """The SVG charts a page drew with pipelines.charts.svg, decoded from their images' data URLs."""
    out = []
    for image in at.get("image"):
        for img in image.proto.imgs:
            head, _, body = img.url.partition(",")
            if head == "data:image/svg+xml;base64":
                svg = base64.b64decode(body).decode("utf-8")
                assert "clinret-chart" in svg and img.alt  # every chart image carries its finding as alt text
                out.append(svg)
    return out


# ------------------------------------------------------------------------------------------
# Read-only pages, with filters
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["overview", "trends", "reports", "methodology", "settings", "uploads", "upload"])
def test_every_page_renders(warehouse, page):
    at = open_page(page)
    assert at.title, page


def test_overview_tiles_heatmap_benchmarks_and_findings(warehouse):
    at = open_page("overview")
    labels = [m.label for m in at.metric]
    assert labels[:4] == ["Respondents", "Response rate", "Burnout", "Intend to leave (2 yrs)"]
    assert at.metric[0].value == "3,000"
    text = text_of(at)
    assert "not a forecast of departures" in text
    assert "people who will leave" not in text.lower()
    charts = static_charts(at)  # drawn on the server as SVG: no chart library to load
    assert len(charts) == 2  # heatmap and benchmarks
    assert "Burnout is highest in" in charts[0]
    assert "<script" not in "".join(charts)
    # drawn in the configured theme's colours on its own background (not the browser's dark preference)
    assert 'fill="#1F2933"><rect width="100%" height="100%" fill="#FFFFFF"/>' in charts[0]
    assert not at.get("plotly_chart")
    assert len(at.expander) >= 2  # "Show data" under each chart


def test_overview_filters_follow_the_url_and_widgets(warehouse):
    at = open_page("overview", site="North Campus", role="nurse", wave="2025")
    assert at.selectbox(key="filter_site").value == "North Campus"
    assert at.selectbox(key="filter_role").value == "nurse"
    assert at.selectbox(key="filter_wave").value == "2025"
    assert "North Campus · Nurse, wave 2025" in text_of(at)
    at.selectbox(key="filter_role").select("").run()
    assert not at.exception
    assert "role" not in at.query_params
    assert at.query_params["site"] == ["North Campus"] or at.query_params["site"] == "North Campus"


def test_unknown_url_values_are_ignored_with_a_note(warehouse):
    at = open_page("overview", site="'; drop table rel_metrics; --", role="astronaut", wave="1999")
    assert at.selectbox(key="filter_site").value == ""
    assert at.selectbox(key="filter_role").value == ""
    assert at.selectbox(key="filter_wave").value == "2026"
    notes = " ".join(c.value for c in at.sidebar.caption)
    assert "ignored" in notes
    assert rows(warehouse, "select count(*) from rel_metrics")[0][0] > 0


def test_department_filter_needs_a_site(warehouse):
    at = open_page("overview", department="Cardiology")
    assert "needs a site" in " ".join(c.value for c in at.sidebar.caption)
    at = open_page("overview", site="North Campus", department="Cardiology")
    assert at.selectbox(key="filter_department").value == "Cardiology"


def test_small_group_shows_fewer_than_k_not_numbers(warehouse):
    # A department x role cell: heatmap by role inside one department has hidden cells.
    at = open_page("overview", site="Eastgate Clinics", department="Dermatology")
    assert not at.exception
    at.get("segmented_control")[0].set_value("role").run()
    assert not at.exception


def test_trends_page_with_breakdown(warehouse):
    at = open_page("trends", site="Riverside Medical Center")
    assert len(at.get("plotly_chart")) == 6
    at.get("segmented_control")[0].set_value("role").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 1


def test_reports_builds_a_scoped_export_on_click_and_audits_it(warehouse):
    at = open_page("reports", site="North Campus")
    assert "North Campus" in text_of(at)
    assert not at.get("download_button")  # nothing is built until asked
    at.button(key="build_csv").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("download_button")
    assert "Ready: " in text_of(at)
    with warehouse_module.connect(warehouse, read_only=True) as con:
        rows = con.execute("select object, detail from audit_log where action = 'export'").fetchall()
    assert rows and "North Campus" in rows[-1][1]


def test_methodology_is_generated_from_the_contract(warehouse):
    at = open_page("methodology")
    assert len(at.dataframe) >= 4
    assert "anonymity threshold is **5**" in text_of(at)


def test_settings_saving_rebuilds(warehouse):
    at = open_page("settings")
    at.number_input(key="setting_min_group_size").set_value(7)
    at.button[0].click().run()
    assert not at.exception
    assert rows(warehouse, "select value from settings where key = 'min_group_size'") == [("7",)]
    assert at.success


# ------------------------------------------------------------------------------------------
# Wellness officer: uploads
# ------------------------------------------------------------------------------------------
def small_canonical_csv(n: int = 60) -> bytes:
    lines = (ROOT / "sample_data" / "wave_2026.csv").read_text(encoding="utf-8").splitlines()
    return ("\n".join(lines[: n + 1]) + "\n").encode()


def test_upload_small_canonical_csv_dry_run_then_load(warehouse):
    at = open_page("upload")
    at.file_uploader(key="upload_file_0").upload("small wave.csv", small_canonical_csv(), "text/csv").run()
    assert not at.exception
    at.text_input[0].input("2027").run()
    assert not at.exception
    assert "ready to load" in text_of(at)
    assert len(at.dataframe) >= 2  # mapped columns, dropped columns (and the preview)
    load = next(b for b in at.button if b.label == "Load")
    load.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Loaded 60 responses as wave 2027" in s.value for s in at.success)
    assert rows(warehouse, "select count(*) from responses where wave = '2027'") == [(60,)]
    assert rows(warehouse, "select count(*) from rel_groups where wave = '2027'")[0][0] > 0


def test_upload_rejected_rows_are_offered_for_download(warehouse):
    body = small_canonical_csv(40).decode().splitlines()
    header = body[0].split(",")
    bad = body[1].split(",")
    bad[header.index("role")] = "=HYPERLINK(1)"
    csv = "\n".join([body[0], ",".join(bad), *body[2:]]) + "\n"
    at = open_page("upload")
    at.file_uploader(key="upload_file_0").upload("bad.csv", csv.encode(), "text/csv").run()
    at.text_input[0].input("2028").run()
    assert not at.exception
    assert any("rejected" in b.label for b in at.get("download_button"))


def test_upload_qualtrics_with_mapping_file(warehouse, shared_formats):
    at = open_page("upload")
    content = (shared_formats / "qualtrics_sample.csv").read_bytes()
    at.file_uploader(key="upload_file_0").upload("qualtrics_sample.csv", content, "text/csv").run()
    at.text_input[0].input("2030").run()
    assert not at.exception
    assert "cannot be loaded yet" in text_of(at)  # no site/department/role without the mapping
    mapping = (MAPPINGS / "qualtrics_sample.json").read_bytes()
    at.file_uploader(key="upload_map_0").upload("mapping.json", mapping, "application/json").run()
    assert not at.exception
    assert "ready to load" in text_of(at)
    next(b for b in at.button if b.label == "Load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert rows(warehouse, "select site, role, burnout_level from responses where wave = '2030'") == [
        ("Demo Site", "physician", 2)
    ]
    # One respondent: every released cell of the new wave is hidden; the overview says so in words.
    at = open_page("overview", wave="2030")
    assert "fewer than 5" in text_of(at)


def test_upload_qualtrics_with_constants_saved_as_mapping(warehouse, shared_formats):
    at = open_page("upload")
    content = (shared_formats / "qualtrics_sample.csv").read_bytes()
    at.file_uploader(key="upload_file_0").upload("qualtrics_sample.csv", content, "text/csv").run()
    at.text_input[0].input("2031").run()
    for field, value in (("site", "Demo Site"), ("department", "Demo Department"), ("role", "physician")):
        at.text_input(key=f"const_{field}").input(value)
    next(b for b in at.button if b.label.startswith("Apply and save")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "ready to load" in text_of(at)
    assert rows(warehouse, "select count(*) from settings where key like 'mapping:%'") == [(1,)]


def test_uploads_page_delete_with_confirmation(warehouse):
    before = rows(warehouse, "select count(*) from uploads")[0][0]
    at = open_page("uploads")
    delete = next(b for b in at.button if b.label == "Delete")
    assert delete.disabled
    at.checkbox(key="delete_sure").check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert rows(warehouse, "select count(*) from uploads")[0][0] == before - 1


def test_uploads_page_headcount_roster(warehouse):
    at = open_page("uploads")
    roster = (ROOT / "sample_data" / "headcount.csv").read_bytes()
    at.file_uploader(key="roster_0").upload("roster.csv", roster, "text/csv").run()
    next(b for b in at.button if b.label == "Load roster").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("roster" in s.value for s in at.success)


def test_a_failed_rebuild_after_a_load_is_reported_not_raised(warehouse, monkeypatch):
    from pipelines.release import build

    def broken(con, ctx):
        raise ValueError("Too few answers to fit a risk model.")

    monkeypatch.setattr(build, "PRODUCERS", [*build.PRODUCERS, broken])
    at = open_page("upload")
    at.file_uploader(key="upload_file_0").upload("small.csv", small_canonical_csv(), "text/csv").run()
    at.text_input[0].input("2027").run()
    next(b for b in at.button if b.label == "Load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("could not be rebuilt" in w.value for w in at.warning)
    assert rows(warehouse, "select count(*) from responses where wave = '2027'") == [(60,)]


def test_overview_shows_risk_tiles_when_a_risk_table_is_released(warehouse):
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create or replace table rel_unit_risk as select '2026' as wave, null::varchar as site, null::varchar as department, "
            "null::varchar as role, 'organisation' as level, 3000 as n, false as suppressed, 'roster' as headcount_source, "
            "700.0 as expected_departures, 680.0 as expected_departures_lo, 720.0 as expected_departures_hi, "
            "1.6e8 as cost_exposure, 1.5e8 as cost_exposure_lo, 1.7e8 as cost_exposure_hi"
        )
    at = open_page("overview")
    values = {m.label: m.value for m in at.metric}
    assert values["Expected departures (2 yrs)"] == "700 (680–720)"
    assert values["Replacement-cost exposure"].startswith("$160.0M")


def test_audit_log_page_lists_and_filters_entries(warehouse):
    at = open_page("reports")
    at.button(key="build_csv").click().run()  # an export: one more audited action
    at.switch_page("dashboard/pages/audit_log.py")
    run(at)
    assert not at.exception, [e.value for e in at.exception]
    shown = at.dataframe[0].value
    assert {"upload", "export"} <= set(shown["action"])
    at.selectbox(key="audit_action").set_value("export").run()
    assert set(at.dataframe[0].value["action"]) == {"export"}
    assert at.get("download_button")


def test_audit_log_cli(warehouse):
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "pipelines", "audit-log", "--db", str(warehouse), "--action", "upload", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(out.stdout)
    assert rows and {r["action"] for r in rows} == {"upload"}
