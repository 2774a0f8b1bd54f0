"""The confidentiality layer under attack: subtraction, addition, filters, waves and homogeneity.

The attacks below re-derive the parent/child structure by hand (not with privacy.relations), so a
bug in the library's own structure would not hide itself from the tests.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.metrics import released as metrics
from pipelines.release import build, privacy
from pipelines.store import warehouse
from tests import analytics_fixtures as fx

K = 5
# (parent level, child level, keys shared by parent and child besides wave)
PAIRS = (
    ("organisation", "site", ()),
    ("organisation", "role", ()),
    ("site", "department", ("site",)),
    ("site", "site_role", ("site",)),
    ("role", "site_role", ("role",)),
    ("department", "department_role", ("site", "department")),
    ("site_role", "department_role", ("site", "role")),
)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    with warehouse.connect(":memory:") as connection:
        fx.load(connection)
        build.build_into(connection)
        yield connection


def _families(df: pd.DataFrame):
    """Yield (parent row, children rows) for every parent in a released table, per metric."""
    parts = df.groupby("metric") if "metric" in df.columns else [(None, df)]
    for _, part in parts:
        for parent_level, child_level, keys in PAIRS:
            parents = part[part["level"] == parent_level]
            children = part[part["level"] == child_level]
            for _, parent in parents.iterrows():
                mask = children["wave"] == parent["wave"]
                for key in keys:
                    mask &= children[key] == parent[key]
                yield parent, children[mask]


def subtraction_attack(df: pd.DataFrame, k: int, count: str = "n") -> list[str]:
    """Everything an attacker learns from parent − visible children, and from sums of children."""
    leaks = []
    for parent, kids in _families(df):
        hidden = kids[kids["suppressed"]]
        if parent["suppressed"]:
            if len(kids) and hidden.empty:
                leaks.append(f"hidden parent rebuilt from its visible parts: {parent.to_dict()}")
            continue
        rest = parent[count] - kids.loc[~kids["suppressed"], count].sum()
        if len(hidden) == 1 and rest > 0:
            leaks.append(f"single hidden child recovered (n={rest}) under {parent.to_dict()}")
        if 0 < rest < k:
            leaks.append(f"hidden remainder of {rest} < k under {parent.to_dict()}")
    return leaks


def burned_out_attack(df: pd.DataFrame, metric: str) -> list[str]:
    """Count of unfavourable answers in the hidden/banded part of a visible parent."""
    part = df[df["metric"] == metric]
    leaks = []
    for parent, kids in _families(part):
        if parent["suppressed"] or pd.isna(parent["value"]):
            continue
        exact = kids[~kids["suppressed"] & kids["value"].notna()]
        rest_n = parent["answered"] - exact["answered"].sum()
        rest_k = round(parent["value"] * parent["answered"]) - round((exact["value"] * exact["answered"]).sum())
        if 0 < rest_n < 10 and rest_k in (0, rest_n):
            leaks.append(f"{metric}: {rest_k} of {rest_n} hidden people recovered under {parent.to_dict()}")
    return leaks


# ------------------------------------------------------------------------------------------
# Thresholds and small API
# ------------------------------------------------------------------------------------------
def test_k_below_three_is_refused() -> None:
    frame = pd.DataFrame({"wave": ["1"], "n": [10]})
    with pytest.raises(ValueError, match="at least 3"):
        privacy.release(frame, kind="metrics", k=2)
    with pytest.raises(ValueError):
        privacy.check_k(0)
    assert privacy.check_k(3) == 3


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown table kind"):
        privacy.release(pd.DataFrame({"n": [10]}), kind="secret", k=5)


def test_thresholds_come_from_settings() -> None:
    with warehouse.connect(":memory:") as connection:
        assert privacy.thresholds(connection) == (5, 10)
        connection.execute("insert into settings values ('min_group_size', '7', 'test', current_timestamp)")
        assert privacy.thresholds(connection) == (7, 10)
        connection.execute("update settings set value = '2' where key = 'min_group_size'")
        with pytest.raises(ValueError):
            privacy.thresholds(connection)


@pytest.mark.parametrize(
    ("group", "parent", "allowed"),
    [(5, 10, True), (5, 9, False), (4, 20, False), (12, 12, True), (6, 8, False), (None, 10, False)],
)
def test_check_filter_remainder_rule(group: int | None, parent: int, allowed: bool) -> None:
    assert privacy.check_filter(group, parent, 5) is allowed


@pytest.mark.parametrize(
    ("successes", "answered", "text"),
    [
        (0, 5, "≤20%"),
        (1, 5, "≤20%"),
        (2, 5, None),
        (4, 5, "≥80%"),
        (5, 5, "≥80%"),
        (0, 9, "≤15%"),
        (9, 9, "≥85%"),
        (0, 10, None),
        (0, 3, "≤35%"),
    ],
)
def test_band_text_always_covers_two_counts(successes: int, answered: int, text: str | None) -> None:
    assert privacy.band_text(successes, answered) == text


# ------------------------------------------------------------------------------------------
# The fixture warehouse, attacked
# ------------------------------------------------------------------------------------------
def test_sites_in_2025_exact_rows(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select site, n, suppressed, display from rel_groups "
        "where wave = '2025' and level in ('organisation', 'site') order by site nulls first"
    ).fetchall()
    # East has 3 respondents; South (the next smallest site) is hidden with it, otherwise
    # organisation − North − South would give East.
    assert rows == [
        (None, 134, False, ""),
        ("East", None, True, privacy.SUPPRESSED_TEXT),
        ("North", 79, False, ""),
        ("South", None, True, privacy.SUPPRESSED_TEXT),
    ]


def test_no_released_table_leaks_by_subtraction(con: duckdb.DuckDBPyConnection) -> None:
    groups = con.execute("select * from rel_groups").df()
    assert subtraction_attack(groups, K) == []
    released = con.execute("select * from rel_metrics").df()
    assert subtraction_attack(released, K, count="answered") == []


def test_burned_out_counts_cannot_be_recovered(con: duckdb.DuckDBPyConnection) -> None:
    released = con.execute("select * from rel_metrics").df()
    for metric in ("burnout", "itl", "unfav_work_control", "joyful"):
        assert burned_out_attack(released, metric) == []


def test_groups_and_metrics_agree_on_group_suppression(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        """select count(*) from rel_metrics m join rel_groups g
           on m.wave = g.wave and m.level = g.level and m.site is not distinct from g.site
           and m.department is not distinct from g.department and m.role is not distinct from g.role
           where g.suppressed and not m.suppressed"""
    ).fetchone()[0]
    assert rows == 0


def test_suppressed_rows_carry_no_values(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("rel_groups", "rel_metrics"):
        df = con.execute(f"select * from {table} where suppressed").df()
        value_cols = [c for c in df.columns if c not in privacy.KEY_COLUMNS]
        assert len(df) > 0
        assert df[value_cols].isna().all().all(), table
        visible = con.execute(f"select min(n) from {table} where not suppressed").fetchone()[0]
        assert visible >= K


def test_unit_that_drops_below_threshold_does_not_leak_through_change(
    con: duckdb.DuckDBPyConnection,
) -> None:
    east = con.execute(
        "select wave, n, value, change, display from rel_metrics "
        "where site = 'East' and level = 'site' and metric = 'burnout' order by wave"
    ).fetchall()
    assert east[0][0] == "2024" and east[0][1] == 8 and east[0][3] is None
    assert east[1][:4] == ("2025", None, None, None)
    # No 2025 row anywhere compares with a hidden 2024 cell or hides a 2025 value in its change.
    leaked = con.execute(
        """select count(*) from rel_metrics cur
           join rel_metrics prev on prev.wave = '2024' and cur.wave = '2025'
             and prev.metric = cur.metric and prev.level = cur.level
             and prev.site is not distinct from cur.site
             and prev.department is not distinct from cur.department
             and prev.role is not distinct from cur.role
           where cur.change is not null and (prev.suppressed or cur.suppressed
             or prev.value is null or cur.value is null)"""
    ).fetchone()[0]
    assert leaked == 0


def test_homogeneous_small_cells_are_banded_or_hidden(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select wave, metric, n, suppressed, value, lo, hi, display from rel_metrics "
        "where site = 'North' and department = 'Emergency' and role = 'app' "
        "and metric in ('burnout', 'itl') order by wave, metric"
    ).fetchall()
    # 6 respondents in 2024, 7 in 2025: all burned out, nobody intends to leave. The band alone
    # would still let North/Emergency − nurses − physicians show "all 6 burned out", so the
    # remainder rule hides the cell (and a sibling) for these two metrics.
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("2024", "burnout", None, True),
        ("2024", "itl", None, True),
        ("2025", "burnout", None, True),
        ("2025", "itl", None, True),
    ]
    # Small homogeneous cells show a band, or are hidden where parent minus exact siblings would pin the
    # band (a lone band: issue 11); never an exact value.
    for wave, site, dept, role, metric, band in [
        ("2024", "North", "Emergency", "app", "unfav_ehr_frustration", "≤20%"),
        ("2024", "North", "Emergency", "app", "unfav_work_control", "≤20%"),
        ("2024", "South", "Emergency", "physician", "reduce_fte", "≤15%"),
        ("2025", "North", "Emergency", "app", "unfav_documentation_time", "≤15%"),
        ("2025", "North", "Emergency", "app", "unfav_ehr_home_time", "≤15%"),
    ]:
        value, display = con.execute(
            "select value, display from rel_metrics where wave = ? and site = ? and department = ? and role = ? "
            "and metric = ?",
            [wave, site, dept, role, metric],
        ).fetchone()
        assert value is None and display in (band, privacy.SUPPRESSED_TEXT), (metric, display)
    exposed = con.execute(
        "select count(*) from rel_metrics where stat = 'rate' and answered < 10 "
        "and (value in (0, 1) or lo <= 0 or hi >= 1)"
    ).fetchone()[0]
    assert exposed == 0


def test_department_names_repeat_across_sites(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "select site, n from rel_groups where wave = '2024' and level = 'department' "
        "and department = 'Emergency' order by site"
    ).fetchall()
    assert rows == [("North", 42), ("South", 27)]


def test_audit_passes_on_a_proper_build(con: duckdb.DuckDBPyConnection) -> None:
    assert privacy.audit(con) == []


def test_audit_catches_a_table_written_around_the_privacy_layer(
    con: duckdb.DuckDBPyConnection,
) -> None:
    raw = metrics.compute_groups(con)
    raw["suppressed"] = False
    con.register("raw_groups", raw)
    con.execute("create table rel_bypass as select * from raw_groups")
    problems = privacy.audit(con)
    rules = {p.rule for p in problems if p.table == "rel_bypass"}
    assert "min_group" in rules
    assert all(p.table == "rel_bypass" for p in problems)


def test_audit_catches_values_in_suppressed_rows_and_lone_hidden_cells(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute("create table rel_broken as select * from rel_groups")
    con.execute("update rel_broken set headcount = 99 where suppressed and site = 'East'")
    # un-hide South in 2025: East becomes the only hidden site, so org − North − South = East
    con.execute(
        "update rel_broken set suppressed = false, n = 52 where wave = '2025' and level = 'site' and site = 'South'"
    )
    problems = [p for p in privacy.audit(con) if p.table == "rel_broken"]
    rules = {p.rule for p in problems}
    assert {"value_in_suppressed", "recoverable"} <= rules
    assert any("leaves 3" in p.detail for p in problems)


def test_audit_catches_an_exposed_homogeneous_cell(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create table rel_exposed as select * from rel_metrics")
    con.execute(
        "update rel_exposed set value = 0.0, lo = 0.0, hi = 0.39, n = 6, answered = 6 where rowid = ("
        "select min(rowid) from rel_exposed where not suppressed and stat = 'rate' and level = 'department_role')"
    )
    assert con.execute("select count(*) from rel_exposed where value = 0 and answered < 10").fetchone()[0] >= 1
    rules = {p.rule for p in privacy.audit(con) if p.table == "rel_exposed"}
    assert "homogeneity" in rules


# ------------------------------------------------------------------------------------------
# Generic API, for the model tables
# ------------------------------------------------------------------------------------------
def _table(cells: dict[tuple[str, str, str], int], wave: str = "w1") -> pd.DataFrame:
    """All six levels from department × role cell counts."""
    base = pd.DataFrame(
        [(wave, s, d, r, n) for (s, d, r), n in cells.items()],
        columns=["wave", "site", "department", "role", "n"],
    )
    frames = []
    for keys in ((), ("site",), ("site", "department"), ("role",), ("site", "role"), ("site", "department", "role")):
        grouped = (
            base.groupby(["wave", *keys], as_index=False)["n"].sum()
            if keys
            else base.groupby("wave", as_index=False)["n"].sum()
        )
        for col in ("site", "department", "role"):
            if col not in keys:
                grouped[col] = None
        frames.append(grouped)
    return pd.concat(frames, ignore_index=True)


def test_intentions_tables_need_ten() -> None:
    table = _table({("A", "X", "nurse"): 7, ("A", "X", "physician"): 12, ("A", "Y", "nurse"): 11})
    out = privacy.release(table, kind="intentions", k=5)
    cells = out[out["level"] == "department_role"].set_index(["department", "role"])
    assert bool(cells.loc[("X", "nurse"), "suppressed"])  # 7 < 10 even though k = 5
    assert subtraction_attack(out, 10) == []
    assert out.loc[~out["suppressed"], "n"].min() >= 10


def test_wide_rates_are_banded_and_hidden_per_cell() -> None:
    table = _table({("A", "X", "nurse"): 6, ("A", "X", "physician"): 12, ("A", "Y", "nurse"): 30})
    table["itl_observed"] = 0.5
    table.loc[(table["role"] == "nurse") & (table["department"] == "X"), "itl_observed"] = 0.0
    table["itl_observed_lo"] = 0.1
    table["mean_risk"] = 0.3
    out = privacy.release(table, kind="model", k=5, rates=["itl_observed"])
    cell = out[(out["department"] == "X") & (out["role"] == "nurse")].iloc[0]
    assert not cell["suppressed"] and cell["n"] == 6
    assert pd.isna(cell["itl_observed"]) and pd.isna(cell["itl_observed_lo"])
    # banded, or hidden where the parent minus its exact siblings would pin the band (issue 11)
    assert cell["itl_observed_display"] in ("≤20%", privacy.SUPPRESSED_TEXT)
    assert cell["mean_risk"] == pytest.approx(0.3)
    visible = out[~out["suppressed"]]
    assert (visible["itl_observed_display"] != "").all()
    assert privacy.check_released(out, 5, table="t") == []
    exposed = out.copy()
    exposed.loc[cell.name, "itl_observed"] = 0.0
    assert [p.rule for p in privacy.check_released(exposed, 5, table="t")] == ["homogeneity"]


def test_remainder_of_the_parent_counts_as_hidden() -> None:
    # A model table that dropped some respondents: site A has 20, its departments 12 + 4 (4 missing).
    table = pd.DataFrame(
        {
            "wave": ["w"] * 4,
            "site": [None, "A", "A", "A"],
            "department": [None, None, "X", "Y"],
            "n": [20, 20, 12, 4],
        }
    )
    out = privacy.release(table, kind="model", k=5)
    assert out.set_index("department")["suppressed"].to_dict() == {None: False, "X": False, "Y": True} or (
        out["suppressed"].tolist() == [False, False, False, True]
    )
    # A remainder below k with nothing hidden must not be revealed: A − X = 3 people.
    table2 = pd.DataFrame(
        {"wave": ["w"] * 3, "site": [None, "A", "A"], "department": [None, None, "X"], "n": [20, 20, 17]}
    )
    out2 = privacy.release(table2, kind="model", k=5)
    assert out2.loc[out2["department"] == "X", "suppressed"].item()


def test_release_is_deterministic_and_sorted() -> None:
    table = _table({("A", "X", "nurse"): 3, ("A", "X", "physician"): 12, ("B", "Y", "nurse"): 9})
    first = privacy.release(table.sample(frac=1, random_state=1), kind="metrics", k=5)
    second = privacy.release(table, kind="metrics", k=5)
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns[:7]) == ["wave", "site", "department", "role", "level", "n", "suppressed"]


cell_counts = st.dictionaries(
    st.tuples(st.sampled_from("ABC"), st.sampled_from("XYZ"), st.sampled_from(["nurse", "physician", "app"])),
    st.integers(min_value=1, max_value=14),
    min_size=1,
    max_size=14,
)


@given(cell_counts, st.integers(min_value=3, max_value=6))
@settings(max_examples=60, deadline=None)
def test_random_hierarchies_never_leak(cells: dict, k: int) -> None:
    out = privacy.release(_table(cells), kind="metrics", k=k)
    assert subtraction_attack(out, k) == []
    visible = out.loc[~out["suppressed"], "n"]
    assert visible.empty or visible.min() >= k
    assert privacy.check_released(out, k, table="t") == []


@given(
    st.lists(st.tuples(st.integers(1, 12), st.floats(0, 1)), min_size=2, max_size=6),
    st.integers(3, 5),
)
@settings(max_examples=60, deadline=None)
def test_random_rates_never_expose_a_small_homogeneous_group(rows: list, k: int) -> None:
    # one site with several departments, each with a burnout count
    kids = [(f"D{i}", n, round(share * n)) for i, (n, share) in enumerate(rows)]
    total_n = sum(n for _, n, _ in kids)
    total_k = sum(c for *_, c in kids)
    frame = pd.DataFrame(
        [("w", "S", None, total_n, total_k)] + [("w", "S", d, n, c) for d, n, c in kids],
        columns=["wave", "site", "department", "n", "count"],
    )
    frame["metric"] = "burnout"
    frame["stat"] = "rate"
    frame["answered"] = frame["n"]
    frame["value"] = frame["count"] / frame["n"]
    frame = frame.drop(columns="count")
    out = privacy.release(frame, kind="metrics", k=k)
    assert burned_out_attack(out, "burnout") == []
    assert subtraction_attack(out, k, count="answered") == []
