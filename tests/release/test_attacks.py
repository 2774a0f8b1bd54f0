"""The attacker (pipelines.release.attack, privacy.audit(con, attack=True)) against hand-made releases.

Each test writes a small release as an adversary would see it, derives a protected figure by plain
arithmetic on the released frames (independently of attack.py), and checks that the audit names that
figure; then the same release with the fix (more cells hidden) passes the attacker.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipelines.release import privacy
from pipelines.store import warehouse

W = "2025"


def _row(level: str, site=None, department=None, role=None, **values) -> dict:
    return {"wave": W, "site": site, "department": department, "role": role, "level": level, **values}


def _groups(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["suppressed"] = df["n"].isna()
    df["n"] = df["n"].astype("Int64")
    return df


def _metrics(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in ("n", "answered"):
        df[col] = df[col].astype("Int64")
    df["value"] = df["value"].astype("Float64")
    return df


def _metric(level, site, department, role, metric, stat, n, answered, value, display="", suppressed=False):
    return _row(
        level, site, department, role, metric=metric, stat=stat, n=n, answered=answered, value=value,
        display=display, suppressed=suppressed,
    )  # fmt: skip


@pytest.fixture
def con(tmp_path: Path):
    with warehouse.connect(str(tmp_path / "w.duckdb")) as c:
        yield c


def _store(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        con.register("_f", df)
        con.execute(f'create or replace table "{name}" as select * from _f')
        con.unregister("_f")


def _pinned(con: duckdb.DuckDBPyConnection) -> list[privacy.Problem]:
    return [p for p in privacy.audit(con, attack=True) if p.rule == "pinned"]


# ------------------------------------------------------------------------------------------
# Attack 1: across breakdowns (organisation − roles, site − site×role)
# ------------------------------------------------------------------------------------------
# Truth: A/physician 10, A/resident 1, B/physician 9, B/resident 6 (one department per site).
def _attack1_groups(protected: bool) -> pd.DataFrame:
    hide = (
        {"site A", "site B", "role physician", "site_role B/physician", "site_role B/resident"} if protected else set()
    )

    def n(label, value):
        return None if label in hide else value

    return _groups(
        [
            _row("organisation", n=26),
            _row("site", "A", n=n("site A", 11)),
            _row("site", "B", n=n("site B", 15)),
            _row("role", role="physician", n=n("role physician", 19)),
            _row("role", role="resident", n=None),
            _row("site_role", "A", role="physician", n=None),
            _row("site_role", "A", role="resident", n=None),
            _row("site_role", "B", role="physician", n=n("site_role B/physician", 9)),
            _row("site_role", "B", role="resident", n=n("site_role B/resident", 6)),
            _row("department_role", "A", "D", "physician", n=None),
            _row("department_role", "A", "D", "resident", n=None),
            _row("department_role", "B", "E", "physician", n=None),
            _row("department_role", "B", "E", "resident", n=None),
        ]
    )


def test_attack1_across_breakdowns_is_caught_and_fixed(con: duckdb.DuckDBPyConnection) -> None:
    g = _attack1_groups(protected=False)
    # The adversary's arithmetic: A/physician = physicians − B/physicians; A/resident = site A − that.
    vis = g[~g["suppressed"]]

    def n(level, **dims):
        sel = vis["level"] == level
        for d, v in dims.items():
            sel &= vis[d] == v
        return int(vis.loc[sel, "n"].iloc[0])

    a_phys = n("role", role="physician") - n("site_role", site="B", role="physician")
    a_res = n("site", site="A") - a_phys
    assert (a_phys, a_res) == (10, 1)
    _store(con, {"rel_groups": g})
    found = _pinned(con)
    assert any("site_role" in p.detail and "A/resident" in p.detail and "exactly 1" in p.detail for p in found), found
    # The protected release (only the organisation shows: B/resident alone would pin its one cell); nothing is pinned any more.
    _store(con, {"rel_groups": _attack1_groups(protected=True)})
    assert _pinned(con) == []


# ------------------------------------------------------------------------------------------
# Attack 2: a band undone by subtraction (department rate − a visible role's rate)
# ------------------------------------------------------------------------------------------
# Truth: department S/D has 7 physicians (1 burned out: "≤15%") and 5 nurses (3 burned out).
def _attack2(protected: bool) -> dict[str, pd.DataFrame]:
    groups = _groups(
        [
            _row("organisation", n=12),
            _row("site", "S", n=12),
            _row("department", "S", "D", n=12),
            _row("role", role="physician", n=7),
            _row("role", role="nurse", n=5),
            _row("site_role", "S", role="physician", n=7),
            _row("site_role", "S", role="nurse", n=5),
            _row("department_role", "S", "D", "physician", n=7),
            _row("department_role", "S", "D", "nurse", n=5),
        ]
    )
    rows = []
    for _, r in groups.iterrows():
        dims = (r["level"], r["site"], r["department"], r["role"])
        if r["role"] == "physician":
            rows.append(_metric(*dims, "burnout", "rate", 7, 7, None, display="≤15%"))
        elif r["role"] == "nurse":
            rows.append(_metric(*dims, "burnout", "rate", 5, 5, 0.6, display="60.0%"))
        elif protected:
            rows.append(_metric(*dims, "burnout", "rate", None, None, None, "hidden", suppressed=True))
        else:
            rows.append(_metric(*dims, "burnout", "rate", 12, 12, 4 / 12, display="33.3%"))
    return {"rel_groups": groups, "rel_metrics": _metrics(rows)}


def test_attack2_band_undone_by_subtraction(con: duckdb.DuckDBPyConnection) -> None:
    m = _attack2(protected=False)["rel_metrics"]
    dept = m[(m["level"] == "department")].iloc[0]
    nurse = m[(m["level"] == "department_role") & (m["role"] == "nurse")].iloc[0]
    physicians_burned_out = round(dept["value"] * dept["answered"]) - round(nurse["value"] * nurse["answered"])
    assert physicians_burned_out == 1  # "1 of 7" behind the "≤15%" band
    _store(con, _attack2(protected=False))
    found = _pinned(con)
    assert any("burnout" in p.detail and "band ≤15%" in p.detail and "exactly 1" in p.detail for p in found), found
    _store(con, _attack2(protected=True))
    assert _pinned(con) == []


# ------------------------------------------------------------------------------------------
# Attack 3: a pooled driver share minus a visible item isolates a hidden item
# ------------------------------------------------------------------------------------------
# Truth: cell S/D/nurse, 6 people; work control unfavourable 2 of 6; stress answered by 3, all high.
def _attack3(protected: bool) -> dict[str, pd.DataFrame]:
    key = ("department_role", "S", "D", "nurse")
    groups = _groups([_row("organisation", n=6), _row(*key, n=6)])
    metrics = _metrics(
        [
            _metric(*key, "unfav_work_control", "rate", 6, 6, 2 / 6, display="33.3%"),
            _metric(*key, "unfav_stress", "rate", None, None, None, "hidden", suppressed=True),
            _metric("organisation", None, None, None, "unfav_work_control", "rate", 6, 6, 2 / 6, display="33.3%"),
            _metric("organisation", None, None, None, "unfav_stress", "rate", None, None, None, "hidden", True),
        ]
    )
    pooled = None if protected else 5 / 9
    drivers = pd.DataFrame(
        [
            _row("department_role", "S", "D", "nurse", n=6, suppressed=False,
                 workload_control_unfavourable=pooled, workload_control_unfavourable_answered=6,
                 workload_control_unfavourable_display="hidden" if protected else "55.6%")
        ]
    )  # fmt: skip
    drivers["workload_control_unfavourable"] = drivers["workload_control_unfavourable"].astype("Float64")
    return {"rel_groups": groups, "rel_metrics": metrics, "rel_driver_importance": drivers}


def test_attack3_pooled_share_minus_item_worked_on_answers(con: duckdb.DuckDBPyConnection) -> None:
    """The old release pooled answers: pooled minus a visible item isolated a hidden item."""
    t = _attack3(protected=False)
    pooled = float(t["rel_driver_importance"]["workload_control_unfavourable"].iloc[0])
    wc = t["rel_metrics"].iloc[0]
    # Adversary: pooled = (2 + s) / (6 + a) with 0 ≤ s ≤ a ≤ 6 whole numbers: only a = s = 3 fits.
    fits = [(a, s) for a in range(7) for s in range(a + 1) if np.isclose((2 + s) / (6 + a), pooled)]
    assert fits == [(3, 3)]
    assert round(wc["value"] * wc["answered"]) == 2


def test_attack3_driver_shares_now_count_people() -> None:
    """Fix (3b): a driver group's unfavourable share is a share of PEOPLE (unfavourable on at least half
    of the group's items they answered), over the people who answered any of them, so it is no longer
    a sum of item answers that a visible item can be subtracted from, and k counts people."""
    from pipelines.models import drivers

    group = next(g for g in drivers.DRIVER_GROUPS if g.key == "workload_control")
    first, second = group.items
    # six people: (first item, second item) unfavourable? None = not answered
    people = [(True, True), (True, None), (False, True), (False, False), (None, None), (False, None)]
    rows = []
    for a, b in people:
        row = {}
        for item, bad in ((first, a), (second, b)):
            op, t = drivers.contract.ITEMS_BY_NAME[item].unfavourable
            good = 1 if op == ">=" else 5
            row[item] = np.nan if bad is None else (t if bad else good)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for g in drivers.DRIVER_GROUPS:
        for item in g.items:
            if item not in frame:
                frame[item] = np.nan
    frame["call_nights_per_month"] = np.nan
    bad, answered = drivers._performance(frame, 4.0)["workload_control"]
    # by hand: person 1 (2/2), 2 (1/1), 3 (1/2: half counts) unfavourable; 4 and 6 not; 5 answered nothing
    assert (bad, answered) == (3, 5)
    answers_pooled = (2 + 1 + 1) / (2 + 1 + 2 + 2 + 1)
    assert not np.isclose(bad / answered, answers_pooled)


def _attack3b(protected: bool) -> dict[str, pd.DataFrame]:
    """A people-based driver share is protected like any rate: organisation minus a visible unit."""
    a, b = ("department_role", "S", "D", "nurse"), ("department_role", "S", "D", "physician")
    groups = _groups([_row("organisation", n=12), _row(*a, n=6), _row(*b, n=6)])
    col = "workload_control_unfavourable"
    rows = [
        _row("organisation", n=12, suppressed=False, **{col: 3 / 12, f"{col}_answered": 12, f"{col}_display": "25.0%"}),
        _row(*a, n=6, suppressed=False, **{col: None, f"{col}_answered": None, f"{col}_display": "hidden"}),
        _row(*b, n=6, suppressed=False, **{
            col: None if protected else 2 / 6,
            f"{col}_answered": None if protected else 6,
            f"{col}_display": "hidden" if protected else "33.3%",
        }),
    ]  # fmt: skip
    drivers = pd.DataFrame(rows)
    drivers[col] = drivers[col].astype("Float64")
    drivers[f"{col}_answered"] = drivers[f"{col}_answered"].astype("Int64")
    return {"rel_groups": groups, "rel_driver_importance": drivers}


def test_attack3_people_share_is_a_protected_figure(con: duckdb.DuckDBPyConnection) -> None:
    t = _attack3b(protected=False)
    # Adversary: 3 unfavourable of 12 minus 2 of the 6 physicians: exactly 1 of the 6 nurses.
    org = t["rel_driver_importance"].iloc[0]
    phys = t["rel_driver_importance"].iloc[2]
    col = "workload_control_unfavourable"
    assert round(org[col] * org[f"{col}_answered"]) - round(phys[col] * phys[f"{col}_answered"]) == 1
    _store(con, t)
    found = _pinned(con)
    assert any(col in p.detail and "S/D/nurse" in p.detail for p in found), found
    _store(con, _attack3b(protected=True))
    assert _pinned(con) == []


# ------------------------------------------------------------------------------------------
# Attack 9: a mean beside a band reveals it (mean 0.0 call nights next to "≤20%" call-heavy)
# ------------------------------------------------------------------------------------------
def _attack9(protected: bool) -> dict[str, pd.DataFrame]:
    key = ("department_role", "S", "D", "nurse")
    groups = _groups([_row("organisation", n=5), _row(*key, n=5)])
    rows = []
    for dims in (key, ("organisation", None, None, None)):
        rows.append(_metric(*dims, "call_heavy", "rate", 5, 5, None, display="≤20%"))
        if protected:
            rows.append(_metric(*dims, "call_nights", "mean", None, None, None, "hidden", suppressed=True))
        else:
            rows.append(_metric(*dims, "call_nights", "mean", 5, 5, 0.0, display="0.0"))
    return {"rel_groups": groups, "rel_metrics": _metrics(rows)}


def test_attack9_mean_reveals_band(con: duckdb.DuckDBPyConnection) -> None:
    m = _attack9(protected=False)["rel_metrics"]
    mean = m[(m["metric"] == "call_nights") & (m["level"] == "department_role")].iloc[0]
    # Adversary: total call nights = mean × answered = 0, so nobody has 4 or more: 0%, not "≤20%".
    assert mean["value"] * mean["answered"] == 0
    _store(con, _attack9(protected=False))
    found = _pinned(con)
    assert any("call_heavy" in p.detail and "band ≤20%" in p.detail and "exactly 0" in p.detail for p in found), found
    _store(con, _attack9(protected=True))
    assert _pinned(con) == []


def test_release_hides_a_mean_beside_a_banded_rate() -> None:
    """The protection of attack 9: privacy.release hides the call-nights mean where call-heavy is banded."""
    rows = []
    for _level, site, role, n, heavy, nights in (
        ("organisation", None, None, 30, 10, 2.5),
        ("site", "S", None, 30, 10, 2.5),
        ("role", None, "nurse", 6, 0, 0.0),
        ("role", None, "physician", 24, 10, 3.1),
        ("site_role", "S", "nurse", 6, 0, 0.0),
        ("site_role", "S", "physician", 24, 10, 3.1),
    ):
        base = {"wave": W, "site": site, "department": None, "role": role, "n": n, "answered": n}
        rows.append({**base, "metric": "call_heavy", "stat": "rate", "value": heavy / n, "lo": 0.0, "hi": 1.0})
        rows.append({**base, "metric": "call_nights", "stat": "mean", "value": nights, "lo": None, "hi": None})
    out = privacy.release(pd.DataFrame(rows), kind="metrics", k=5)
    nurse = out[(out["role"] == "nurse") & (out["level"] == "site_role")].set_index("metric")
    assert nurse.loc["call_heavy", "display"].startswith("≤") or bool(nurse.loc["call_heavy", "suppressed"])
    assert bool(nurse.loc["call_nights", "suppressed"]) and pd.isna(nurse.loc["call_nights", "value"])
    # The physicians' mean is hidden too (site − physicians would give the nurses' mean).
    phys = out[(out["role"] == "physician") & (out["level"] == "site_role")].set_index("metric")
    assert bool(phys.loc["call_nights", "suppressed"])


def test_stored_reads_the_release_as_stored(con: duckdb.DuckDBPyConnection) -> None:
    """Attack 4's remedy: surfaces read the stored pattern (build.stored) instead of re-releasing."""
    from pipelines.release import build

    g = _attack1_groups(protected=True)
    _store(con, {"rel_groups": g})
    got = build.stored(con, "rel_groups", wave=W, levels=["site_role"], site="b")
    assert got["role"].tolist() == ["physician", "resident"]
    assert got["suppressed"].tolist() == [True, True]
    with pytest.raises(ValueError):
        build.stored(con, "responses")
