"""Turnover ingest: every validation message, all or nothing, audited, replaces its periods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.ingest.turnover import ingest_turnover
from pipelines.store import warehouse
from tests.conftest import write_csv

HEADER = ["site", "department", "role", "period", "headcount_at_start", "leavers", "voluntary_leavers",
          "involuntary_leavers"]  # fmt: skip
GOOD = [
    ["North", "Medicine", "physician", "2024", 40, 5, 4, 1],
    ["North", "Medicine", "nurse", "2024", 80, 12, 10, 2],
    ["South", "Surgery", "Nurse", "2024", 30, 0, 0, 0],
]


def stored(db: Path) -> tuple[int, int]:
    """(turnover rows, turnover uploads); a warehouse never created holds nothing."""
    if not db.exists():
        return (0, 0)
    with warehouse.connect(db, read_only=True) as con:
        return con.execute(
            "select (select count(*) from turnover), (select count(*) from uploads where kind = 'turnover')"
        ).fetchone()


def reject(tmp_path: Path, db: Path, rows, header=HEADER, name="hr.csv") -> list[str]:
    path = write_csv(tmp_path / name, header, rows)
    r = ingest_turnover(path, db=db)
    assert r.status == "rejected" and r.upload_id is None and r.rows_loaded == 0
    assert stored(db) == (0, 0)
    assert not db.exists()  # a rejected file never creates a warehouse
    return r.errors


def test_a_good_file_loads_with_upload_record_and_audit(tmp_path, db):
    r = ingest_turnover(write_csv(tmp_path / "hr.csv", HEADER, GOOD), db=db, uploaded_by="hr-officer")
    assert r.status == "loaded", r.errors
    assert r.rows_loaded == 3 and r.wave == "2024"
    with warehouse.connect(db, read_only=True) as con:
        rows = con.execute(
            "select site, department, role, period, headcount_at_start, leavers, voluntary_leavers, "
            "involuntary_leavers, period_months from turnover order by site, role"
        ).fetchall()
        up = con.execute("select kind, file_name, uploaded_by, rows_loaded from uploads").fetchall()
        log = con.execute("select actor, action, object, detail from audit_log").fetchall()
    assert rows == [
        ("North", "Medicine", "nurse", "2024", 80, 12, 10, 2, None),
        ("North", "Medicine", "physician", "2024", 40, 5, 4, 1, None),
        ("South", "Surgery", "nurse", "2024", 30, 0, 0, 0, None),  # "Nurse" recognised as the role code
    ]
    assert up == [("turnover", "hr.csv", "hr-officer", 3)]
    assert [(a, act, obj) for a, act, obj, _ in log] == [("hr-officer", "upload turnover", r.upload_id)]
    assert json.loads(log[0][3])["rows"] == 3


def test_optional_columns_may_be_absent_and_synonyms_are_recognised(tmp_path, db):
    header = ["Site", "Dept", "Job role", "Year", "Headcount", "Separations", "Months"]
    rows = [["North", "Medicine", "APP", "2025", 12, 2, 12]]
    r = ingest_turnover(write_csv(tmp_path / "hr.csv", header, rows), db=db)
    assert r.status == "loaded", r.errors
    with warehouse.connect(db, read_only=True) as con:
        got = con.execute("select role, period, headcount_at_start, leavers, voluntary_leavers, period_months "
                          "from turnover").fetchall()  # fmt: skip
    assert got == [("app", "2025", 12, 2, None, 12.0)]


def test_a_new_upload_replaces_its_periods_and_keeps_the_others(tmp_path, db):
    first = GOOD + [["North", "Medicine", "physician", "2023", 38, 3, 3, 0]]
    assert ingest_turnover(write_csv(tmp_path / "a.csv", HEADER, first), db=db).status == "loaded"
    again = [["North", "Medicine", "physician", "2024", 41, 6, 5, 1]]
    r = ingest_turnover(write_csv(tmp_path / "b.csv", HEADER, again), db=db)
    assert r.status == "loaded" and len(r.replaced_uploads) == 1
    with warehouse.connect(db, read_only=True) as con:
        got = con.execute("select period, headcount_at_start, leavers from turnover order by period").fetchall()
    assert got == [("2023", 38, 3), ("2024", 41, 6)]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (["North", "Medicine", "physician", "2024", 40, 50, "", ""],
         "hr.csv, row 2, column leavers: 50 leavers is more than the headcount at start (40)."),
        (["North", "Medicine", "physician", "2024", -3, 0, "", ""],
         "hr.csv, row 2, column headcount_at_start: '-3' is negative; a count cannot be below 0."),
        (["North", "Medicine", "physician", "2024", 40, -1, "", ""],
         "hr.csv, row 2, column leavers: '-1' is negative; a count cannot be below 0."),
        (["North", "Medicine", "physician", "2024", 40, 5, 4, 3],
         "hr.csv, row 2, column voluntary_leavers: voluntary (4) plus involuntary (3) leavers is more than the "
         "leavers (5)."),
        (["North", "Medicine", "wizard", "2024", 40, 5, "", ""],
         "hr.csv, row 2, column role: role 'wizard' is not a recognised role (physician, app, nurse, resident, "
         "other_clinical)."),
        (["North", "Medicine", "physician", "2024", 40, "many", "", ""],
         "hr.csv, row 2, column leavers: 'many' is not a number."),
        (["North", "Medicine", "physician", "2024", 40.5, 5, "", ""],
         "hr.csv, row 2, column headcount_at_start: '40.5' is not a whole number of people."),
        (["North", "Medicine", "physician", "2024", 40, "", "", ""],
         "hr.csv, row 2, column leavers: a number is required."),
        (["", "Medicine", "physician", "2024", 40, 5, "", ""], "hr.csv, row 2, column site: a site is required."),
        (["North", "", "physician", "2024", 40, 5, "", ""],
         "hr.csv, row 2, column department: a department is required."),
        (["North", "Medicine", "", "2024", 40, 5, "", ""], "hr.csv, row 2, column role: a role is required."),
        (["North", "Medicine", "physician", "", 40, 5, "", ""],
         "hr.csv, row 2, column period: a period (a wave label or a year) is required."),
        (["North", "Medicine", "physician", "2024", 40, 5, -1, ""],
         "hr.csv, row 2, column voluntary_leavers: '-1' is negative; a count cannot be below 0."),
    ],
)  # fmt: skip
def test_every_validation_message_names_file_row_column_and_reason(tmp_path, db, row, expected):
    errors = reject(tmp_path, db, [row])
    assert errors[0] == "hr.csv: the turnover file was not loaded; nothing changed."
    assert expected in errors[1:], errors


def test_duplicate_unit_period_rows_are_named(tmp_path, db):
    rows = [GOOD[0], GOOD[1], ["north", "MEDICINE", "Physician", "2024", 39, 2, "", ""]]
    errors = reject(tmp_path, db, rows)
    assert (
        "hr.csv, rows 2, 4, columns site/department/role/period: North / Medicine / physician (2024) appears "
        "2 times; give one row per unit and period." in errors
    ), errors


def test_period_months_must_be_a_length(tmp_path, db):
    header = [*HEADER, "period_months"]
    errors = reject(tmp_path, db, [[*GOOD[0], 0]], header=header)
    assert "hr.csv, row 2, column period_months: '0' is not a period length in months (above 0, at most 120)." in errors


def test_missing_columns_and_empty_files_are_refused(tmp_path, db):
    errors = reject(tmp_path, db, [["North", "Medicine", "physician", 40]], header=["site", "department", "role",
                                                                                  "headcount"])  # fmt: skip
    assert errors[0].startswith("hr.csv: a turnover file needs columns period, leavers; not found")
    assert reject(tmp_path, db, [], name="empty.csv") == ["empty.csv: the turnover file has no rows."]


def test_one_bad_row_rejects_the_whole_file_and_keeps_what_was_stored(tmp_path, db):
    assert ingest_turnover(write_csv(tmp_path / "a.csv", HEADER, GOOD), db=db).status == "loaded"
    before = stored(db)
    bad = [[*GOOD[0][:4], 41, 6, 5, 1], ["North", "Medicine", "nurse", "2024", 10, 11, "", ""]]
    r = ingest_turnover(write_csv(tmp_path / "b.csv", HEADER, bad), db=db)
    assert r.status == "rejected" and r.rows_rejected == 1 and r.rows_read == 2
    assert stored(db) == before
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("select leavers from turnover where role = 'physician'").fetchone() == (5,)
        assert con.execute("select count(*) from audit_log where action = 'upload turnover'").fetchone() == (1,)


def test_every_bad_row_is_counted_and_listed(tmp_path, db):
    rows = [["North", "Medicine", "physician", "2024", 40, 50, "", ""], GOOD[1], ["x", "y", "z", "2024", 1, 2, "", ""]]
    path = write_csv(tmp_path / "hr.csv", HEADER, rows)
    r = ingest_turnover(path, db=db)
    assert r.rows_rejected == 2
    rows_named = {e.split(",")[1].strip() for e in r.errors[1:]}
    assert rows_named == {"row 2", "row 4"}


def test_xlsx_is_read_the_same_way(tmp_path, db):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in GOOD:
        sheet.append(row)
    sheet.append(["North", "Medicine", "resident", "2024", 5, 7, None, None])
    path = tmp_path / "hr.xlsx"
    book.save(path)
    r = ingest_turnover(path, db=db)
    assert r.status == "rejected"
    assert "hr.xlsx, row 5, column leavers: 7 leavers is more than the headcount at start (5)." in r.errors
    sheet.delete_rows(5)
    book.save(path)
    assert ingest_turnover(path, db=db).status == "loaded"
    assert stored(db) == (3, 1)


def test_cli_exit_codes_and_json(tmp_path, db, capsys):
    good = write_csv(tmp_path / "good.csv", HEADER, GOOD)
    bad = write_csv(tmp_path / "bad.csv", HEADER, [["North", "Medicine", "physician", "2024", 4, 5, "", ""]])
    assert main(["ingest-turnover", str(bad), "--db", str(db), "--json"]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["status"] == "rejected"
    assert out.err.startswith("error: bad.csv was rejected, nothing was stored")
    assert not db.exists()
    assert main(["ingest-turnover", str(good), "--db", str(db)]) == 0
    assert "Loaded good.csv" in capsys.readouterr().out
    assert main(["ingest-turnover", str(tmp_path / "missing.csv"), "--db", str(db)]) == 2
    assert stored(db) == (3, 1)


def test_deleting_a_turnover_upload_removes_its_rows_and_nothing_else(tmp_path, db):
    from pipelines.ingest import delete_upload

    r = ingest_turnover(write_csv(tmp_path / "hr.csv", HEADER, GOOD), db=db)
    assert r.status == "loaded", r.errors
    delete_upload(r.upload_id, db=db)
    assert stored(db) == (0, 0)
