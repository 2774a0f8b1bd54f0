"""Every table-printing command on a real warehouse: aligned columns, no <NA>/nan/None, no
scientific notation, numbers that match the warehouse, and --json keys as documented."""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from tests.cli.conftest import run

# "None published." is the lever library's own text for an effect nobody has published
BAD_TOKENS = re.compile(r"<NA>|\bnan\b|\bNaN\b|\bNone\b(?! published)|\bNaT\b|\d[eE][+-]\d")


def _strict_json(text: str):
    def refuse(token: str):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def tables(text: str) -> list[list[str]]:
    """Each table in `text` as its lines (header, rule, rows), found by its rule of dashes."""
    lines = text.split("\n")
    found = []
    for i, line in enumerate(lines):
        if i and line and set(line) <= {"-", " "} and line.startswith("-"):
            end = i + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            found.append(lines[i - 1 : end])
    return found


def spans(rule: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"-+", rule)]


def assert_aligned(table: list[str]) -> None:
    """Every line keeps to the columns the rule marks: blanks in the gaps, nothing past the end."""
    rule = table[1]
    cols = spans(rule)
    assert len(cols) >= 2
    for line in [table[0], *table[2:]]:
        assert len(line) <= len(rule), line
        for (_, end), (start, _) in zip(cols, cols[1:]):
            gap = line[end:start]
            assert gap.strip() == "", f"text in the gap between columns: {line!r}"


def column(table: list[str], header: str) -> list[str]:
    """The cells of one column (by its header text), stripped."""
    for start, end in spans(table[1]):
        if table[0][start:end].strip() == header:
            return [line[start:end].strip() for line in table[2:]]
    raise AssertionError(f"no column {header!r} in {table[0]!r}")


def right_aligned(table: list[str], header: str) -> bool:
    for start, end in spans(table[1]):
        if table[0][start:end].strip() == header:
            cells = [line[start:end] for line in table[2:] if line[start:end].strip()]
            return bool(cells) and all(not c.endswith(" ") for c in cells)
    raise AssertionError(header)


def assert_clean(text: str) -> None:
    bad = BAD_TOKENS.findall(text)
    assert not bad, f"{bad[:5]} in:\n{text[:2000]}"


# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_db(tmp_path_factory, sample_db):
    """A copy of the sample with two saved scenarios (one with a site scope)."""
    import shutil

    path = tmp_path_factory.mktemp("scenarios") / "warehouse.duckdb"
    shutil.copy(sample_db, path)
    one = run("scenario", "save", "both", "--lever", "dropped_call", "--lever", "schedule_flexibility",
              "--resamples", "20", "--db", path)  # fmt: skip
    assert one.code == 0, one.err
    two = run("scenario", "save", "north", "--lever", "dropped_call", "--param", "threshold=6", "--site",
              "North Campus", "--resamples", "20", "--by-user", "tester", "--db", path)  # fmt: skip
    assert two.code == 0, two.err
    return path


def test_metrics_table_matches_the_released_table(sample_db) -> None:
    result = run("metrics", "--db", sample_db, "--by", "site", "--metric", "itl", "--wave", "2026")
    assert result.code == 0 and result.err == ""
    assert_clean(result.out)
    [table] = tables(result.out)
    assert_aligned(table)
    with duckdb.connect(str(sample_db), read_only=True) as con:
        truth = con.execute(
            "select site, n, answered, display from rel_metrics where wave = '2026' and level = 'site' "
            "and metric = 'itl' order by site"
        ).fetchall()
    assert column(table, "site") == [r[0] for r in truth]
    assert column(table, "n") == [f"{r[1]:,}" if r[1] is not None else "" for r in truth]
    assert column(table, "value") == [r[3] or "" for r in truth]
    assert any("," in c for c in column(table, "n"))  # a site of 1,000+ respondents
    for header in ("n", "value", "answered", "change"):
        assert right_aligned(table, header), header


def test_risk_table(sample_db) -> None:
    result = run("risk", "--db", sample_db, "--by", "site", "--by", "role")
    assert result.code == 0, result.err
    assert_clean(result.out)
    [table] = tables(result.out)
    assert_aligned(table)
    js = run("risk", "--db", sample_db, "--by", "site", "--by", "role", "--json", "--diagnostics")
    data = _strict_json(js.out)
    assert set(data) == {"units", "diagnostics"}
    units = data["units"]
    assert len(units) == len(table) - 2
    # cost exposure: whole dollars with separators; predicted ITL as a percentage
    assert column(table, "cost exposure") == [
        "" if u["cost_exposure"] is None else f"${round(u['cost_exposure']):,}" for u in units
    ]
    assert column(table, "predicted ITL") == [
        "" if u["predicted_itl_rate"] is None else f"{100 * u['predicted_itl_rate']:.1f}%" for u in units
    ]
    assert any(u["cost_exposure"] and u["cost_exposure"] >= 1e7 for u in units)  # would be 1.68e+07 in pandas
    assert {"level", "site", "role", "n", "predicted_itl_rate", "expected_departures", "cost_exposure"} <= set(units[0])
    assert right_aligned(table, "cost exposure") and right_aligned(table, "n")


def test_drivers_table(sample_db) -> None:
    result = run("drivers", "--db", sample_db)
    assert result.code == 0, result.err
    assert_clean(result.out)
    [table] = tables(result.out)
    assert_aligned(table)
    records = _strict_json(run("drivers", "--db", sample_db, "--json").out)
    assert {"driver_label", "importance", "share", "rank", "act_here"} <= set(records[0])
    assert column(table, "share") == [f"{100 * r['share']:.1f}%" if r["share"] is not None else "" for r in records]


def test_scenario_run_levers_list_show_compare(sample_db, saved_db) -> None:
    ran = run("scenario", "run", "--lever", "dropped_call", "--lever", "ehr_support", "--resamples", "20",
              "--db", sample_db)  # fmt: skip
    assert ran.code == 0, ran.err
    levers = run("scenario", "levers")
    listed = run("scenario", "list", "--db", saved_db)
    shown = run("scenario", "show", "north", "--db", saved_db)
    compared = run("scenario", "compare", "both", "north", "--db", saved_db)
    for result in (ran, levers, listed, shown, compared):
        assert result.code == 0, result.err
        assert_clean(result.out)
        found = tables(result.out)
        assert found, result.out
        for table in found:
            assert_aligned(table)
    assert sorted(column(tables(listed.out)[0], "name")) == ["both", "north"]
    assert "tester" in column(tables(listed.out)[0], "saved by")
    net = column(tables(compared.out)[1], "both")
    assert any(c.startswith(("$", "-$")) for c in net)
    # JSON keeps its keys
    saved = _strict_json(run("scenario", "list", "--db", saved_db, "--json").out)
    assert set(saved[0]) == {"name", "levers", "scope", "created_by", "created_at"}
    one = _strict_json(run("scenario", "show", "north", "--db", saved_db, "--json").out)
    assert set(one) == {"name", "levers", "scope", "results", "created_by", "created_at"}
    assert one["scope"]["site"] == "North Campus"
    rows = _strict_json(run("scenario", "run", "--lever", "dropped_call", "--resamples", "20", "--db", sample_db,
                            "--json").out)  # fmt: skip
    assert {"lever", "departures_avoided", "departures_avoided_lo", "roi"} <= set(rows[0])


def test_uploads_list_and_audit_log(sample_db) -> None:
    uploads = run("uploads", "list", "--db", sample_db)
    audit = run("audit-log", "--db", sample_db)
    for result in (uploads, audit):
        assert result.code == 0, result.err
        assert_clean(result.out)
        [table] = tables(result.out)
        assert_aligned(table)
    table = tables(uploads.out)[0]
    assert column(table, "loaded") == ["3,000", "3,000", "3,000", "168"]
    assert column(table, "wave")[-1] == ""  # the roster has no wave: an empty cell, not None or '-'
    rows = _strict_json(run("uploads", "list", "--db", sample_db, "--json").out)
    assert {"upload_id", "kind", "wave", "rows_loaded", "rows_rejected", "uploaded_at", "file_name"} <= set(rows[0])
    entries = _strict_json(run("audit-log", "--db", sample_db, "--json", "--action", "upload").out)
    assert entries and {e["action"] for e in entries} == {"upload"}


def test_risk_and_drivers_show_the_stored_release_not_a_re_release(sample_db) -> None:
    """Issue 11, attack 4: `drivers --by LEVEL` and `risk` used to re-run the model and re-suppress
    with a pattern of their own. They now print the stored release's rows, cell for cell."""
    import json

    import duckdb

    from pipelines.cli.main import main

    with duckdb.connect(str(sample_db), read_only=True) as con:
        wave = con.execute("select max(wave) from rel_unit_risk").fetchall()[0][0]
        stored_risk = con.execute(
            "select site, department, role, n from rel_unit_risk where wave = ? and level = 'department' "
            "order by site, department",
            [wave],
        ).fetchall()
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["risk", "--db", str(sample_db), "--by", "department", "--json"]) == 0
    units = json.loads(buf.getvalue())["units"]
    got = sorted((u["site"], u["department"], u["role"], u["n"]) for u in units)
    assert got == sorted(stored_risk)
