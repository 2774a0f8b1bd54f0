"""Expected departures carry the conversion assumptions' uncertainty as well as sampling."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from pipelines.models import assumptions, risk
from tests.models import ground_truth as gt

RITTENHOUSE_PPV = 0.354  # REFERENCE.md: stated intent predicted leaving with PPV 35.4%
HAMIDI_P_ITL, HAMIDI_P_NO_ITL = 0.25, 0.08  # REFERENCE.md derived defaults


def test_conversion_priors_are_centred_on_the_published_values_and_span_the_evidence():
    a, b = risk.conversion_draws(HAMIDI_P_ITL, HAMIDI_P_NO_ITL, 20_000, np.random.default_rng(0))
    assert abs(a.mean() - HAMIDI_P_ITL) < 0.005 and abs(b.mean() - HAMIDI_P_NO_ITL) < 0.003
    lo, hi = np.percentile(a, [2.5, 97.5])
    assert lo < 0.2 and hi > RITTENHOUSE_PPV  # the PPV of a different cohort is plausible, not excluded
    assert 0.0 < np.percentile(b, 2.5) < 0.06 and np.percentile(b, 97.5) > 0.11
    # an edited assumption moves the centre
    a2, _ = risk.conversion_draws(0.4, 0.1, 20_000, np.random.default_rng(1))
    assert abs(a2.mean() - 0.4) < 0.005


def test_expected_departures_interval_includes_the_assumptions():
    sim = gt.simulate(3000, seed=31)
    df = gt.model_frame(sim)
    values = assumptions.values(None)
    with threadpool_limits(limits=1, user_api="blas"):
        model = risk.fit_model(df)
        org = risk._wave_risk(df, None, values, ["organisation"], model, risk.RESAMPLES, 0).iloc[0]
    n = float(org["headcount"])
    p = float(org["predicted_itl_rate"])
    # independent: the spread from the conversion alone, at the point risk, from the stated ranges
    rng = np.random.default_rng(5)
    a = rng.uniform(0.16, 0.36, 100_000)  # about the 95% range of P(leave | ITL) stated in risk.py
    b = rng.uniform(0.04, 0.13, 100_000)
    spread = np.percentile(n * (p * a + (1 - p) * b), [10, 90])
    assert org["expected_departures_lo"] < spread[0] and org["expected_departures_hi"] > spread[1]
    full = org["expected_departures_hi"] - org["expected_departures_lo"]
    sampling = org["expected_departures_sampling_hi"] - org["expected_departures_sampling_lo"]
    assert full > 3 * sampling > 0
    ed = n * (p * values[assumptions.P_LEAVE_ITL] + (1 - p) * values[assumptions.P_LEAVE_NO_ITL])
    assert np.isclose(org["expected_departures"], ed)
    assert org["expected_departures_sampling_lo"] < ed < org["expected_departures_sampling_hi"]
