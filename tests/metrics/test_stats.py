"""Wilson intervals, empirical-Bayes shrinkage and the change test against independent references."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from pipelines.metrics import stats

GRID = [(k, n) for n in (1, 2, 3, 5, 9, 10, 37, 250) for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]


def test_wilson_matches_statsmodels_on_a_grid() -> None:
    k = np.array([g[0] for g in GRID])
    n = np.array([g[1] for g in GRID])
    lo, hi = stats.wilson_interval(k, n)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(lo, ref_lo, atol=1e-12)
    np.testing.assert_allclose(hi, ref_hi, atol=1e-12)


def test_wilson_is_nan_without_answers() -> None:
    lo, hi = stats.wilson_interval([0, 3], [0, 0])
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_wilson_sql_macro_matches_statsmodels() -> None:
    con = duckdb.connect()
    stats.register_sql_macros(con)
    for k, n in GRID:
        lo, hi = con.execute(
            "select wilson_lo(?::double, ?::double), wilson_hi(?::double, ?::double)", [k, n, k, n]
        ).fetchone()
        ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert lo == pytest.approx(ref_lo, abs=1e-12)
        assert hi == pytest.approx(ref_hi, abs=1e-12)
    assert con.execute("select wilson_lo(0, 0)").fetchone()[0] is None


@given(st.integers(min_value=1, max_value=5000), st.data())
@settings(max_examples=200, deadline=None)
def test_wilson_contains_the_rate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=0, max_value=n))
    lo, hi = stats.wilson_interval(k, n)
    assert 0.0 <= lo[()] <= k / n + 1e-12 <= hi[()] + 2e-12 <= 1.0 + 2e-12


def _shrink_by_hand(k: list[int], n: list[int], floor: float) -> list[float]:
    """METHODS.md, written out with plain Python arithmetic."""
    mu = sum(k) / sum(n)
    rates = [a / b for a, b in zip(k, n, strict=True)]
    mean_rate = sum(rates) / len(rates)
    var = sum((r - mean_rate) ** 2 for r in rates) / (len(rates) - 1)
    binomial = sum(mu * (1 - mu) / b for b in n) / len(n)
    tau2 = max(var - binomial, floor)
    m = mu * (1 - mu) / tau2 - 1
    alpha, beta = mu * m, (1 - mu) * m
    return [(a + alpha) / (b + alpha + beta) for a, b in zip(k, n, strict=True)]


@pytest.mark.parametrize(
    ("k", "n"),
    [
        ([2, 30, 5, 60], [5, 50, 40, 90]),  # real between-unit variance
        ([3, 5, 4], [10, 10, 10]),  # variance below binomial noise: tau² hits the floor
        ([0, 1, 9, 50], [3, 4, 12, 100]),
    ],
)
def test_shrinkage_matches_an_independent_computation(k: list[int], n: list[int]) -> None:
    got = stats.eb_shrink(k, n)
    expected = _shrink_by_hand(k, n, stats.TAU2_FLOOR)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_shrinkage_pulls_small_units_more() -> None:
    k, n = [1, 100], [2, 200]  # both 50%, then a small extreme unit
    k2, n2 = [2, 100, 40], [2, 200, 100]
    got = stats.eb_shrink(k2, n2)
    raw = np.array(k2) / np.array(n2)
    assert abs(got[0] - raw[0]) > abs(got[1] - raw[1])  # the 2-person unit moves most
    assert got[0] < 1.0
    np.testing.assert_allclose(stats.eb_shrink(k, n), [0.5, 0.5])


def test_shrinkage_floor_means_full_pooling_when_units_agree() -> None:
    got = stats.eb_shrink([5, 5, 5], [10, 10, 10])
    mu = 0.5
    m = mu * (1 - mu) / stats.TAU2_FLOOR - 1
    assert got[0] == pytest.approx((5 + mu * m) / (10 + m))


def test_shrinkage_degenerate_cases() -> None:
    np.testing.assert_allclose(stats.eb_shrink([3], [10]), [0.3])  # one unit: raw
    np.testing.assert_allclose(stats.eb_shrink([0, 0], [5, 8]), [0.0, 0.0])  # nobody: mu
    got = stats.eb_shrink([1, 2, 0], [4, 5, 0])
    assert math.isnan(got[2])


@pytest.mark.parametrize(
    ("k1", "n1", "k0", "n0"),
    [(30, 50, 20, 50), (6, 20, 3, 10), (0, 12, 5, 9), (40, 40, 30, 45), (120, 400, 100, 380)],
)
def test_change_matches_statsmodels_newcombe(k1: int, n1: int, k0: int, n0: int) -> None:
    diff, lo, hi, exceeds = stats.proportion_change([k1], [n1], [k0], [n0])
    ref_lo, ref_hi = confint_proportions_2indep(k1, n1, k0, n0, method="newcomb", compare="diff")
    assert diff[0] == pytest.approx(k1 / n1 - k0 / n0)
    assert lo[0] == pytest.approx(ref_lo, abs=1e-10)
    assert hi[0] == pytest.approx(ref_hi, abs=1e-10)
    assert bool(exceeds[0]) == (ref_lo > 0 or ref_hi < 0)


def test_change_exceeds_noise_only_when_interval_excludes_zero() -> None:
    diff, lo, hi, exceeds = stats.proportion_change([80, 26], [100, 50], [40, 25], [100, 50])
    assert exceeds.tolist() == [True, False]
    assert lo[0] > 0 and lo[1] < 0 < hi[1]
    _, lo, _, exceeds = stats.proportion_change([1], [0], [1], [5])
    assert np.isnan(lo[0]) and not exceeds[0]
