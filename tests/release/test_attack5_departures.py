"""Attack 5: expected departures and cost exposure split by role replacement cost.

A site with two departments; in each, the nurses and the physicians are hidden (complementary
suppression: two hidden cells per department and per site × role), the residents shown. Expected
departures (ED) of a department minus its residents give the hidden pair's sum; the department's
cost exposure (CE) minus the residents' gives the same pair weighted by the role costs: two equations,
two unknowns, so each hidden cell's ED follows exactly (and, with the roster's headcount, its mean
predicted risk). The arithmetic below is done by hand on the released frame, independently of attack.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.release import attack, joint, privacy
from pipelines.store import warehouse

W = "2026"
COST = {"nurse": 60_000.0, "physician": 500_000.0, "resident": 100_000.0}
# (department, role): (respondents, expected departures): the truth behind the release
TRUTH = {
    ("D1", "nurse"): (6, 1.30),
    ("D1", "physician"): (5, 0.40),
    ("D1", "resident"): (7, 0.90),
    ("D2", "nurse"): (7, 1.70),
    ("D2", "physician"): (4, 0.25),
    ("D2", "resident"): (8, 1.10),
}
HIDDEN = {("D1", "nurse"), ("D1", "physician"), ("D2", "nurse"), ("D2", "physician")}


def _unit(level: str, department=None, role=None) -> dict:
    cells = [(d, r) for (d, r) in TRUTH if (department is None or d == department) and (role is None or r == role)]
    n = sum(TRUTH[c][0] for c in cells)
    ed = sum(TRUTH[c][1] for c in cells)
    ce = sum(TRUTH[c][1] * COST[c[1]] for c in cells)
    site = None if level in ("organisation", "role") else "S"
    hidden = level == "department_role" and (department, role) in HIDDEN
    return {
        "wave": W,
        "level": level,
        "site": site,
        "department": department,
        "role": role,
        "n": None if hidden else n,
        "suppressed": hidden,
        "expected_departures": None if hidden else ed,
        "cost_exposure": None if hidden else ce,
        "cost_exposure_lo": None if hidden else 0.8 * ce,
        "cost_exposure_hi": None if hidden else 1.2 * ce,
    }


def _risk_table() -> pd.DataFrame:
    rows = [_unit("organisation"), _unit("site")]
    rows += [_unit("department", d) for d in ("D1", "D2")]
    for r in COST:
        rows += [_unit("role", role=r), _unit("site_role", role=r)]
        rows += [_unit("department_role", d, r) for d in ("D1", "D2")]
    df = pd.DataFrame(rows)
    df["n"] = df["n"].astype("Int64")
    for col in ("expected_departures", "cost_exposure", "cost_exposure_lo", "cost_exposure_hi"):
        df[col] = df[col].astype("Float64")
    return df


def _value(df: pd.DataFrame, column: str, **where):
    sub = df
    for col in ("level", "department", "role"):
        value = where.get(col)
        sub = sub[sub[col].isna()] if value is None else sub[sub[col] == value]
    assert len(sub) == 1, where
    value = sub[column].iloc[0]
    return None if pd.isna(value) else float(value)


def test_by_hand_the_role_cost_split_recovers_each_hidden_cell() -> None:
    df = _risk_table()
    ed_d1 = _value(df, "expected_departures", level="department", department="D1")
    ce_d1 = _value(df, "cost_exposure", level="department", department="D1")
    ed_res = _value(df, "expected_departures", level="department_role", department="D1", role="resident")
    ce_res = _value(df, "cost_exposure", level="department_role", department="D1", role="resident")
    pair, pair_cost = ed_d1 - ed_res, ce_d1 - ce_res  # nurses + physicians of D1, plain and cost-weighted
    physicians = (pair_cost - COST["nurse"] * pair) / (COST["physician"] - COST["nurse"])
    nurses = pair - physicians
    assert nurses == pytest.approx(TRUTH[("D1", "nurse")][1])
    assert physicians == pytest.approx(TRUTH[("D1", "physician")][1])
    # D2's pair then follows from the site × role rows (site nurses minus D1's nurses)
    site_nurses = _value(df, "expected_departures", level="site_role", role="nurse")
    assert site_nurses - nurses == pytest.approx(TRUTH[("D2", "nurse")][1])


def test_the_attacker_pins_every_hidden_cell_without_the_roster() -> None:
    """The costs are read off the release itself (CE/ED of the visible rows of each role)."""
    pinned = attack.attack_departures({"rel_unit_risk": _risk_table()}, W)
    assert {(p.figure.key[1], p.figure.key[2]) for p in pinned} == HIDDEN
    assert all(p.figure.kind == "departures" for p in pinned)
    assert any(lab.column == attack.COST for p in pinned for lab in p.sources)


def test_without_the_cost_split_nothing_is_pinned() -> None:
    """Expected departures alone have the structure of the counts: two hidden cells per parent stay apart."""
    df = _risk_table()
    df["cost_exposure"] = pd.NA
    assert attack.attack_departures({"rel_unit_risk": df}, W) == []


@pytest.fixture
def con(tmp_path: Path):
    with warehouse.connect(str(tmp_path / "w.duckdb")) as c:
        yield c


def _store(con: duckdb.DuckDBPyConnection, df: pd.DataFrame) -> None:
    con.register("_f", df)
    con.execute('create or replace table "rel_unit_risk" as select * from _f')
    con.unregister("_f")


def test_audit_names_the_figure_and_the_joint_pass_closes_it(con: duckdb.DuckDBPyConnection) -> None:
    unprotected = _risk_table()
    _store(con, unprotected)
    problems = [p for p in privacy.audit(con, attack=True) if p.rule == "pinned"]
    named = [p.detail for p in problems if "hidden expected departures" in p.detail]
    assert len(named) == len(HIDDEN), problems
    assert any("D1/nurse" in text and "cost_exposure" in text for text in named)

    protected, outcome = joint.protect({"rel_unit_risk": unprotected}, call_threshold=None)
    assert outcome.unresolved == []
    out = protected["rel_unit_risk"]
    # the departments' cost exposure (the split) is hidden; every expected departures figure stays
    assert _value(out, "cost_exposure", level="department", department="D1") is None
    assert _value(out, "cost_exposure_hi", level="department", department="D1") is None
    assert out["expected_departures"].notna().sum() == unprotected["expected_departures"].notna().sum()
    # the organisation's and the site's cost exposure add up from visible role rows: still shown
    assert _value(out, "cost_exposure", level="organisation") > 0
    assert _value(out, "cost_exposure", level="site") > 0
    _store(con, protected["rel_unit_risk"])
    assert [p for p in privacy.audit(con, attack=True) if p.rule == "pinned"] == []
