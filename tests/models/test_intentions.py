"""Leave paths and reasons: distributions per unit and the mapping to retention options."""

from __future__ import annotations

import pytest

from pipelines import contract, scenarios
from pipelines.models import intentions
from pipelines.release import privacy
from pipelines.store import warehouse
from tests import model_fixtures as mf


@pytest.fixture(scope="module")
def con():
    with warehouse.connect(":memory:") as c:
        mf.insert_responses(c, mf.simulate(1200, seed=41).frame)
        yield c


def test_mapping_covers_every_path_and_reason():
    table = intentions.option_map()
    paths = set(table.loc[table["source"] == "path", "code"])
    reasons = set(table.loc[table["source"] == "reason", "code"])
    assert paths == set(contract.LEAVE_PATHS)
    assert reasons == set(contract.LEAVE_REASONS)
    known = set(scenarios.LEVERS) | set(intentions.NON_LEVER_OPTIONS)
    assert set(table["option"]) <= known
    assert table["rationale"].str.len().min() > 20
    # every lever in the library is reachable from some path or reason
    assert set(scenarios.LEVERS) <= set(table["option"])


def test_path_distribution_counts(con):
    paths = intentions.leave_paths(con)
    org = paths[paths["level"] == "organisation"].iloc[0]
    n = con.execute("select count(*) from responses where leave_path is not null").fetchall()[0][0]
    assert org["n"] == n
    assert sum(org[f"path_{c}_count"] for c in contract.LEAVE_PATHS) == n
    stay = con.execute("select count(*) from responses where leave_path = 'stay'").fetchall()[0][0]
    assert org["path_stay_count"] == stay and org["path_stay"] == pytest.approx(stay / n)
    assert paths.loc[paths["level"] == "site", "n"].sum() == n


def test_reason_distribution_and_release_floor(con):
    reasons = intentions.leave_reasons(con)
    org = reasons[reasons["level"] == "organisation"].iloc[0]
    burnout = con.execute("select count(*) from responses where list_contains(leave_reasons, 'burnout')").fetchall()[0][
        0
    ]
    assert org["reason_burnout_count"] == burnout
    released = privacy.release(reasons, kind="intentions", k=5, rates=intentions.REASON_RATES)
    small = released[released["suppressed"]]
    assert small["reason_burnout"].isna().all() and small["reason_burnout_count"].isna().all()
    shown = released[~released["suppressed"]]
    assert (shown["n"] >= 10).all()
    long = intentions.to_long(released)
    assert set(long["code"]) == set(contract.LEAVE_REASONS)
