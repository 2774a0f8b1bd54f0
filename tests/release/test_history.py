"""Differencing across builds (issue 11, attack 11): an upload of a few people, or a wave replaced by a
file one person larger, must not show those people's answers as the difference of two releases."""

from __future__ import annotations

import pandas as pd

from pipelines.release import build, history
from pipelines.store import warehouse
from tests import analytics_fixtures as fx


def _insert(con, frame: pd.DataFrame) -> None:
    cols = ", ".join(frame.columns)
    con.register("drawn", frame)
    con.execute(f"insert into responses ({cols}) select {cols} from drawn")
    con.unregister("drawn")


def _people(n: int, seed: int, prefix: str) -> pd.DataFrame:
    """n respondents of one wave in 2 sites x 3 departments (units of a few to a few dozen people)."""
    frame = fx.make_large(n, seed=seed, waves=1)
    frame["response_key"] = [f"{prefix}{i}" for i in range(n)]
    frame["site"] = [f"Site {i % 2}" for i in range(n)]
    frame["department"] = [f"Dept {(i * 7) % 3}" for i in range(n)]
    return frame


def _groups(con) -> pd.DataFrame:
    return con.execute("select * from rel_groups").df()


def _moves(before: pd.DataFrame, after: pd.DataFrame) -> list[int]:
    """By plain differencing of the two stored releases: how many people each visible group moved by."""
    keys = ["wave", "site", "department", "role"]
    a = before[~before["suppressed"]].fillna({c: "" for c in keys[1:]})
    b = after[~after["suppressed"]].fillna({c: "" for c in keys[1:]})
    joined = a.merge(b, on=keys, suffixes=("_0", "_1"))
    return (joined["n_1"].astype(int) - joined["n_0"].astype(int)).abs().tolist()


def test_a_two_row_upload_is_held_back_and_a_large_one_hides_small_moves() -> None:
    with warehouse.connect(":memory:") as con:
        frame = _people(300, 3, "a")
        _insert(con, frame)
        build.build_into(con)
        first = _groups(con)
        # two more people in the same wave (an upload of two rows)
        extra = _people(2, 4, "b")
        _insert(con, extra)
        build.build_into(con)
        second = _groups(con)
        # the adversary differences the two releases: nothing moved, so nothing about the two people
        assert set(_moves(first, second)) <= {0}
        holds = history.read_holds(con)
        assert list(holds["wave"]) == [str(frame["wave"].iloc[0])]
        assert "fewer than 10" in holds["reason"].iloc[0]
        # 40 more people: the wave is released again, and no visible group moved by 1-4 people
        more = _people(40, 5, "c")
        _insert(con, more)
        build.build_into(con)
        third = _groups(con)
        moves = _moves(second, third)
        assert max(moves) >= 40  # the organisation moved: the new figures are out
        assert not [m for m in moves if 0 < m < 5], moves
        assert history.read_holds(con).empty


def test_guard_without_a_previous_release_changes_nothing() -> None:
    frames = {"rel_groups": pd.DataFrame({"wave": ["1"], "site": [None], "department": [None], "role": [None],
                                          "level": ["organisation"], "n": [10], "suppressed": [False]})}  # fmt: skip
    out, result = history.guard(frames, {}, 5)
    assert out["rel_groups"].equals(frames["rel_groups"]) and not result.held_back and not result.hidden


def _metric_values(con) -> pd.DataFrame:
    return con.execute(
        "select wave, level, site, department, role, metric, value, suppressed from rel_metrics order by all"
    ).df()


def test_a_same_size_swap_is_held_back_and_a_swapped_group_is_hidden() -> None:
    """Replace one real person's row by a made-up one in the same unit: no count moves, but every rate of
    the unit would move by exactly that person's answers. The wave is held back; later, with enough other
    changes, the unit where only the swap happened is hidden rather than shown with its difference."""
    with warehouse.connect(":memory:") as con:
        frame = _people(300, 3, "a")
        _insert(con, frame)
        build.build_into(con)
        before = _metric_values(con)
        victim = frame.iloc[0]
        fake = _people(1, 9, "fake")
        for col in ("wave", "site", "department", "role"):
            fake[col] = victim[col]
        con.execute("delete from responses where response_key = ?", [victim["response_key"]])
        _insert(con, fake)
        build.build_into(con)
        after = _metric_values(con)
        assert int(con.execute("select count(*) from responses").fetchall()[0][0]) == 300  # the same size
        # by plain differencing: nothing moved, so nothing about the swapped person shows
        pd.testing.assert_frame_equal(before, after)
        holds = history.read_holds(con)
        assert list(holds["wave"]) == [str(frame["wave"].iloc[0])]
        assert "2 answer row(s)" in holds["reason"].iloc[0]
        # 40 more people elsewhere: the wave is released again; the swapped unit's department is hidden
        more = _people(40, 5, "c")
        more = more[more["site"] != victim["site"]]
        _insert(con, more)
        build.build_into(con)
        assert history.read_holds(con).empty
        groups = _groups(con)
        dept = groups[(groups["level"] == "department") & (groups["site"] == victim["site"])
                      & (groups["department"] == victim["department"])]  # fmt: skip
        assert bool(dept["suppressed"].iloc[0])
