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
