"""pipelines.release.reader: the one door to the release, for the screen and for every export.

On the built sample (with a saved scenario at two sites and an extra released table that has no
`site` column): a site-scoped reader, the dashboard's data layer for a user scoped to that site, and a
site-scoped export (ReportData and the CSV extracts) see exactly the same rows of every released
table, and those rows are the ones SQL finds with `site = ?`; the table without a site column is in
none of the scoped views, but is in the whole organisation's.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import pandas as pd
import pytest

from pipelines import scenarios
from pipelines.ingest.first_run import load_sample
from pipelines.release import reader
from pipelines.release.scope import Scope
from pipelines.reports import api
from pipelines.reports import data as report_data
from pipelines.store import warehouse

NO_SITE = "rel_zz_no_site"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("reader") / "warehouse.duckdb"
    load_sample(path)
    with warehouse.connect(path) as con:
        sites = [
            r[0] for r in con.execute("select distinct site from rel_groups where level = 'site' order by 1").fetchall()
        ]
        wave = con.execute("select max(wave) from rel_groups").fetchone()[0]
        for site in sites[:2]:
            results = pd.DataFrame(
                [{"wave": wave, "lever": "combined", "label": "All levers together", "kind": "combined",
                  "n": 100, "suppressed": False, "net": 1000.0, "net_lo": 1.0, "net_hi": 2000.0}]
            )  # fmt: skip
            scope = {"wave": wave, "site": site, "department": None, "role": None}
            scenarios.save_scenario(con, f"plan for {site}", ["ehr_support"], scope, results, created_by="test")
        # a released table that cannot be limited to a site (not produced today: the rule must hold anyway)
        con.execute(f"create table {NO_SITE} as select wave, count(*)::BIGINT as n, false as suppressed "
                    "from rel_groups group by wave")  # fmt: skip
    return path, sites


@pytest.fixture
def db(built, tmp_path, monkeypatch):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(built[0], path)
    monkeypatch.setenv("CLINRET_DB", str(path))
    return path, built[1]


def test_site_scoped_reader_dashboard_and_export_see_the_same_rows(db, monkeypatch):
    path, sites = db
    site, other = sites[0], sites[1]
    scope = Scope(site)
    with warehouse.connect(path, read_only=True) as con:
        whole = reader.read_all(con)
        view = whole.view(scope)
        exported = report_data.load(con, site=site)
        expected = {}  # independent truth: what SQL itself finds inside the site
        for name, columns in whole.columns.items():
            if name.startswith("ref_"):
                expected[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
            elif "site" in columns:
                expected[name] = con.execute(f'select count(*) from "{name}" where site = ?', [site]).fetchone()[0]

    rel = [n for n in whole.tables if n.startswith("rel_")]
    assert {"rel_groups", "rel_metrics", "rel_unit_risk", "rel_driver_importance", NO_SITE} <= set(rel)
    # the rule: a table that cannot be scoped is left out of a scoped view, never shown whole
    assert NO_SITE not in view.tables and NO_SITE in view.left_out
    assert NO_SITE not in exported.tables and NO_SITE in exported.left_out
    assert NO_SITE in whole.view(Scope()).tables

    assert set(view.tables) == set(expected)
    for name, frame in view.tables.items():
        assert len(frame) == expected[name], name
        if name.startswith("rel_"):
            assert (frame["site"].astype(object) == site).all(), name
            assert not frame["level"].isin(["organisation", "role"]).any(), name

    # the export: the same tables, the same rows (its default wave is the latest, so every wave is in)
    exported_tables = {n: f for n, f in exported.tables.items() if n != report_data.SCENARIOS}
    assert set(exported_tables) == set(view.tables)
    for name, frame in exported_tables.items():
        pd.testing.assert_frame_equal(frame, view.tables[name], obj=name)

    # saved scenarios: the site's own, not the other site's
    assert [s.name for s in view.scenarios] == [f"plan for {site}"]
    assert set(exported.tables[report_data.SCENARIOS]["scenario"]) == {f"plan for {site}"}
    assert {s.name for s in whole.view(Scope()).scenarios} == {f"plan for {site}", f"plan for {other}"}

    # the CSV extracts (what a user downloads) carry the same row counts
    content, _, _ = api.build_export("csv", db=path, site=site, actor="test")
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        for name, frame in exported_tables.items():
            assert len(pd.read_csv(io.BytesIO(zf.read(f"{name}.csv")))) == len(frame), name
    assert NO_SITE in manifest["left_out"]

    # the dashboard's data layer, for a user scoped to the site, reads the same rows
    from dashboard import data

    monkeypatch.setattr(data, "scope", lambda: scope)
    data.clear_cache()
    try:
        assert set(data.released_tables()) == set(view.tables)
        assert not data.has_table(NO_SITE) and data.query_released(NO_SITE).empty
        for name, frame in view.tables.items():
            pd.testing.assert_frame_equal(data.query_released(name), frame, obj=name)
        assert data.reading("saved_scenarios")["name"].tolist() == [f"plan for {site}"]
    finally:
        data.clear_cache()


def test_department_scope_needs_a_department_column(db):
    path, sites = db
    with warehouse.connect(path, read_only=True) as con:
        whole = reader.read_all(con)
        dept = con.execute(
            "select department from rel_groups where level = 'department' and site = ? limit 1", [sites[0]]
        ).fetchone()[0]
        count = con.execute(
            "select count(*) from rel_metrics where site = ? and department = ?", [sites[0], dept]
        ).fetchone()[0]
    view = whole.view(Scope(sites[0], dept))
    assert len(view.tables["rel_metrics"]) == count > 0
    assert set(view.tables["rel_metrics"]["level"]) <= {"department", "department_role"}
    assert NO_SITE in view.left_out
    assert view.scenarios == []  # both saved scenarios are site-wide, wider than the department
