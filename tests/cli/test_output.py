"""The CLI's one output helper: table cells, alignment and JSON, against values written out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import output


def _strict_json(text: str):
    def refuse(token: str):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("value", "kind", "decimals", "expected"),
    [
        (16_800_000.0, "money", 0, "$16,800,000"),
        (-1_738_155.49, "money", 0, "-$1,738,155"),
        (1.68e7, "num", 1, "16,800,000.0"),
        (1.68e7, "int", 0, "16,800,000"),
        (1017, "int", 0, "1,017"),
        (np.int64(3000), "int", 0, "3,000"),
        (0.261927, "pct", 1, "26.2%"),
        (1.0, "pct", 0, "100%"),
        (-2.753611, "pp", 1, "-2.8 pts"),
        (-0.01, "signed", 1, "+0.0"),  # rounds to zero: no "-0.0"
        (1.0, "signed", 0, "+1"),
        (0.011361, "num", 4, "0.0114"),
        (1e-7, "num", 2, "0.00"),
        (True, "bool", 0, "yes"),
        (np.False_, "bool", 0, "no"),
        ("North Campus", "text", 0, "North Campus"),
        (pd.Timestamp("2026-12-02 14:52:03.5"), "datetime", 0, "2026-12-02 14:52:03"),
    ],
)
def test_cell(value, kind, decimals, expected) -> None:
    assert output.cell(value, kind, decimals) == expected


@pytest.mark.parametrize("missing", [None, pd.NA, pd.NaT, float("nan"), np.float64("nan")])
@pytest.mark.parametrize("kind", ["auto", "text", "int", "num", "pct", "money", "datetime"])
def test_a_missing_value_is_an_empty_cell(missing, kind) -> None:
    assert output.cell(missing, kind) == ""


def test_an_interval_with_a_negative_bound_is_not_written_with_a_dash() -> None:
    assert output.interval(0.133, 0.531, "pct") == "13.3%–53.1%"
    assert output.interval(-0.87, -0.497, "pct") == "-87.0% to -49.7%"
    assert output.interval(None, 0.5, "pct") == ""


def test_table_aligns_text_left_and_numbers_right() -> None:
    frame = pd.DataFrame(
        {
            "site": ["East", "Riverside Medical Center", None],
            "n": pd.array([9, 1017, None], dtype="Int64"),
            "cost": [29_457_073.2, 1.68e7, float("nan")],
            "empty": [None, None, None],
        }
    )
    text = output.table(
        frame, [output.Column("site"), output.Column("n", kind="int"), output.Column("cost", kind="money"), "empty"]
    )
    lines = text.split("\n")
    assert lines == [
        "site                          n         cost",
        "------------------------  -----  -----------",
        "East                          9  $29,457,073",
        "Riverside Medical Center  1,017  $16,800,000",
        "",
    ]


def test_table_of_an_auto_column_never_shows_scientific_notation_or_na() -> None:
    frame = pd.DataFrame(
        {"x": [1.68e7, 2.5, np.nan], "y": pd.array(["a", pd.NA, "c"], dtype="str"), "z": [1.0, 2.0, 3.0]}
    )
    text = output.table(frame)
    assert "e+" not in text and "nan" not in text.lower() and "<NA>" not in text and "None" not in text
    assert "16,800,000.00" in text
    assert text.splitlines()[2].split() == ["16,800,000.00", "a", "1"]  # integral floats as integers


def test_long_text_wraps_inside_its_column() -> None:
    rows = [{"key": "a", "note": "one two three four five six", "n": 1}]
    lines = output.table(rows, ["key", output.Column("note", wrap=10), output.Column("n", kind="int")]).splitlines()
    assert lines[2:] == ["a    one two     1", "     three four", "     five six"]


def test_an_empty_table_says_so() -> None:
    assert output.table([], ["a"], empty="No uploads yet.") == "No uploads yet."


def test_json_has_null_for_every_missing_value(capsys: pytest.CaptureFixture) -> None:
    frame = pd.DataFrame(
        {
            "a": [1.5, float("nan")],
            "b": pd.array([1, None], dtype="Int64"),
            "t": [pd.Timestamp("2026-01-02 03:04:05"), pd.NaT],
            "flag": [np.True_, None],
        }
    )
    output.write_json({"rows": frame, "inf": math.inf, "n": np.int64(7)})
    data = _strict_json(capsys.readouterr().out)
    assert data == {
        "rows": [
            {"a": 1.5, "b": 1, "t": "2026-01-02T03:04:05", "flag": True},
            {"a": None, "b": None, "t": None, "flag": None},
        ],
        "inf": None,
        "n": 7,
    }
