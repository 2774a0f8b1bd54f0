"""Property: on small random health systems (units of 1-11 people), after a build no count of people
in the stored release (rel_groups and the tables whose n are the same people) can be derived by the
attacker's integer program to fewer than three possible values (issue 11, attack 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.contract import ROLES
from pipelines.release import attack, build, privacy
from pipelines.store import warehouse
from tests import analytics_fixtures as fx


@st.composite
def health_systems(draw) -> list[tuple[str, str, str, int]]:
    """(site, department, role, people) cells: 2-3 sites, 1-3 departments each, 1-4 roles each."""
    cells = []
    for s in range(draw(st.integers(2, 3))):
        for d in range(draw(st.integers(1, 3))):
            roles = draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=4, unique=True))
            for role in roles:
                cells.append((f"Site {s}", f"Dept {d}", role, draw(st.integers(1, 11))))
    return cells


def _responses(cells: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    total = sum(c[3] for c in cells)
    frame = fx.make_large(total, seed=total, waves=1)
    frame["site"] = np.repeat([c[0] for c in cells], [c[3] for c in cells])
    frame["department"] = np.repeat([c[1] for c in cells], [c[3] for c in cells])
    frame["role"] = np.repeat([c[2] for c in cells], [c[3] for c in cells])
    return frame


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(health_systems())
def test_no_count_of_people_is_pinned_after_a_build(cells) -> None:
    with warehouse.connect(":memory:") as con:
        frame = _responses(cells)
        cols = ", ".join(frame.columns)
        con.register("drawn", frame)
        con.execute(f"insert into responses ({cols}) select {cols} from drawn")
        build.build_into(con)
        tables = attack.read_stored(con)
        truth = pd.DataFrame(cells, columns=["site", "department", "role", "n"])
        groups = tables["rel_groups"]
        # The release is about these people: the organisation's n (when shown) is their number.
        org = groups[groups["level"] == "organisation"]
        assert org["suppressed"].all() or int(org["n"].iloc[0]) == int(truth["n"].sum())
        pinned = []
        for wave in attack._waves(tables):
            rel = attack.read_release(tables, wave)
            pinned += [p for p in attack.attack_release(rel, families=[]) if p.figure.kind == "people"]
        assert pinned == [], "\n".join(map(str, pinned[:5]))


def _groups(cells: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """Every breakdown the build releases, summed with pandas from the drawn cells."""
    truth = pd.DataFrame(cells, columns=["site", "department", "role", "n"])
    parts = []
    for dims in ((), ("site",), ("role",), ("site", "department"), ("site", "role"), ("site", "department", "role")):
        part = truth.groupby(list(dims), as_index=False)["n"].sum() if dims else pd.DataFrame({"n": [truth["n"].sum()]})
        for col in ("site", "department", "role"):
            if col not in part.columns:
                part[col] = pd.Series([None] * len(part), dtype="str")
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["wave"] = "2025"
    return out


@settings(max_examples=40, deadline=None)
@given(health_systems())
def test_released_group_counts_are_never_pinned(cells) -> None:
    """The same property on the release engine alone (fast, so more draws): about one draw in seven
    is pinned when the attacker-driven secondary suppression is off."""
    released = privacy.release(_groups(cells), kind="metrics", k=5)
    shown = released[~released["suppressed"]]
    assert (shown["n"] >= 5).all()
    pinned = attack.attack_release(attack.read_release({"rel_groups": released}, "2025"))
    assert pinned == [], "\n".join(map(str, pinned[:5]))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(health_systems())
def test_no_protected_figure_is_pinned_after_a_build(cells) -> None:
    """Every table of the build together (rates, bands, leave paths, driver shares, counts): the attacker's
    integer program, run by the audit's own entry point, pins no protected figure (issue 11)."""
    with warehouse.connect(":memory:") as con:
        frame = _responses(cells)
        cols = ", ".join(frame.columns)
        con.register("drawn", frame)
        con.execute(f"insert into responses ({cols}) select {cols} from drawn")
        build.build_into(con)
        report = attack.attack_stored(con)
        assert report.unchecked == {}
        assert report.pinned == [], "\n".join(map(str, report.pinned[:5]))
