"""Scenarios: ground-truth lever effect, assumed-rate arithmetic, privacy, save/list/compare/delete."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import scenarios
from pipelines.scenarios import engine
from pipelines.store import settings, warehouse
from tests import model_fixtures as mf

SIM = mf.simulate(8000, seed=5)


@pytest.fixture(scope="module")
def con():
    with warehouse.connect(":memory:") as c:
        mf.insert_responses(c, SIM.frame)
        yield c


def test_dropped_call_recovers_true_effect(con):
    """g-computation (model without burnout) vs the effect computed from the simulation's truth."""
    truth = 100 * mf.true_dropped_call_effect(SIM, threshold=8, new_value=0.0)
    res = scenarios.run_scenario(
        con, [{"key": "dropped_call", "params": {"threshold": 8, "call_nights": 0}}], resamples=150, refits=30
    )
    row = res.iloc[0]
    assert row["itl_change_eligible_pp_lo"] <= truth <= row["itl_change_eligible_pp_hi"]
    assert row["itl_change_eligible_pp"] < 0
    eligible = int((SIM.frame["call_nights_per_month"] >= 8).sum())
    released = 5 * round(eligible / 5)  # eligible headcount is released rounded to 5
    assert row["n_eligible"] == released and row["eligible_headcount"] == released  # both rounded to 5
    # money follows from departures avoided
    assert row["departures_avoided"] == pytest.approx(-row["itl_change_pp"] / 100 * 8000 * (0.25 - 0.08))
    assert row["programme_cost"] == pytest.approx(20_000 * released * 2)
    assert row["net"] == pytest.approx(row["cost_avoided"] - row["programme_cost"])
    assert row["roi"] == pytest.approx(row["net"] / row["programme_cost"])
    # at the break-even cost per person a year, the programme cost equals the cost avoided
    assert row["break_even_cost_per_person"] * released * 2 == pytest.approx(row["cost_avoided"])
    assert row["break_even_cost_per_person_lo"] <= row["break_even_cost_per_person"]


def test_assumed_lever_arithmetic(con):
    res = scenarios.run_scenario(
        con, [{"key": "temporary_break", "params": {"retention_rate": 0.5, "cost_per_person": 0}}], resamples=20
    )
    row = res.iloc[0]
    f = SIM.frame
    eligible = int(((f["intent_to_leave"] >= 3) & (f["leave_path"] == "temporary_break")).sum())
    released = 5 * round(eligible / 5)  # released rounded to 5, and the departures follow the rounded count
    assert row["n_eligible"] == released
    assert row["departures_avoided"] == pytest.approx(released * 0.5 * (0.25 - 0.08))
    assert row["itl_change_eligible_pp"] == pytest.approx(-50.0)
    assert np.isnan(row["roi"])  # no programme cost: no ROI


def test_results_are_aggregates_and_levers_stay_in_range(con):
    res = scenarios.run_scenario(
        con,
        ["ehr_support", {"key": "ehr_support", "params": {"hours_reduction": 40}}, "internal_move"],
        resamples=20,
        refits=5,
    )
    assert list(res["lever"]) == ["ehr_support", "ehr_support", "internal_move", "combined"]
    assert (res["n"] == 8000).all()
    assert res.loc[1, "itl_change_pp"] <= res.loc[0, "itl_change_pp"]  # bigger cut, bigger change
    with pytest.raises(ValueError, match="between"):
        scenarios.run_scenario(con, [{"key": "dropped_call", "params": {"call_nights": 40}}])
    with pytest.raises(ValueError, match="Unknown lever"):
        scenarios.run_scenario(con, ["magic"])


def test_small_scopes_are_refused_or_suppressed(con):
    with pytest.raises(ValueError, match="Fewer than"):
        scenarios.run_scenario(con, ["dropped_call"], site="Nowhere")
    settings.put(con, "min_group_size", 50)
    try:
        res = scenarios.run_scenario(con, [{"key": "temporary_break"}], site="East", role="app", resamples=10)
    finally:
        settings.put(con, "min_group_size", 5)
    row = res.iloc[0]
    assert row["suppressed"] and np.isnan(row["departures_avoided"]) and row["n_eligible"] is None


def test_save_list_compare_delete(con):
    a = scenarios.run_scenario(con, ["dropped_call"], resamples=10, refits=3)
    b = scenarios.run_scenario(con, ["ehr_support", "schedule_flexibility"], site="North", resamples=10, refits=3)
    scenarios.save_scenario(con, "No call", [{"key": "dropped_call"}], {"wave": "2025"}, a, created_by="cmo")
    scenarios.save_scenario(
        con, "EHR + flex", ["ehr_support", "schedule_flexibility"], {"wave": "2025", "site": "North"}, b
    )
    with pytest.raises(ValueError, match="already exists"):
        scenarios.save_scenario(con, "No call", ["dropped_call"], {}, a)
    listed = scenarios.list_scenarios(con)
    assert set(listed["name"]) == {"No call", "EHR + flex"}
    loaded = scenarios.load_scenario(con, "No call")
    assert loaded["created_by"] == "cmo"
    assert loaded["results"]["departures_avoided"].iloc[0] == pytest.approx(a["departures_avoided"].iloc[0])
    cmp = scenarios.compare_scenarios(con, ["No call", "EHR + flex"])
    assert {"No call", "EHR + flex", "No call low", "EHR + flex high"} <= set(cmp.columns)
    roi = cmp.set_index("metric").loc["Return on investment (net / cost)"]
    assert roi["No call"] == pytest.approx(a["roi"].iloc[0])
    assert roi["EHR + flex"] == pytest.approx(b.loc[b["lever"] == "combined", "roi"].iloc[0])
    assert scenarios.delete_scenario(con, "No call")
    assert not scenarios.delete_scenario(con, "No call")
    assert list(scenarios.list_scenarios(con)["name"]) == ["EHR + flex"]
    with pytest.raises(KeyError):
        scenarios.load_scenario(con, "No call")


def test_lever_library_lists_sources_and_caveats():
    lib = scenarios.lever_library()
    assert set(lib["key"]) == set(scenarios.LEVERS)
    assert lib["caveat"].str.contains("not proof|No survey measure").all()
    assert lib.loc[lib["key"] == "ehr_support", "published_effect"].str.contains("0.90").all()


def test_nested_eligible_groups_cannot_be_differenced_into_a_small_group():
    """A lever's eligible group inside the combined row's: a difference of 1..k-1 people hides the
    larger row; a difference of 0 or >= k leaves both visible."""
    import numpy as np

    from pipelines.scenarios.engine import RESULT_METRICS, _protect_nested

    def row(n_eligible):
        r = {"suppressed": False, "n_eligible": n_eligible, "notes": ""}
        for metric, _ in RESULT_METRICS:
            r[metric] = r[f"{metric}_lo"] = r[f"{metric}_hi"] = 1.0
        return r

    a = np.zeros(40, dtype=bool)
    a[:20] = True  # lever A: 20 eligible
    b = np.zeros(40, dtype=bool)
    b[20:23] = True  # lever B: 3 eligible (itself hidden by k)
    combined = a | b  # 23: combined - A = 3 people
    rows = [row(20), {**row(None), "suppressed": True}, row(23)]
    _protect_nested(rows, [a, b, combined], k=5)
    assert rows[0]["suppressed"] is False
    assert rows[2]["suppressed"] is True and rows[2]["n_eligible"] is None
    assert all(np.isnan(rows[2][m]) for m, _ in RESULT_METRICS)

    c = np.zeros(40, dtype=bool)
    c[20:30] = True  # lever C: 10 eligible; combined - A = 10 >= k
    rows = [row(20), row(10), row(30)]
    _protect_nested(rows, [a, c, a | c], k=5)
    assert [r["suppressed"] for r in rows] == [False, False, False]


def test_scopes_hidden_in_the_release_are_refused_so_runs_cannot_be_differenced():
    """A site, then the same site for one role: if the release hides the role's group (say by the
    remainder rule), the pipeline refuses the run, whatever a page or a CLI user asks for."""
    with warehouse.connect(":memory:") as c:
        mf.insert_responses(c, SIM.frame)
        assert scenarios.group_released(c, "2025", {"site": "East"}) is None  # no build yet: k check only
        c.execute(
            """create table rel_groups as select * from (values
                ('2025', 'site', 'East', null, null, 2000, false),
                ('2025', 'site_role', 'East', null, 'app', 300, true),
                ('2025', 'site_role', 'East', null, 'nurse', 900, false)
            ) t(wave, level, site, department, role, n, suppressed)"""
        )
        assert scenarios.group_released(c, "2025", {"site": "East"}) is True
        assert scenarios.group_released(c, "2025", {"site": "East", "role": "app"}) is False
        assert scenarios.group_released(c, "2025", {"site": "West"}) is False  # not released at all
        lever = [{"key": "temporary_break"}]
        assert not scenarios.run_scenario(c, lever, wave="2025", site="East", resamples=5).empty
        with pytest.raises(ValueError, match="hidden in the released tables"):
            scenarios.run_scenario(c, lever, wave="2025", site="East", role="app", resamples=5)


def _per_person_bootstrap(scope, eligible, delta, resamples, rng):
    """The textbook Poisson bootstrap (one weight per person per replicate): the reference the
    faster per-cell draw for unaffected people must agree with."""
    n_cells, n = len(scope.hc), len(scope.codes)
    out = np.empty((resamples, 3, n_cells))
    for j in range(resamples):
        w = rng.poisson(1.0, n).astype("float64")
        d = delta[1 + j % (delta.shape[0] - 1)] if delta.shape[0] > 1 else delta[0]
        out[j, 0] = np.bincount(scope.codes, weights=w, minlength=n_cells)
        out[j, 1] = np.bincount(scope.codes, weights=w * eligible, minlength=n_cells)
        out[j, 2] = np.bincount(scope.codes, weights=w * d, minlength=n_cells)
    return out


def test_bootstrap_drawing_unaffected_people_per_cell_matches_the_per_person_bootstrap(con):
    values = dict(scenarios.assumptions.values(con))
    wave_df, model = engine._wave_inputs(con, "2025", ["geography", "career_growth"], ["dropped_call"], 10, 0)
    scope = engine._population(con, wave_df, "2025", {"site": None, "department": None, "role": None}, values)
    params = {"threshold": 8, "call_nights": 0, "cost_per_person": 0.0, "fixed_cost": 0.0}
    effect = engine._effects("dropped_call", scope, params, model, [])
    eligible = effect.eligible
    delta = np.zeros((effect.refits + 1, len(eligible)))
    for r in range(effect.refits + 1):
        delta[r, eligible] = effect.replicate(r)[0]
    assert 0 < eligible.mean() < 0.6  # most people are drawn per cell, the case the shortcut is for
    fast = engine._summarise(scope, effect, params, values, 600, np.random.default_rng(1))
    reference = _per_person_bootstrap(scope, eligible.astype("float64"), delta, 600, np.random.default_rng(2))
    # the point estimate (index 0, unit weights) is exact
    point = fast["departures_avoided"][0]
    cell_n = np.bincount(scope.codes, minlength=len(scope.hc))
    cell_d = np.bincount(scope.codes, weights=delta[0], minlength=len(scope.hc))
    a, b = values[scenarios.assumptions.P_LEAVE_ITL], values[scenarios.assumptions.P_LEAVE_NO_ITL]
    expected = float((-(cell_d / np.maximum(cell_n, 1)) * scope.hc).sum() * (a - b))
    assert point == pytest.approx(expected, rel=1e-9)
    # the replicates have the same spread as the per-person bootstrap's
    ref_mean_delta = np.where(reference[:, 0] > 0, reference[:, 2] / np.maximum(reference[:, 0], 1), 0)
    ref_departures = ((-ref_mean_delta * scope.hc) * (a - b)).sum(axis=1)
    fast_sd, ref_sd = fast["departures_avoided"][1:].std(), ref_departures.std()
    assert fast_sd == pytest.approx(ref_sd, rel=0.15)
    assert fast["departures_avoided"][1:].mean() == pytest.approx(ref_departures.mean(), rel=0.02)
    eligible_sd = fast["eligible_headcount"][1:].std()
    ref_elig = (np.where(reference[:, 0] > 0, reference[:, 1] / np.maximum(reference[:, 0], 1), 0) @ scope.hc).std()
    assert eligible_sd == pytest.approx(ref_elig, rel=0.15)
