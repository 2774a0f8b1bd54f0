"""Temporal validation: last wave's model scored on the new wave flags the generator's shifted wave
(+0.6 on the logit of intent to leave) and not an unshifted one; stored with the diagnostics."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipelines.models import risk
from pipelines.store import warehouse
from tests.models import ground_truth as gt


def _diagnostics(tmp_path, shift: float):
    db = tmp_path / "w.duckdb"
    gt.load(
        [gt.simulate(2000, seed=21, wave="2025"), gt.simulate(2000, seed=22, wave="2026", shift=shift)],
        db,
        tmp_path,
    )
    with warehouse.connect(db) as con:
        result = risk.compute_risk(con, levels=("organisation",), resamples=200)
        risk.store_diagnostics(con, result.diagnostics)  # as the build does (pipelines.models.build)
        return risk.read_diagnostics(con).set_index("wave")


@pytest.mark.parametrize("shift, drifts", [(gt.WAVE_SHIFT, True), (0.0, False)])
def test_previous_wave_model_flags_a_shift(tmp_path, shift, drifts):
    diag = _diagnostics(tmp_path, shift)
    new = diag.loc["2026"]
    assert new["previous_wave"] == "2025"
    assert bool(new["drift"]) is drifts
    oe = float(new["previous_observed_expected"])
    if drifts:
        assert oe > risk.DRIFT_OE[1] and "Drift" in new["drift_warning"] and "2025" in new["drift_warning"]
    else:
        assert risk.DRIFT_OE[0] <= oe <= risk.DRIFT_OE[1] and new["drift_warning"] is None
    assert 0.6 < float(new["previous_auroc"]) < 0.95
    # the first wave has nothing to be checked against
    first = diag.loc["2025"]
    assert first["previous_wave"] is None or (
        isinstance(first["previous_wave"], float) and math.isnan(first["previous_wave"])
    )
    # the wave's own calibration is out-of-fold, and stays near 1 in both cases (it cannot see drift)
    assert 0.8 < float(new["observed_expected"]) < 1.25


def test_expected_oe_of_the_shift_matches_the_truth():
    # independent check of what O/E should be: true rates of the shifted vs unshifted wave, same people
    base, shifted = gt.simulate(20_000, seed=3), gt.simulate(20_000, seed=3, shift=gt.WAVE_SHIFT)
    assert shifted.truth.p_itl.mean() / base.truth.p_itl.mean() > 1.3


def test_the_build_fits_each_wave_once_and_the_temporal_check_is_unchanged(tmp_path, monkeypatch):
    """The build passes each wave's model on to the next wave's temporal validation (`fitted`):
    the same diagnostics as fitting the previous wave again, with one fit per wave."""
    db = tmp_path / "w.duckdb"
    gt.load(
        [gt.simulate(2000, seed=21, wave="2025"), gt.simulate(2000, seed=22, wave="2026", shift=gt.WAVE_SHIFT)],
        db,
        tmp_path,
    )
    with warehouse.connect(db, read_only=True) as con:
        alone = risk.compute_risk(con, wave="2026", levels=("organisation",), resamples=200).diagnostics
        fits = []
        fit_model = risk.fit_model
        monkeypatch.setattr(risk, "fit_model", lambda df, **kw: fits.append(kw) or fit_model(df, **kw))
        fitted: dict = {}
        for w in ("2025", "2026"):
            shared = risk.compute_risk(con, wave=w, levels=("organisation",), resamples=200, fitted=fitted).diagnostics
    assert [f.get("refits") for f in fits] == [risk.REFITS, risk.REFITS]  # no refit of 2025 for the check
    pd.testing.assert_frame_equal(alone, shared)
