"""Driver importance: ground-truth ranking, the dominance identity, borrowing for small units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.models import drivers
from pipelines.models.features import load_respondents
from pipelines.release import privacy
from pipelines.store import warehouse
from tests import model_fixtures as mf


@pytest.fixture(scope="module")
def con():
    with warehouse.connect(":memory:") as c:
        frame = mf.simulate(5000, seed=31).frame
        tiny = mf.simulate(15, seed=32).frame.assign(site="North", department="Tiny")
        mf.insert_responses(c, pd.concat([frame, tiny], ignore_index=True))
        yield c


def test_ground_truth_ranking(con):
    """The strongest true driver ranks first; the zero-effect driver (clinical FTE) ranks last."""
    result = drivers.dominance(load_respondents(con), resamples=20).set_index("driver")
    assert result["rank"].idxmin() == "feel_valued"
    assert result["rank"].idxmax() == "clinical_fte"
    assert result.loc["feel_valued", "importance_lo"] > result.drop(index="feel_valued")["importance_hi"].max()
    # the weights add up to what the drivers explain beyond the adjustment
    total = result["importance"].sum()
    assert total == pytest.approx(result["r2_full"].iloc[0] - result["r2_base"].iloc[0], rel=1e-9)
    assert result.loc["feel_valued", "sign"] == 1  # feeling less valued -> more intent to leave
    assert result.loc["burnout", "sign"] == 1


def test_dominance_matrix_identity():
    rng = np.random.default_rng(0)
    for p in (1, 3, 5):
        r2 = np.concatenate([[0.0], rng.random(2**p - 1)])
        gd = drivers.dominance_matrix(p) @ r2
        assert gd.sum() == pytest.approx(r2[-1])
    # two independent additive drivers: each gets exactly its own contribution
    r2 = np.array([0.0, 0.1, 0.3, 0.4])
    assert drivers.dominance_matrix(2) @ r2 == pytest.approx([0.1, 0.3])


def test_small_units_borrow_organisation_weights(con):
    table = drivers.compute_drivers(con, levels=("organisation", "department"), resamples_org=10, resamples_unit=5)
    org = table[table["level"] == "organisation"].iloc[0]
    tiny = table[(table["level"] == "department") & (table["department"] == "Tiny")].iloc[0]
    big = table[
        (table["level"] == "department") & (table["department"] == "Medicine") & (table["site"] == "North")
    ].iloc[0]
    assert tiny["n"] == 15 and tiny["weights_source"] == "organisation"
    assert big["weights_source"] == "own"
    for g in drivers.GROUP_KEYS:
        assert tiny[f"{g}_importance"] == org[f"{g}_importance"]
    # the small unit still shows its own performance
    own = load_respondents(con)
    own = own[own["department"] == "Tiny"]
    assert tiny["feel_valued_unfavourable"] == pytest.approx((own["feel_valued"] <= 2).mean())


def test_release_and_quadrant(con):
    table = drivers.compute_drivers(
        con, levels=("organisation", "site", "department"), resamples_org=5, resamples_unit=3
    )
    released = privacy.release(table, kind="model", k=5, rates=drivers.UNFAVOURABLE_RATES)
    long = drivers.to_long(released)
    assert len(long) == len(released) * len(drivers.GROUP_KEYS)
    assert long["act_here"].dtype == bool
    org = long[long["level"] == "organisation"]
    assert not org["act_here"].any()  # the organisation is never worse than itself
    # act_here only where importance is above the unit's median and unfavourable above the organisation's
    flagged = long[long["act_here"]]
    for _, row in flagged.iterrows():
        org_unfav = org.set_index("driver").loc[row["driver"], "unfavourable"]
        assert row["unfavourable"] > org_unfav and row["sign"] > 0
