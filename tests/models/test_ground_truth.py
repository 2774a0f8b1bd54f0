"""The ground-truth generator itself: what it writes loads through ingest unchanged, and a plain
maximum-likelihood fit of the true model recovers its constants (so the other tests' truth is real)."""

from __future__ import annotations

import duckdb
import numpy as np
import statsmodels.api as sm

from tests.models import ground_truth as gt


def test_loads_through_ingest_unchanged(tmp_path):
    sim = gt.simulate(600, seed=3, wave="2025")
    results = gt.load([sim], tmp_path / "w.duckdb", tmp_path)
    assert results[0].status == "loaded"
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    stored = con.execute(
        "select count(*), sum(call_nights_per_month), sum(burnout_level), sum((intent_to_leave >= 3)::int) "
        "from responses where wave = '2025'"
    ).fetchall()[0]
    f = sim.frame
    assert stored == (600, int(f.call_nights_per_month.sum()), int(f.burnout_level.sum()), int(sim.truth.itl.sum()))


def test_true_model_recovers_constants():
    sim = gt.simulate(20_000, seed=4)
    f = sim.frame
    X = np.column_stack(
        [
            f.call_nights_per_month,
            f.burnout_level - 3,
            f.feel_valued - 3,
            (f.site == "Upland").astype(float),
            *((f.department == d).astype(float) for d in gt.DEPARTMENTS[1:]),
            f.teamwork,
            f.inbox_messages_per_day,
        ]
    )
    fit = sm.Logit(sim.truth.itl.astype(float).to_numpy(), sm.add_constant(X)).fit(disp=0)
    b, se = fit.params, fit.bse
    expected = {1: gt.ITL_CALL, 2: gt.ITL_BURNOUT, 3: gt.ITL_FEEL_VALUED}
    expected[4] = gt.SITE_EFFECT["Upland"] - gt.SITE_EFFECT["Harbour"]
    for i, d in enumerate(gt.DEPARTMENTS[1:], start=5):
        expected[i] = gt.DEPARTMENT_EFFECT[d] - gt.DEPARTMENT_EFFECT[gt.DEPARTMENTS[0]]
    expected[5 + len(gt.DEPARTMENTS) - 1] = 0.0  # teamwork: the zero-effect driver
    expected[6 + len(gt.DEPARTMENTS) - 1] = 0.0  # inbox: no effect of its own
    for i, value in expected.items():
        assert abs(b[i] - value) < 4 * se[i], (i, b[i], value, se[i])
    # inbox tracks EHR hours; burnout drives stress up and satisfaction down
    assert np.corrcoef(f.inbox_messages_per_day, f.ehr_after_hours_per_week)[0, 1] > 0.6
    assert np.corrcoef(f.burnout_level, f.stress)[0, 1] > 0.6
    assert np.corrcoef(f.burnout_level, f.satisfaction)[0, 1] < -0.6


def test_shifted_wave_raises_itl_by_the_shift():
    base = gt.simulate(5000, seed=5)
    shifted = gt.simulate(5000, seed=5, shift=gt.WAVE_SHIFT)
    assert np.allclose(shifted.truth.logit - base.truth.logit, gt.WAVE_SHIFT)
    assert shifted.truth.itl.mean() > base.truth.itl.mean() + 0.08
