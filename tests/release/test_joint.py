"""The joint protection pass (pipelines.release.joint): tables that are safe one by one, pinned
together, closed by hiding more; checked by the attacker's integer program and by plain arithmetic."""

from __future__ import annotations

import pandas as pd

from pipelines.release import attack, joint

W = "2026"


def _row(level, site=None, department=None, role=None, **values) -> dict:
    return {"wave": W, "site": site, "department": department, "role": role, "level": level, **values}


def _tables() -> dict[str, pd.DataFrame]:
    """A department of 3 roles: 8 nurses (1 burnt out), 9 physicians (4), 7 residents (3), 24 in all (8).
    rel_metrics shows the department and physicians and residents exactly and bands the nurses
    ("≤15%"); taken alone each row obeys the rules, but 8 − 4 − 3 = 1 pins the nurses' band."""
    cells = [("nurse", 8, 1), ("physician", 9, 4), ("resident", 7, 3)]
    groups = [_row("organisation", n=24, suppressed=False), _row("department", "S", "D", n=24, suppressed=False)]
    groups += [_row("department_role", "S", "D", r, n=n, suppressed=False) for r, n, _ in cells]
    groups += [_row("role", role=r, n=n, suppressed=False) for r, n, _ in cells]
    groups += [_row("site", "S", n=24, suppressed=False)]
    groups += [_row("site_role", "S", role=r, n=n, suppressed=False) for r, n, _ in cells]
    metrics = []
    for g in groups:
        role = g["role"]
        n = g["n"]
        s = {r: x for r, _, x in cells}.get(role, 8)
        banded = role == "nurse"
        metrics.append(
            {
                **g,
                "metric": "burnout",
                "stat": "rate",
                "answered": n,
                "value": None if banded else s / n,
                "display": "≤15%" if banded else f"{100 * s / n:.1f}%",
            }
        )
    g = pd.DataFrame(groups)
    g["n"] = g["n"].astype("Int64")
    m = pd.DataFrame(metrics)
    m["n"] = m["n"].astype("Int64")
    m["answered"] = m["answered"].astype("Int64")
    m["value"] = m["value"].astype("Float64")
    return {"rel_groups": g, "rel_metrics": m}


def _pinned(tables) -> list[attack.Pinned]:
    return attack.attack_release(attack.read_release(tables, W))


def test_the_two_tables_pin_the_band_and_joint_protection_closes_it() -> None:
    tables = _tables()
    m = tables["rel_metrics"]
    dept = m[(m["level"] == "department")].iloc[0]
    kids = m[(m["level"] == "department_role") & m["value"].notna()]
    # by hand: the department's 8 burnt out minus the exact roles leaves exactly 1 nurse
    assert (
        round(dept["value"] * dept["answered"]) - sum(round(v * a) for v, a in zip(kids["value"], kids["answered"]))
        == 1
    )
    assert any(p.figure.kind == "band" and p.figure.key == ("S", "D", "nurse") for p in _pinned(tables))

    protected, outcome = joint.protect(tables, call_threshold=None)
    assert outcome.unresolved == []
    assert outcome.hidden, "something more must be hidden"
    assert _pinned(protected) == []
    # the organisation is never what is hidden, and the inputs are not changed
    org = protected["rel_metrics"][protected["rel_metrics"]["level"] == "organisation"]
    assert not org["suppressed"].any()
    assert tables["rel_metrics"]["suppressed"].sum() == 0


def test_a_second_identical_build_replays_the_pattern() -> None:
    tables = _tables()
    first, _ = joint.protect(tables, call_threshold=None)
    again, outcome = joint.protect(tables, call_threshold=None)
    pd.testing.assert_frame_equal(first["rel_metrics"], again["rel_metrics"])
    assert outcome.rounds == 0  # replayed from the cache, no attack


def test_driver_item_share_follows_the_metric_pattern() -> None:
    """A one-item driver share is the item's rate: hidden wherever rel_metrics hides the item."""
    tables = _tables()
    m = tables["rel_metrics"].copy()
    m["metric"] = "unfav_feel_valued"
    hide = (m["level"] == "department_role") & (m["role"] == "physician")
    m.loc[hide, ["value", "answered", "n"]] = None
    m.loc[hide, "suppressed"] = True
    m.loc[hide, "display"] = "hidden"
    tables["rel_metrics"] = m
    d = tables["rel_groups"].copy()
    d["feel_valued_unfavourable"] = 0.5
    d["feel_valued_unfavourable_answered"] = d["n"]
    d["feel_valued_unfavourable_display"] = "50.0%"
    tables["rel_driver_importance"] = d
    joint.sync_driver_items(tables, W, None)
    out = tables["rel_driver_importance"]
    row = out[(out["level"] == "department_role") & (out["role"] == "physician")].iloc[0]
    assert (
        pd.isna(row["feel_valued_unfavourable"])
        and row["feel_valued_unfavourable_display"] == "hidden to protect confidentiality"
    )
    other = out[(out["level"] == "department_role") & (out["role"] == "resident")].iloc[0]
    assert other["feel_valued_unfavourable"] == 0.5


def test_the_bundled_sample_passes_the_attacker(built_sample) -> None:
    """The headline: on the bundled sample's stored release the attacker pins nothing, and the table-by-table
    checks find nothing recoverable (audit-privacy exits 0)."""
    from pipelines.release import privacy
    from pipelines.store import warehouse

    with warehouse.connect(built_sample, read_only=True) as con:
        problems = privacy.audit(con, attack=True)
    assert problems == [], "\n".join(map(str, problems[:5]))


def test_a_wave_too_fine_to_protect_in_time_falls_back_to_the_organisation(monkeypatch) -> None:
    """Units of ~2 people over 1,500 cells: the search cannot close within a tiny budget, so the wave is
    released at organisation level only (rows below it left out of every table), the reason is recorded
    for the Uploads page, the attacker and the table-by-table audit pass, and a rebuild replays it."""
    from pipelines.release import build, history, privacy
    from pipelines.store import warehouse
    from tests import analytics_fixtures as fx

    monkeypatch.setenv("CLINRET_PROTECT_BUDGET", "1")
    with warehouse.connect(":memory:") as con:
        frame = fx.make_large(3_000, waves=1)
        cols = ", ".join(frame.columns)
        con.register("big", frame)
        con.execute(f"insert into responses ({cols}) select {cols} from big")
        summary = build.build_into(con)
        assert "organisation-wide only (out of time)" in " ".join(summary.notes)
        for name in ("rel_groups", "rel_metrics", "rel_unit_risk", "rel_driver_importance", "rel_leave_paths"):
            levels = {r[0] for r in con.execute(f'select distinct level from "{name}"').fetchall()}
            assert levels <= {"organisation"}, (name, levels)
            assert levels or name == "rel_leave_paths", name  # the fixture answers no leave-path question
        holds = con.execute(f"select wave, reason from {history.HOLDS_TABLE}").fetchall()
        assert holds and "organisation-wide" in holds[0][1]
        assert privacy.audit(con, attack=True) == []
        # a rebuild replays the stored fallback (no search) and says so again
        joint._CACHE.clear()
        again = build.build_into(con)
        assert "organisation-wide only" in " ".join(again.notes) and "in 0 round(s)" in " ".join(again.notes)


def test_a_rebuild_replays_the_patterns_stored_in_the_warehouse(sample_copy) -> None:
    """Another process (no in-memory cache) rebuilding an unchanged warehouse replays each wave's stored
    pattern: no attack round, and the very same release."""
    from pipelines.release import build
    from pipelines.store import warehouse

    def release(path) -> dict[str, pd.DataFrame]:
        with warehouse.connect(path, read_only=True) as con:
            return {
                name: con.execute(f'select * from "{name}" order by all').df()
                for name in ("rel_groups", "rel_metrics", "rel_unit_risk", "rel_driver_importance")
            }

    before = release(sample_copy)
    with warehouse.connect(sample_copy, read_only=True) as con:
        stored = con.execute("select count(*) from release_patterns").fetchall()[0][0]
    assert stored == 3  # one per wave of the sample
    joint._CACHE.clear()  # as in a new process
    summary = build.build(sample_copy)
    assert "in 0 round(s)" in " ".join(summary.notes)
    after = release(sample_copy)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], check_dtype=False)
