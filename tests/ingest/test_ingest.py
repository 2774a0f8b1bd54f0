"""Ingest: every format, encoding and dialect; validation; all-or-nothing loading; uploads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipelines import contract
from pipelines.ingest import delete_upload, ingest, ingest_headcount, list_uploads
from pipelines.store import warehouse
from tests.conftest import MAPPINGS, ROOT, write_csv

HEADER = ["site", "department", "role", "burnout_level", "intent_to_leave", "clinical_fte", "feel_valued"]


def good_rows(n: int, site: str = "North Campus") -> list[list[object]]:
    roles = ["physician", "nurse", "app", "resident", "other_clinical"]
    return [[site, f"Dept {i % 3}", roles[i % 5], 1 + i % 5, 1 + (i * 7) % 5, 0.8, 1 + (i * 3) % 5] for i in range(n)]


def rows_of(db: Path, sql: str, params=()):
    with warehouse.connect(db, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def counts(db: Path) -> tuple[int, int]:
    if not db.exists():
        return (0, 0)
    return rows_of(db, "select (select count(*) from responses), (select count(*) from uploads)")[0]


# ---------------------------------------------------------------------------------------------
# Canonical CSV and value conversion
# ---------------------------------------------------------------------------------------------
def test_canonical_labels_codes_and_bands(tmp_path, db):
    header = [
        "site", "department", "role", "burnout_level", "stress", "ehr_frustration", "intent_to_leave",
        "clinical_fte", "call_nights_per_month", "ehr_after_hours_per_week", "tenure_band", "age_band",
        "gender", "intent_to_reduce_fte", "leave_path", "leave_reasons",
    ]  # fmt: skip
    rows = [
        ["North Campus", "Surgery", "MD", "3", "Strongly agree", "Strongly agree", "Likely", "80%", "6", "5,5",
         "7", "35-44", "Female", "yes", "Reduce my clinical hours", "burnout;Call or schedule"],
        ["north campus ", "Surgery", "RN", "I feel completely burned out", "2", "1", "none", "0.6", "0", "1",
         "<2", "67", "M", "No", "stay", ""],
        ["North Campus", "Surgery", "Nurse Practitioner", "Prefer not to answer", "N/A", "", "moderate", "100",
         "", "", ">20", "65+", "nonbinary", "", "", "EHR and administrative burden|compensation"],
    ]  # fmt: skip
    f = write_csv(tmp_path / "wave.csv", header, rows)
    r = ingest(f, wave="2025", db=db)
    assert r.status == "loaded", r.errors
    assert (r.rows_read, r.rows_loaded, r.rows_rejected) == (3, 3, 0)
    got = rows_of(
        db,
        "select site, role, burnout_level, stress, ehr_frustration, intent_to_leave, clinical_fte, "
        "call_nights_per_month, ehr_after_hours_per_week, tenure_band, age_band, gender, intent_to_reduce_fte, "
        "leave_path, leave_reasons from responses order by role",
    )
    assert got == [
        ("North Campus", "app", None, None, None, 3, 1.0, None, None, ">20", "65+", "nonbinary", None, None,
         ["compensation", "ehr_admin"]),
        ("North Campus", "nurse", 5, 2, 1, 1, 0.6, 0, 1.0, "<2", "65+", "man", False, "stay", None),
        ("North Campus", "physician", 3, 5, 1, 4, 0.8, 6, 5.5, "6-10", "35-44", "woman", True, "reduce_hours",
         ["burnout", "call_schedule"]),
    ]  # fmt: skip
    assert r.warnings == []


def test_invalid_values_become_missing_with_warnings_naming_row_column_value(tmp_path, db):
    rows = good_rows(40)
    rows[4][3] = "7"  # burnout 7: out of range
    rows[9][5] = "1.7"  # FTE 1.7 -> read as 1.7 %? no: >1 and <=100 is a percentage -> 0.017 is valid
    rows[12][5] = "250"  # FTE 250: invalid
    rows[20][4] = "perhaps"
    f = write_csv(tmp_path / "w.csv", HEADER, rows)
    r = ingest(f, wave="2025", db=db)
    assert r.status == "loaded"
    assert r.rows_loaded == 40
    assert any("Row 6, column 'burnout_level': '7' is not an answer on the 1–5 scale" in w for w in r.warnings)
    assert any("Row 14, column 'clinical_fte': '250'" in w for w in r.warnings)
    assert any("Row 22, column 'intent_to_leave': 'perhaps'" in w for w in r.warnings)
    stored = rows_of(db, "select count(*) from responses where burnout_level is null")[0][0]
    assert stored == 1


def test_rejected_rows_listed_and_threshold_rejects_whole_file(tmp_path, db):
    # One bad row in 40 (2.5%) loads; the report names it.
    rows = good_rows(40)
    rows[2][2] = "Janitor"
    f = write_csv(tmp_path / "ok.csv", HEADER, rows)
    r = ingest(f, wave="2025", db=db, rejected_out=tmp_path / "rejected.csv")
    assert r.status == "loaded" and r.rows_rejected == 1 and r.rows_loaded == 39
    assert r.errors == [
        "Row 4: role 'Janitor' in column 'role' is not a recognised role "
        "(physician, APP, nurse, resident, other clinical); the row was rejected."
    ]
    rejected = (tmp_path / "rejected.csv").read_text().splitlines()
    assert rejected[0].startswith("row,reason,site,department,role")
    assert rejected[1].startswith("4,role is empty or not valid,North Campus,Dept 2,Janitor")
    # Four bad rows in 40 (10%) reject the file: nothing stored.
    before = counts(db)
    rows = good_rows(40, site="East")
    for i in (1, 2, 3, 4):
        rows[i][0] = ""
    f2 = write_csv(tmp_path / "bad.csv", HEADER, rows)
    r2 = ingest(f2, wave="2026", db=db)
    assert r2.status == "rejected" and r2.rows_loaded == 0 and r2.rows_rejected == 4
    assert "4 of 40 rows (10.0%) were rejected, more than the 5% allowed; nothing was loaded" in r2.errors[0]
    assert "Row 3: site is empty (column 'site'); the row was rejected." in r2.errors
    assert counts(db) == before


def test_missing_required_column_rejected_with_advice(tmp_path, db):
    f = write_csv(tmp_path / "w.csv", ["site", "department", "burnout_level"], [["A", "B", 3]])
    r = ingest(f, wave="2025", db=db)
    assert r.status == "rejected"
    assert "no column could be matched to role" in r.errors[0]
    assert counts(db) == (0, 0)


def test_wave_from_column_and_conflicts(tmp_path, db):
    f = write_csv(tmp_path / "w.csv", ["Wave", *HEADER], [["2024-spring", *r] for r in good_rows(10)])
    r = ingest(f, db=db)
    assert r.status == "loaded" and r.wave == "2024-spring"
    g = write_csv(tmp_path / "g.csv", ["wave", *HEADER], [[str(2020 + i % 2), *r] for i, r in enumerate(good_rows(10))])
    r2 = ingest(g, db=db)
    assert r2.status == "rejected" and "several waves" in r2.errors[0]
    h = write_csv(tmp_path / "h.csv", HEADER, good_rows(3))
    r3 = ingest(h, db=db)
    assert r3.status == "rejected" and "say which wave" in r3.errors[0]


# ---------------------------------------------------------------------------------------------
# Encodings and dialects
# ---------------------------------------------------------------------------------------------
SITE_ACCENTED = "Hôpital Saint-Éloi – Nord"


@pytest.mark.parametrize(
    "encoding,delimiter,lineterminator",
    [
        ("utf-8", ",", "\n"),
        ("utf-8-sig", ",", "\r\n"),
        ("utf-16", "\t", "\r\n"),
        ("cp1252", ";", "\r\n"),
        ("utf-8", "\t", "\n"),
        ("utf-8", ";", "\n"),
    ],
)
def test_encodings_and_delimiters(tmp_path, db, encoding, delimiter, lineterminator):
    rows = good_rows(20, site=SITE_ACCENTED)
    for r in rows:
        r[5] = "0,8" if delimiter != "," else "0.8"  # decimal commas where the delimiter allows
    f = write_csv(
        tmp_path / "w.csv", HEADER, rows, encoding=encoding, delimiter=delimiter, lineterminator=lineterminator
    )
    r = ingest(f, wave="2025", db=db)
    assert r.status == "loaded", r.errors
    assert r.rows_loaded == 20
    assert rows_of(db, "select distinct site, clinical_fte from responses") == [(SITE_ACCENTED, 0.8)]


def test_blank_lines_trailing_empty_columns_quoted_decimal_commas(tmp_path, db):
    text = (
        "site,department,role,ehr_after_hours_per_week,burnout_level,\r\n"
        "\r\n"
        'North,ICU,nurse,"7,5",2,\r\n'
        ",,,,,\r\n"
        "\r\n"
        'North,ICU,"Registered Nurse","10,25",3,\r\n'
    )
    f = tmp_path / "w.csv"
    f.write_bytes(text.encode("utf-8"))
    r = ingest(f, wave="2025", db=db)
    assert r.status == "loaded", r.errors
    assert r.rows_read == 2
    assert rows_of(db, "select ehr_after_hours_per_week from responses order by 1") == [(7.5,), (10.25,)]
    assert r.dropped_detail == [
        {"column": "(column 6, no header)", "category": "empty", "reason": "column with no header"}
    ]


def test_excel_workbook(tmp_path, db):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER + ["Email"])
    for row in good_rows(12):
        ws.append(row + ["someone@example.org"])
    path = tmp_path / "survey.xlsx"
    wb.save(path)
    r = ingest(path, wave="2025", db=db)
    assert r.status == "loaded", r.errors
    assert r.detected_format == "xlsx"
    assert r.rows_loaded == 12
    assert r.dropped_columns == ["Email"]
    cols = [c[0] for c in rows_of(db, "describe responses")]
    assert "Email" not in cols and "email" not in cols


# ---------------------------------------------------------------------------------------------
# Real files from ../shared/data/formats
# ---------------------------------------------------------------------------------------------
def test_qualtrics_three_header_rows(shared_formats, db):
    r = ingest(shared_formats / "qualtrics_sample.csv", wave="2025", db=db, mapping=MAPPINGS / "qualtrics_sample.json")
    assert r.status == "loaded", r.errors
    assert r.detected_format == "qualtrics"
    assert r.rows_read == 1  # the German question-text row and the ImportId row are headers, not answers
    for col in ("IPAddress", "LocationLatitude", "LocationLongitude", "RecipientLastName", "RecipientFirstName",
                "RecipientEmail", "ExternalReference", "ResponseId", "StartDate", "RecordedDate", "UserLanguage",
                "DistributionChannel", "Duration (in seconds)", "Q2", "Q2 - Topics"):  # fmt: skip
        assert col in r.dropped_columns, col
    reasons = {d["column"]: d["category"] for d in r.dropped_detail}
    assert reasons["IPAddress"] == "identifier" and reasons["Q2"] == "free_text"
    got = rows_of(db, "select site, role, burnout_level from responses")
    assert got == [("Demo Site", "physician", 2)]
    stored = json.dumps(rows_of(db, "select * from responses"), default=str)
    for leaked in ("130.92.34.66", "R_2YPOQ602ER1jkf1", "Hello World", "47.115", "Anfangsdatum"):
        assert leaked not in stored


def test_qualtrics_without_mapping_still_drops_identifiers(shared_formats, db):
    r = ingest(shared_formats / "qualtrics_sample.csv", wave="2025", db=db)
    assert r.status == "rejected"  # this demo survey has no site/department/role
    assert {"IPAddress", "LocationLatitude", "RecipientEmail"} <= set(r.dropped_columns)
    assert counts(db) == (0, 0)


def test_qualtrics_legacy_bom_two_rows_trailing_comma(shared_formats, db):
    path = shared_formats / "qualtrics_sample_legacy.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    r = ingest(path, wave="2025", db=db, mapping=MAPPINGS / "qualtrics_sample_legacy.json")
    assert r.status == "loaded", r.errors
    assert r.detected_format == "qualtrics" and r.rows_read == 1
    for col in ("ResponseID", "Name", "EmailAddress", "IPAddress", "ExternalDataReference", "LocationLatitude"):
        assert col in r.dropped_columns
    assert {
        "column": "(column 16, no header)",
        "category": "empty",
        "reason": "column with no header",
    } in r.dropped_detail
    assert rows_of(db, "select role, stress from responses") == [("nurse", 2)]


def test_redcap_dictionary_identifiers_and_not_completed(shared_formats, db):
    r = ingest(
        shared_formats / "redcap_survey_data.csv",
        wave="2025",
        db=db,
        mapping=MAPPINGS / "redcap_survey.json",
        dictionary=shared_formats / "redcap_survey_dictionary.csv",
    )
    assert r.status == "loaded", r.errors
    assert r.detected_format == "redcap"
    reasons = {d["column"]: d["reason"] for d in r.dropped_detail}
    for col in ("first_name", "last_name", "address", "telephone_1", "email"):
        assert reasons[col] == "marked as an identifier in the REDCap dictionary"
    assert "dob" in reasons and "study_comments" in reasons
    # "[not completed]" is a missing answer, not a bad value: no warning about it.
    assert not any("not completed" in w for w in r.warnings)
    assert rows_of(db, "select intent_to_reduce_fte from responses") == [(None,), (None,)]
    stored = json.dumps(rows_of(db, "select * from responses"), default=str)
    assert "aaa@bbb.com" not in stored and "2018-03-06" not in stored


def test_redcap_decimal_commas(shared_formats, db):
    r = ingest(
        shared_formats / "redcap_decimal_comma_data.csv",
        wave="2025",
        db=db,
        mapping=MAPPINGS / "redcap_decimal_comma.json",
    )
    assert r.status == "loaded", r.errors
    assert "name" in r.dropped_columns and "record_id" in r.dropped_columns
    got = rows_of(db, "select ehr_after_hours_per_week, inbox_messages_per_day from responses order by 1")
    assert got == [(1.54, 52.3), (1.61, 45.9), (1.84, 92.3), (1.95, 123.4)]


def test_redcap_problematic_values_are_reported_not_crashing(shared_formats, db, tmp_path):
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({
        "columns": {"time_1": "call_nights_per_month", "integer_before_validation": "burnout_level"},
        "constants": {"site": "S", "department": "D", "role": "nurse"},
    }))  # fmt: skip
    r = ingest(shared_formats / "redcap_problematic_values_data.csv", wave="2025", db=db, mapping=mapping)
    assert r.status == "loaded"
    assert any("'55:02'" in w and "call_nights_per_month" in w for w in r.warnings)
    assert any("'before validation 1'" in w for w in r.warnings)
    assert rows_of(db, "select call_nights_per_month, burnout_level from responses") == [(None, None), (None, None)]


def test_redcap_checkbox_reasons_with_dictionary_labels(tmp_path, db):
    dictionary = tmp_path / "dict.csv"
    write_csv(
        dictionary,
        ["Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
         "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
         "Text Validation Min", "Text Validation Max", "Identifier?"],
        [["record_id", "f", "", "text", "ID", "", "", "", "", "", ""],
         ["clinician_type", "f", "", "radio", "Role", "1, Physician | 2, Registered nurse", "", "", "", "", ""],
         ["leave_reasons", "f", "", "checkbox", "Why", "1, Burnout | 2, EHR and administrative burden | 3, Compensation", "", "", "", "", ""],
         ["staff_code", "f", "", "text", "Staff code", "", "", "", "", "", "y"]],
    )  # fmt: skip
    data = write_csv(
        tmp_path / "data.csv",
        ["record_id", "site", "department", "clinician_type", "leave_reasons___1", "leave_reasons___2",
         "leave_reasons___3", "staff_code", "form_complete"],
        [[1, "A", "B", 1, 1, 0, 1, "X1", 2], [2, "A", "B", 2, 0, 0, 0, "X2", 2], [3, "A", "B", 2, 0, 1, 0, "X3", 2]],
    )  # fmt: skip
    r = ingest(data, wave="2025", db=db, dictionary=dictionary)
    assert r.status == "loaded", r.errors
    assert "staff_code" in r.dropped_columns and "record_id" in r.dropped_columns
    assert rows_of(db, "select role, leave_reasons from responses order by leave_reasons") == [
        ("physician", ["burnout", "compensation"]),
        ("nurse", ["ehr_admin"]),
        ("nurse", None),
    ]


def test_mapping_file_value_maps_reverse_and_checkboxes(tmp_path, db):
    f = write_csv(
        tmp_path / "custom.csv",
        ["Hospital", "Unit", "Job", "How burned out (0-4)", "EHR not frustrating", "Why: call", "Why: pay", "Name"],
        [
            ["Main", "ER", "Doc", "0", "5", "Selected", "", "Ann"],
            ["Main", "ER", "Nurse", "4", "1", "", "Selected", "Bob"],
        ],
    )
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({
        "columns": {"Hospital": "site", "Unit": "department", "Job": "role", "How burned out (0-4)": "burnout_level",
                    "EHR not frustrating": "ehr_frustration", "Why: call": "leave_reasons:call_schedule",
                    "Why: pay": "leave_reasons:compensation"},
        "values": {"burnout_level": {"0": 1, "1": 2, "2": 3, "3": 4, "4": 5}, "role": {"Doc": "physician"}},
        "reverse": ["ehr_frustration"],
    }))  # fmt: skip
    r = ingest(f, wave="2025", db=db, mapping=mapping)
    assert r.status == "loaded", r.errors
    assert r.dropped_columns == ["Name"]
    assert rows_of(db, "select role, burnout_level, ehr_frustration, leave_reasons from responses order by role") == [
        ("nurse", 5, 5, ["compensation"]),
        ("physician", 1, 1, ["call_schedule"]),
    ]


def test_bad_mapping_file_is_a_clear_error(tmp_path, db):
    f = write_csv(tmp_path / "w.csv", HEADER, good_rows(3))
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"columns": {"site": "hospital_name"}}))
    r = ingest(f, wave="2025", db=db, mapping=m)
    assert r.status == "rejected"
    assert "'hospital_name', which is not a contract field" in r.errors[0]
    m.write_text("{not json")
    assert "not valid JSON" in ingest(f, wave="2025", db=db, mapping=m).errors[0]


# ---------------------------------------------------------------------------------------------
# All or nothing, duplicates, waves, deletes
# ---------------------------------------------------------------------------------------------
def test_duplicate_file_refused_naming_the_earlier_upload(tmp_path, db):
    f = write_csv(tmp_path / "w.csv", HEADER, good_rows(10))
    first = ingest(f, wave="2025", db=db)
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(f.read_bytes())
    again = ingest(copy, wave="2025", db=db)
    assert again.status == "rejected"
    assert f"already loaded as upload {first.upload_id} (w.csv, wave 2025" in again.errors[0]
    assert counts(db) == (10, 1)


def test_waves_add_then_replace(tmp_path, db):
    a = ingest(write_csv(tmp_path / "a.csv", HEADER, good_rows(10, "A")), wave="2025", db=db)
    b = ingest(write_csv(tmp_path / "b.csv", HEADER, good_rows(7, "B")), wave="2025", db=db)
    assert a.status == b.status == "loaded"
    assert rows_of(db, "select site, count(*) from responses group by 1 order by 1") == [("A", 10), ("B", 7)]
    c = ingest(write_csv(tmp_path / "c.csv", HEADER, good_rows(5, "C")), wave="2025", db=db, replace=True)
    assert c.status == "loaded"
    assert sorted(c.replaced_uploads) == sorted([a.upload_id, b.upload_id])
    assert rows_of(db, "select site, count(*) from responses group by 1") == [("C", 5)]
    assert [u["upload_id"] for u in list_uploads(db)] == [c.upload_id]
    assert rows_of(db, "select action from audit_log order by logged_at") == [
        ("upload",),
        ("upload",),
        ("replace wave",),
    ]


def test_delete_upload(tmp_path, db):
    a = ingest(write_csv(tmp_path / "a.csv", HEADER, good_rows(10, "A")), wave="2025", db=db)
    b = ingest(write_csv(tmp_path / "b.csv", HEADER, good_rows(7, "B")), wave="2026", db=db)
    info = delete_upload(a.upload_id, db, actor="officer@example.org")
    assert info["rows_removed"] == 10
    assert rows_of(db, "select distinct upload_id from responses") == [(b.upload_id,)]
    with pytest.raises(KeyError):
        delete_upload("u-nope", db)


def test_headcount_roster(tmp_path, db):
    f = write_csv(tmp_path / "roster.csv", ["Site", "Department", "Role", "Headcount", "replacement_cost"],
                  [["A", "ICU", "RN", 40, 61110], ["A", "ICU", "MD", 12, ""]])  # fmt: skip
    r = ingest_headcount(f, db=db)
    assert r.status == "loaded", r.errors
    assert rows_of(db, "select wave, site, role, headcount, replacement_cost from headcount order by role") == [
        (None, "A", "nurse", 40, 61110.0),
        (None, "A", "physician", 12, None),
    ]
    bad = write_csv(tmp_path / "bad.csv", ["site", "department", "role", "headcount"],
                    [["A", "ICU", "nurse", "forty"], ["A", "ICU", "Janitor", 3]])  # fmt: skip
    r2 = ingest_headcount(bad, db=db)
    assert r2.status == "rejected"
    assert "Row 2: headcount 'forty' is not a whole number of people." in r2.errors
    assert "Row 3: role 'Janitor' is not a recognised role." in r2.errors
    assert rows_of(db, "select count(*) from headcount") == [(2,)]


def test_killed_ingest_leaves_warehouse_as_it_was(tmp_path, db):
    ingest(write_csv(tmp_path / "a.csv", HEADER, good_rows(10, "A")), wave="2025", db=db)
    before = rows_of(db, "select count(*), (select count(*) from uploads) from responses")
    big = write_csv(tmp_path / "big.csv", HEADER, good_rows(5000, "B"))
    env = dict(os.environ, CLINRET_TEST_PAUSE_BEFORE_COMMIT="30", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "ingest", str(big), "--wave", "2026", "--db", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "PAUSED-IN-TRANSACTION" in line or proc.poll() is not None:
            break
    assert "PAUSED-IN-TRANSACTION" in line, proc.stderr.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert rows_of(db, "select count(*), (select count(*) from uploads) from responses") == before
    # The warehouse is still writable afterwards.
    r = ingest(big, wave="2026", db=db)
    assert r.status == "loaded" and r.rows_loaded == 5000


def test_cli_json_and_exit_codes(tmp_path, db):
    f = write_csv(tmp_path / "w.csv", HEADER, good_rows(10))
    cmd = [sys.executable, "-m", "pipelines", "ingest", str(f), "--wave", "2025", "--db", str(db), "--json"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ok = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert set(out) >= {"status", "upload_id", "wave", "rows_read", "rows_loaded", "rows_rejected",
                        "dropped_columns", "warnings", "errors"}  # fmt: skip
    assert out["status"] == "loaded" and out["rows_loaded"] == 10
    dup = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert dup.returncode == 2 and json.loads(dup.stdout)["status"] == "rejected"
    listed = subprocess.run([sys.executable, "-m", "pipelines", "uploads", "list", "--db", str(db), "--json"],
                            cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    assert json.loads(listed.stdout)[0]["upload_id"] == out["upload_id"]


def test_identifier_patterns_cover_the_contract_list():
    for col in ("First Name", "last_name", "Email Address", "Phone", "Home address", "IP Address", "Latitude",
                "RecipientEmail", "ExternalReference", "Employee ID", "Badge number", "NPI", "MRN",
                "Date of birth", "StartDate", "EndDate", "RecordedDate", "Duration (in seconds)",
                "UserLanguage", "DistributionChannel", "ResponseId"):  # fmt: skip
        assert contract.classify_dropped(col)[0] == "identifier", col
    assert contract.classify_dropped("Comments")[0] == "free_text"


def test_warehouse_is_not_locked_while_a_file_is_parsed(tmp_path, db):
    """Readers are only locked out for the final insert; parsing happens in memory."""
    ingest(write_csv(tmp_path / "a.csv", HEADER, good_rows(10, "A")), wave="2025", db=db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("select count(*) from responses").fetchone()[0] == 10
    finally:
        con.close()
