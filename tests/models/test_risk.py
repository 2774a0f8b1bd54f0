"""Attrition risk: ground-truth calibration, unit aggregates only, roster scaling, diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.models import assumptions, risk
from pipelines.models.features import load_respondents
from pipelines.store import warehouse
from tests import model_fixtures as mf


@pytest.fixture(scope="module")
def con():
    with warehouse.connect(":memory:") as c:
        mf.insert_responses(c, mf.simulate(6000, seed=21).frame)
        yield c


def test_held_out_observed_expected_within_10_percent(con):
    """Fit on one simulated sample, predict a fresh sample of the same system: O/E within 0.9-1.1."""
    model = risk.fit_model(load_respondents(con), refits=2)
    with warehouse.connect(":memory:") as other:
        mf.insert_responses(other, mf.simulate(4000, seed=22).frame)
        held_out = load_respondents(other)
    p = model._predict(held_out)
    oe = held_out["itl"].sum() / p.sum()
    assert 0.9 <= oe <= 1.1
    # the strongest true driver has the largest standardised coefficient among the drivers
    coefs = model.coefficients().set_index("term")["log_odds"]
    drivers = [t for t in coefs.index if t in mf.TRUE and t != "intercept"]
    assert coefs[drivers].abs().idxmax() == "feel_valued"


def test_cross_validated_diagnostics_and_verdict(con):
    d = risk.cross_validate(load_respondents(con))
    assert d["auroc"] > 0.7
    assert 0.9 <= d["observed_expected"] <= 1.1
    assert 0.8 <= d["calibration_slope"] <= 1.2
    assert d["verdict"].startswith("Well calibrated")
    assert len(d["curve"]) == 10 and all(b["n"] >= 10 for b in d["curve"])
    assert "Poorly calibrated" in risk.calibration_verdict(1.3, 1.0, 0.7)
    assert "too extreme" in risk.calibration_verdict(1.0, 0.6, 0.7)


def test_unit_risk_is_aggregates_only(con):
    result = risk.compute_risk(con, resamples=40, refits=8)
    units = result.units
    n_resp = con.execute("select count(*) from responses").fetchall()[0][0]
    assert len(units) < n_resp / 10  # never a row per respondent
    assert (units["n"] >= 1).all()
    assert set(units["level"]) == set(risk.LEVELS)
    assert list(units.columns) == list(risk.RISK_COLUMNS)
    org = units[units["level"] == "organisation"].iloc[0]
    assert org["n"] == n_resp
    # marginal standardisation: the organisation's mean predicted risk matches the observed ITL rate
    observed = con.execute("select avg((intent_to_leave >= 3)::int) from responses").fetchall()[0][0]
    assert org["predicted_itl_rate"] == pytest.approx(observed, abs=0.01)
    assert org["predicted_itl_rate_lo"] < org["predicted_itl_rate"] < org["predicted_itl_rate_hi"]
    # each level's n partitions the organisation
    for level in ("site", "role", "department", "department_role"):
        assert units.loc[units["level"] == level, "n"].sum() == n_resp
    assert (units["headcount_source"] == "respondents").all()
    # expected departures formula with the default conversion probabilities
    a, b = 0.25, 0.08
    expected = org["headcount"] * (org["predicted_itl_rate"] * a + (1 - org["predicted_itl_rate"]) * b)
    assert org["expected_departures"] == pytest.approx(expected, rel=1e-9)
    assert result.diagnostics["verdict"].iloc[0].startswith("Well calibrated")


def test_roster_headcount_and_replacement_cost():
    with warehouse.connect(":memory:") as c:
        sim = mf.simulate(1500, seed=5)
        mf.insert_responses(c, sim.frame)
        mf.insert_roster(
            c,
            [
                ("North", "Medicine", "nurse", 200, None),
                ("North", "Medicine", "physician", 50, 900_000.0),
                ("West", "Clinic", "nurse", 40, None),
            ],
        )
        units = risk.unit_risk(c, resamples=20, refits=4)
        cell = units[
            (units["level"] == "department_role") & (units["site"] == "North") & (units["department"] == "Medicine")
        ]
        nurse = cell[cell["role"] == "nurse"].iloc[0]
        doc = cell[cell["role"] == "physician"].iloc[0]
        assert nurse["headcount_source"] == "roster" and nurse["headcount"] == 200
        p = nurse["predicted_itl_rate"]
        ed = 200 * (p * 0.25 + (1 - p) * 0.08)
        assert nurse["expected_departures"] == pytest.approx(ed)
        assert nurse["cost_exposure"] == pytest.approx(ed * 61_110.0)
        assert doc["cost_exposure"] == pytest.approx(doc["expected_departures"] * 900_000.0)
        # cells the roster does not list have headcount 0; the roster-only West site adds to the organisation
        org = units[units["level"] == "organisation"].iloc[0]
        assert org["headcount"] == 290
        assert "West" not in set(units["site"].dropna())  # no respondents there: no unit row


def test_settings_change_expected_departures(con):
    values = assumptions.values(con, {assumptions.P_LEAVE_ITL: 0.5, assumptions.P_LEAVE_NO_ITL: 0.0})
    units = risk.unit_risk(con, levels=("organisation",), values=values, resamples=10, refits=2)
    org = units.iloc[0]
    assert org["expected_departures"] == pytest.approx(org["headcount"] * org["predicted_itl_rate"] * 0.5)


def test_diagnostics_are_stored(con):
    result = risk.compute_risk(con, levels=("organisation",), resamples=10, refits=2)
    risk.store_diagnostics(con, result.diagnostics)
    risk.store_diagnostics(con, result.diagnostics)  # replaces, does not duplicate
    stored = risk.read_diagnostics(con)
    assert len(stored) == 1
    assert np.isfinite(stored["auroc"].iloc[0])
