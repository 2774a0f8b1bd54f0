"""Scenarios under the release's confidentiality rules (issue 11, attacks 6, 7 and 10).

Each test plays the attacker with what a leader or the CLI can see (scenario results, the roster)
and checks the hidden fact cannot be recovered; on the old engine each of them recovered it."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pandas as pd
import pytest

from pipelines import contract, scenarios
from pipelines.store import warehouse
from tests.scenarios import ground_truth as gt


def _people(n, rng, *, site, department, role, call=None, itl=None, path=None):
    df = pd.DataFrame(
        {
            "wave": "2026",
            "site": site,
            "department": department,
            "role": role,
            "tenure_band": rng.choice(contract.TENURE_BANDS, n),
            "call_nights_per_month": call if call is not None else rng.integers(0, 5, n).astype(float),
            "ehr_after_hours_per_week": np.round(rng.gamma(2.0, 2.0, n), 1),
            "inbox_messages_per_day": rng.integers(5, 60, n).astype(float),
            "clinical_fte": rng.choice([0.6, 0.8, 1.0], n),
        }
    )
    for item in contract.ITEM_NAMES:
        df[item] = rng.integers(1, 6, n).astype(float)
    itl = rng.random(n) < 0.35 if itl is None else np.asarray(itl, dtype=bool)
    df["intent_to_leave"] = np.where(itl, 4.0, 2.0)
    df["intent_to_reduce_fte"] = False
    df["leave_path"] = np.where(itl, "other_organisation", "stay") if path is None else path
    df["leave_reasons"] = [["compensation"] if i else None for i in itl]
    return df


@contextlib.contextmanager
def _warehouse(frame, roster=None):
    with warehouse.connect(":memory:") as con:
        gt.insert(con, frame)
        for site, department, role, headcount in roster or []:
            con.execute(
                "insert into headcount (upload_id, wave, site, department, role, headcount, replacement_cost) "
                "values ('roster', '2026', ?, ?, ?, ?, null)",
                [site, department, role, headcount],
            )
        yield con


def test_attack_6_a_threshold_sweep_cannot_isolate_a_hidden_persons_call_nights():
    """North: 40 nurses on 0-4 call nights, 10 physicians on 16, and a hidden cell of 2 residents
    (one on 12 nights). Old engine: threshold 12 gives 11 eligible and threshold 13 gives 10, so the
    resident's call nights (and, with the roster, the cell) follow by subtraction."""
    rng = np.random.default_rng(6)
    frame = pd.concat(
        [
            _people(40, rng, site="North", department="Medicine", role="nurse"),
            _people(10, rng, site="North", department="Medicine", role="physician", call=np.full(10, 16.0)),
            _people(2, rng, site="North", department="Theatre", role="resident", call=np.array([12.0, 2.0])),
            _people(300, rng, site="South", department="Medicine", role="nurse"),
        ],
        ignore_index=True,
    )
    roster = [("North", "Medicine", "nurse", 55), ("North", "Medicine", "physician", 12)]
    roster += [("North", "Theatre", "resident", 3), ("South", "Medicine", "nurse", 320)]
    north = frame[frame["site"] == "North"]["call_nights_per_month"].to_numpy()
    k = 5
    with _warehouse(frame, roster) as con:
        released = {}
        for t in range(1, 32):
            lever = [{"key": "dropped_call", "params": {"threshold": t, "call_nights": 0}}]
            row = scenarios.run_scenario(con, lever, site="North", resamples=20, refits=20).iloc[0]
            if not row["suppressed"]:
                released[t] = int((north >= t).sum())  # the true eligible count behind a released row
                assert row["eligible_headcount"] % 5 == 0  # released like a count: rounded
    assert released, "some thresholds must stay visible, or the protection is useless"
    counts = [*released.values(), len(north)]  # the scope's own size is released too
    for a, b in itertools.combinations(counts, 2):
        assert a == b or abs(a - b) >= k, (released, a, b)


def test_attack_6_an_eligible_group_that_leaves_fewer_than_k_out_is_hidden():
    rng = np.random.default_rng(7)
    call = np.r_[np.full(27, 10.0), np.full(3, 1.0)]  # 27 of 30 eligible: the 3 others would be exposed
    frame = pd.concat(
        [
            _people(30, rng, site="North", department="Medicine", role="nurse", call=call),
            _people(200, rng, site="South", department="Medicine", role="nurse"),
        ],
        ignore_index=True,
    )
    with _warehouse(frame) as con:
        lever = [{"key": "dropped_call", "params": {"threshold": 8}}]
        row = scenarios.run_scenario(con, lever, site="North", resamples=10, refits=10).iloc[0]
    assert row["suppressed"] and row["n_eligible"] is None and np.isnan(row["eligible_headcount"])


def test_attack_7_levers_sized_by_leave_paths_need_the_floor_of_10():
    """6 of 8 Theatre nurses intend to leave and plan a break; rel_leave_paths hides the group
    (under 10). The old engine released 6 eligible (k = 5) for the temporary-break option."""
    rng = np.random.default_rng(8)
    hidden = np.array(["temporary_break"] * 6 + ["stay"] * 2)
    frame = pd.concat(
        [
            _people(8, rng, site="North", department="Theatre", role="nurse", itl=hidden != "stay", path=hidden),
            _people(
                30,
                rng,
                site="North",
                department="Acute",
                role="nurse",
                itl=np.arange(30) < 12,
                path=np.where(np.arange(30) < 12, "temporary_break", "stay"),
            ),
            _people(200, rng, site="South", department="Medicine", role="nurse"),
        ],
        ignore_index=True,
    )
    with _warehouse(frame) as con:
        small = scenarios.run_scenario(con, ["temporary_break"], department="Theatre", role="nurse", resamples=10).iloc[
            0
        ]
        both = scenarios.run_scenario(
            con, ["temporary_break", "dropped_call"], department="Theatre", role="nurse", resamples=10, refits=10
        ).set_index("lever")
        big = scenarios.run_scenario(con, ["temporary_break"], department="Acute", role="nurse", resamples=10).iloc[0]
    assert small["suppressed"] and small["n_eligible"] is None and np.isnan(small["departures_avoided"])
    assert both.loc["temporary_break", "suppressed"] and both.loc["combined", "suppressed"]
    assert not big["suppressed"] and big["n_eligible"] == 10  # 12 of 30 (at least 10 each way), released rounded to 5


def test_attack_10_saved_scenarios_are_listed_and_shown_only_within_the_viewers_scope():
    rng = np.random.default_rng(10)
    frame = pd.concat(
        [
            _people(120, rng, site="North", department="Medicine", role="nurse"),
            _people(120, rng, site="South", department="Acute", role="nurse"),
        ],
        ignore_index=True,
    )
    with _warehouse(frame) as con:
        runs = {
            "org": {"wave": "2026"},
            "north": {"wave": "2026", "site": "North"},
            "north medicine": {"wave": "2026", "site": "North", "department": "Medicine"},
            "south": {"wave": "2026", "site": "South"},
        }
        for name, scope in runs.items():
            filters = {k: v for k, v in scope.items() if k != "wave"}
            res = scenarios.run_scenario(con, ["internal_move"], resamples=5, **filters)
            scenarios.save_scenario(con, name, ["internal_move"], scope, res)
        assert set(scenarios.list_scenarios(con)["name"]) == set(runs)  # no scope: an administrator
        north = scenarios.list_scenarios(con, scope={"site": "North"})
        assert set(north["name"]) == {"north", "north medicine"}
        dept = scenarios.list_scenarios(con, scope={"site": "North", "department": "Medicine"})
        assert set(dept["name"]) == {"north medicine"}
        assert scenarios.load_scenario(con, "north", scope={"site": "North"})["scope"]["site"] == "North"
        for name in ("org", "south"):
            with pytest.raises(KeyError):
                scenarios.load_scenario(con, name, scope={"site": "North"})
        with pytest.raises(KeyError):
            scenarios.compare_scenarios(con, ["north", "south"], scope={"site": "North"})
        assert not scenarios.delete_scenario(con, "south", scope={"site": "North"})
        assert "south" in set(scenarios.list_scenarios(con)["name"])


def test_two_nested_scopes_cannot_be_differenced_to_a_small_group():
    """North holds Acute (30 nurses, 12 of whom plan a break) and two small hidden departments (3 + 4 nurses,
    none planning one). A leader runs the temporary-break option for North and for Acute. Exact eligible
    counts (12 and 12) would say "none of the 7 nurses outside Acute plans a break": a hidden group's answer,
    pinned. Released rounded to 5 (with the departures following the rounded count), the difference leaves
    0 to 4 of the 7 possible: no longer exact."""
    rng = np.random.default_rng(21)
    acute_plan = np.where(np.arange(30) < 12, "temporary_break", "stay")
    frame = pd.concat(
        [
            _people(30, rng, site="North", department="Acute", role="nurse", itl=acute_plan != "stay", path=acute_plan),
            _people(3, rng, site="North", department="Theatre", role="nurse", itl=np.zeros(3, bool)),
            _people(4, rng, site="North", department="Recovery", role="nurse", itl=np.zeros(4, bool)),
            _people(200, rng, site="South", department="Medicine", role="nurse"),
        ],
        ignore_index=True,
    )
    lever = [{"key": "temporary_break", "params": {"retention_rate": 0.5}}]
    with _warehouse(frame) as con:
        site = scenarios.run_scenario(con, lever, site="North", resamples=10).iloc[0]
        dept = scenarios.run_scenario(con, lever, department="Acute", resamples=10).iloc[0]
    assert not site["suppressed"] and not dept["suppressed"]
    assert site["n_eligible"] % 5 == 0 and dept["n_eligible"] % 5 == 0  # the exact 12 and 12 are not released
    # what the attacker knows of each exact count from its rounded release: within 2 of it (base 5)
    site_range = range(int(site["n_eligible"]) - 2, int(site["n_eligible"]) + 3)
    dept_range = range(int(dept["n_eligible"]) - 2, int(dept["n_eligible"]) + 3)
    outside = sorted({s - d for s in site_range for d in dept_range if 0 <= s - d <= 7})
    assert len(outside) >= 3, outside  # "none of the 7" is one possibility among several
    # the departures avoided do not give the exact count back either: they are the rounded count x a constant
    for row in (site, dept):
        per_person = 0.5 * (0.25 - 0.08)
        implied = row["departures_avoided"] / per_person
        assert implied == pytest.approx(row["n_eligible"]) and implied % 5 == pytest.approx(0)
