"""The risk bootstrap drawn per cell (risk.poisson_replicates) has the distribution of the Poisson(1)
bootstrap on respondents it replaces: checked against that bootstrap written out here, respondent by
respondent, for cells resampled exactly and for cells drawn from the normal approximation."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from pipelines.models import risk
from pipelines.models.features import cell_codes, expit
from tests.models import ground_truth as gt

REFERENCE_REPLICATES = 2000


@pytest.fixture(scope="module")
def wave():
    df = gt.model_frame(gt.simulate(4000, seed=41))
    with threadpool_limits(limits=1, user_api="blas"):
        model = risk.fit_model(df, refits=0)
    codes, cells = cell_codes(df, ("site", "department"))  # 12 cells of ~130-530 respondents
    p = expit(model.spec.transform(df) @ model.beta)
    return df, model, codes, len(cells), p


def _reference(p: np.ndarray, codes: np.ndarray, n_cells: int, rng: np.random.Generator) -> np.ndarray:
    """Each cell's bootstrap mean risk with a Poisson(1) weight drawn for every respondent."""
    out = np.empty((REFERENCE_REPLICATES, n_cells))
    for j in range(REFERENCE_REPLICATES):
        w = rng.poisson(1.0, len(p)).astype("float64")
        out[j] = np.bincount(codes, weights=w * p, minlength=n_cells) / np.bincount(codes, weights=w, minlength=n_cells)
    return out


@pytest.mark.parametrize("exact_below", [0, 10**9, risk.EXACT_CELL])  # all normal, all exact, as built
def test_per_cell_draws_match_the_respondent_bootstrap(wave, exact_below):
    df, model, codes, n_cells, p = wave
    design = risk._Design(model.spec, df)
    sums, weights = risk.poisson_replicates(
        design, model.beta[None, :], codes, n_cells, REFERENCE_REPLICATES, np.random.default_rng(1), exact_below
    )
    ratio = sums / weights
    reference = _reference(p, codes, n_cells, np.random.default_rng(2))
    counts = np.bincount(codes, minlength=n_cells)
    # the total weight of a cell is Poisson(n_c): mean and variance n_c
    assert np.allclose(weights.mean(axis=0), counts, rtol=0.02)
    assert np.allclose(weights.var(axis=0), counts, rtol=0.15)
    # sum of w p: mean sum p and variance sum p^2, as for weights on respondents
    sum_p = np.bincount(codes, weights=p, minlength=n_cells)
    sum_p2 = np.bincount(codes, weights=p * p, minlength=n_cells)
    assert np.allclose(sums.mean(axis=0), sum_p, rtol=0.02)
    assert np.allclose(sums.var(axis=0), sum_p2, rtol=0.15)
    # the percentile interval of each cell's mean risk: the same ends within Monte Carlo error
    lo, hi = np.percentile(ratio, [2.5, 97.5], axis=0)
    ref_lo, ref_hi = np.percentile(reference, [2.5, 97.5], axis=0)
    width = ref_hi - ref_lo
    assert np.all(np.abs(lo - ref_lo) < 0.12 * width), np.abs(lo - ref_lo) / width
    assert np.all(np.abs(hi - ref_hi) < 0.12 * width), np.abs(hi - ref_hi) / width
    assert np.allclose((hi - lo) / width, 1.0, atol=0.15)


def test_replicates_use_the_coefficient_draws_in_turn(wave):
    df, model, codes, n_cells, _ = wave
    design = risk._Design(model.spec, df)
    shifted = model.beta.copy()
    shifted[0] += 3.0  # a draw with a much higher intercept
    sums, weights = risk.poisson_replicates(
        design, np.vstack([model.beta, shifted]), codes, n_cells, 200, np.random.default_rng(3)
    )
    ratio = sums / weights
    assert (ratio[1::2] > ratio[0::2]).all()  # odd replicates use the second draw
