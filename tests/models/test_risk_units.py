"""Attrition risk with units in it, against the ground-truth generator: department risk and its 95%
interval reflect the department itself (coverage of the true department rate near 95%)."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from pipelines.models import assumptions, risk
from tests.models import ground_truth as gt

REPLICATIONS = 20
N = 1500  # 12 site x department units of about 125 respondents


def _coverage(units: bool) -> float:
    values = assumptions.values(None)
    hits: list[bool] = []
    with threadpool_limits(limits=1, user_api="blas"):
        for rep in range(REPLICATIONS):
            sim = gt.simulate(N, seed=500 + rep)
            df = gt.model_frame(sim)
            model = risk.fit_model(df, seed=rep, units=units)
            frame = risk._wave_risk(df, None, values, ["department"], model, risk.RESAMPLES, rep)
            merged = frame.merge(gt.true_unit_rates(sim), on=["site", "department"], validate="one_to_one")
            assert len(merged) == len(gt.SITES) * len(gt.DEPARTMENTS)
            lo, hi, truth = merged["predicted_itl_rate_lo"], merged["predicted_itl_rate_hi"], merged["true_rate"]
            hits += list((lo <= truth) & (truth <= hi))
    return float(np.mean(hits))


def test_department_interval_covers_the_true_department_rate():
    coverage = _coverage(units=True)
    assert 0.85 <= coverage <= 0.99, coverage


def test_the_model_without_unit_terms_undercovers():
    # the earlier model (site fixed, no department term): a department's risk was its mix only
    assert _coverage(units=False) < 0.75


def test_satisfaction_is_not_a_predictor_and_units_are_shrunk():
    sim = gt.simulate(3000, seed=9)
    model = risk.fit_model(gt.model_frame(sim))
    terms = model.coefficients()["term"].tolist()
    assert not any(t.startswith("satisfaction") for t in terms)
    assert sum(t.startswith("unit:department=") for t in terms) == len(gt.SITES) * len(gt.DEPARTMENTS)
    tau2 = model.method["between_unit_variance"]["department"]
    true_var = np.var([gt.DEPARTMENT_EFFECT[d] + gt.SITE_EFFECT[s] for s in gt.SITES for d in gt.DEPARTMENTS])
    assert true_var / 4 < tau2 < true_var * 4, (tau2, true_var)
    coef = model.coefficients().set_index("term")["log_odds"]
    em = "unit:department=Harbour\x1fEmergency"
    ps = "unit:department=Harbour\x1fPsychiatry"
    assert coef[em] > coef[ps]  # Emergency's known effect is +0.55, Psychiatry's -0.45
