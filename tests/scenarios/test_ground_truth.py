"""Retention options against a known causal process (tests/scenarios/ground_truth.py).

The truth is computed by simulating the intervention in the generator (same people, same noise,
everything downstream of the lever recomputed), never from the product's own models."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import scenarios
from pipelines.scenarios import causal, engine
from pipelines.store import warehouse
from tests.scenarios import ground_truth as gt

WORLD = gt.simulate(10_000, seed=0)
CALL = {"key": "dropped_call", "params": {"threshold": 8, "call_nights": 0}}
EHR = {"key": "ehr_support", "params": {"min_after_hours": 1, "hours_reduction": 5, "inbox_reduction_pct": 20}}


@pytest.fixture(scope="module")
def results():
    with warehouse.connect(":memory:") as con:
        gt.insert(con, WORLD.frame)
        res = scenarios.run_scenario(con, [CALL, EHR], resamples=200)
        _, model = engine._wave_inputs(
            con, "2026", ["geography", "career_growth"], ["dropped_call", "ehr_support", "reduced_fte"], 200, 0
        )
        yield res.set_index("lever"), model


def _call_truth():
    eligible = WORLD.frame["call_nights_per_month"].to_numpy(float) >= 8
    return gt.true_effect(WORLD, eligible, call_nights_per_month=lambda x: 0 * x)


def _ehr_truth():
    f = WORLD.frame  # eligibility is per clinical FTE (a missing FTE counts as full time)
    fte = f["clinical_fte"].to_numpy(float) if "clinical_fte" in f.columns else np.ones(len(f))
    fte = np.where(np.isfinite(fte) & (fte > 0), fte, 1.0)
    eligible = f["ehr_after_hours_per_week"].to_numpy(float) / fte >= 1
    return gt.true_effect(
        WORLD,
        eligible,
        ehr_after_hours_per_week=lambda x: np.maximum(x - 5, 0),
        inbox_messages_per_day=lambda x: 0.8 * x,
    )


def test_drop_night_call_interval_covers_the_true_total_effect(results):
    res, _ = results
    truth, _ = _call_truth()
    row = res.loc["dropped_call"]
    assert truth < -15  # most of the effect runs through burnout: adjusting it away would miss it
    assert row["itl_change_eligible_pp_lo"] <= truth <= row["itl_change_eligible_pp_hi"]


def test_ehr_support_has_the_right_sign_through_the_ehr_items(results):
    res, _ = results
    truth, _ = _ehr_truth()
    row = res.loc["ehr_support"]
    assert truth < 0
    assert row["itl_change_eligible_pp_hi"] < 0  # the interval says "lowers intent to leave"
    assert row["itl_change_eligible_pp_lo"] <= truth <= row["itl_change_eligible_pp_hi"]


def test_risk_ratio_covers_the_truth_and_the_e_value_follows_vanderweele_ding(results):
    res, _ = results
    _, true_rr = _call_truth()
    row = res.loc["dropped_call"]
    assert row["risk_ratio_lo"] <= true_rr <= row["risk_ratio_hi"]
    inv = 1 / row["risk_ratio"]
    assert row["e_value"] == pytest.approx(inv + np.sqrt(inv * (inv - 1)))
    inv_hi = 1 / row["risk_ratio_hi"]  # the limit nearest no effect
    assert row["e_value_ci"] == pytest.approx(inv_hi + np.sqrt(inv_hi * (inv_hi - 1)))
    assert causal.e_value(0.5) == pytest.approx(2 + np.sqrt(2))
    assert causal.e_value(3.9) == pytest.approx(3.9 + np.sqrt(3.9 * 2.9))  # VanderWeele & Ding's example: 7.26
    assert causal.e_value_interval(0.8, 0.6, 1.1) == 1.0


def test_each_lever_model_leaves_its_path_out_and_adjusts_for_what_comes_before(results):
    _, model = results
    for key in ("dropped_call", "ehr_support", "reduced_fte"):
        st = causal.lever_structure(key)
        used = set(model[key].spec.numeric) | set(model[key].spec.categorical)
        assert {"burnout_level", "stress", "satisfaction"} <= set(st.path)
        assert not used & set(st.path), key
        assert set(st.sets) <= used
        assert {"feel_valued", "department", "role"} <= used  # comes before every lever
    assert {"documentation_time", "ehr_home_time", "ehr_frustration"} <= set(causal.lever_structure("ehr_support").path)
    assert "documentation_time" in causal.lever_structure("dropped_call").before


def test_intervals_come_from_at_least_200_replicates_each_with_its_own_refit(results):
    _, model = results
    assert engine.RESAMPLES >= 200 and engine.REFITS >= 200
    betas = model["dropped_call"].refit_betas
    assert len(betas) >= 200 and len(np.unique(betas.round(12), axis=0)) == len(betas)


def test_the_structure_is_data_for_the_methodology_page():
    table = scenarios.causal_structure()
    assert set(table["lever"]) == set(scenarios.LEVERS)
    call = table.set_index("lever").loc["dropped_call"]
    assert "burnout_level" in call["on_path"] and "call_nights_per_month" in call["sets"]
    assumed = table[table["kind"] == "assumed"]
    assert (assumed["on_path"] == "").all() and assumed["how"].str.contains("Not modelled").all()
