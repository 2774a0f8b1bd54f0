"""Driver importance: ground-truth ranking, the dominance identity, borrowing for small units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from pipelines.models import drivers
from pipelines.models.features import expit, fit_logit, load_respondents
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


@pytest.fixture(scope="module")
def fitted(con):
    """The design and point fits of 1,500 respondents, as a unit's analysis sees them."""
    df = load_respondents(con)
    design = drivers._design(drivers._model_frame(df[df["itl"].notna()]).iloc[:1500])
    full = fit_logit(design.X, design.y)
    h_inv = drivers._subset_inverses(design.X, full, design.masks)
    ll, betas, eta = drivers._fit_subsets(
        design.X, design.y, design.masks, h_inv, np.broadcast_to(full, design.masks.shape)
    )
    return design, full, h_inv, ll, betas, eta


def test_point_fits_are_each_subsets_own_maximum(fitted):
    """The batched chord fits reach what a separate penalised fit of each subset model reaches."""
    design, _, _, ll, _, _ = fitted
    pen = np.ones(design.X.shape[1])
    pen[0] = 0.0
    for s in (0, 1, 37, 128, 200, 2 ** len(design.present) - 1):
        cols = np.flatnonzero(design.masks[s])
        beta = fit_logit(design.X[:, cols], design.y, penalty=pen[cols], tol=1e-10)
        eta = design.X[:, cols] @ beta
        assert ll[s] == pytest.approx((design.y * eta - np.logaddexp(0.0, eta)).sum(), abs=1e-5)


def test_subset_inverses_are_the_restricted_inverses(fitted):
    design, full, h_inv, _, _, _ = fitted
    X = design.X
    p = expit(X @ full)
    H = (X * (p * (1 - p))[:, None]).T @ X + np.diag(np.r_[0.0, np.ones(X.shape[1] - 1)]) + 1e-9 * np.eye(X.shape[1])
    for s in range(0, len(design.masks), 17):
        cols = np.flatnonzero(design.masks[s])
        assert np.allclose(h_inv[s][np.ix_(cols, cols)], np.linalg.inv(H[np.ix_(cols, cols)]), rtol=1e-8, atol=1e-12)
        assert not h_inv[s][~design.masks[s]].any()


def test_one_step_bootstrap_tracks_refits(fitted):
    """Each bootstrap replicate's importances from one Newton step (to second order) move with those of
    subset models refitted to convergence on the replicate, with about the same spread."""
    design, _, h_inv, _, betas, eta = fitted
    X, y, masks = design.X, design.y, design.masks
    W = np.random.default_rng(1).poisson(1.0, (40, len(y))).astype("float64")
    ll0 = np.array([drivers._null_loglik(y, w) for w in W])[:, None]
    with threadpool_limits(limits=1, user_api="blas"):
        refit = np.array([drivers._chord_fit(X, y, w, masks, h_inv, betas, max_iter=20, tol=1e-7)[0] for w in W])
    one_step = drivers._one_step_replicates(X, y, W, masks, h_inv, betas, eta)
    D = drivers.dominance_matrix(len(design.present))
    imp_refit = (1 - refit / ll0) @ D.T
    imp_one = (1 - one_step / ll0) @ D.T
    ratio = imp_one.std(axis=0, ddof=1) / imp_refit.std(axis=0, ddof=1)
    assert ratio.mean() == pytest.approx(1.0, abs=0.08)
    assert ((ratio > 0.85) & (ratio < 1.15)).all(), ratio
    for j in range(D.shape[0]):
        assert np.corrcoef(imp_one[:, j], imp_refit[:, j])[0, 1] > 0.9
