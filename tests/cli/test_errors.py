"""Every CLI error has one form: `error: <message>` on stderr, exit 2 for rejected input, and
nothing stored: no warehouse file created, no export written, no audit entry."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.store import warehouse
from tests.cli.conftest import run

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def files_under(path: Path) -> set[Path]:
    return set(path.rglob("*"))


def assert_rejected(result, *words: str) -> None:
    assert result.code == 2, (result.code, result.out, result.err)
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("error: "), result.err
    for word in words:
        assert word in last, (word, last)


def audit_count(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select count(*) from audit_log").fetchone()[0]


# ------------------------------------------------------------------------------------------
# A directory where a file is expected
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "what"),
    [
        (["ingest", "{dir}", "--wave", "2025"], "is a directory"),
        (["ingest-headcount", "{dir}"], "is a directory"),
        (["ingest", str(SAMPLE / "wave_2025.csv"), "--wave", "2030", "--mapping", "{dir}"], "mapping file"),
        (["ingest", str(SAMPLE / "wave_2025.csv"), "--wave", "2030", "--dictionary", "{dir}"], "data dictionary"),
    ],
)
def test_a_directory_given_as_an_input_file(tmp_path: Path, argv: list[str], what: str) -> None:
    folder = tmp_path / "a folder"
    folder.mkdir()
    db = tmp_path / "new.duckdb"
    result = run(*[a.replace("{dir}", str(folder)) for a in argv], "--db", db)
    assert_rejected(result, what, str(folder))
    assert not db.exists()
    assert files_under(tmp_path) == {folder}


@pytest.mark.parametrize("fmt", ["pdf", "xlsx", "pptx"])
def test_export_to_a_directory(writable_db: Path, tmp_path: Path, fmt: str) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    before = audit_count(writable_db)
    result = run("export", "--format", fmt, "--out", folder, "--db", writable_db, "--quiet")
    assert_rejected(result, "--out", "is a directory")
    assert list(folder.iterdir()) == []
    assert audit_count(writable_db) == before  # not audited as an export that happened


def test_csv_export_to_a_file(writable_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("keep me", encoding="utf-8")
    result = run("export", "--format", "csv", "--out", target, "--db", writable_db, "--quiet")
    assert_rejected(result, "is a file, not a directory")
    assert target.read_text(encoding="utf-8") == "keep me"


# ------------------------------------------------------------------------------------------
# An unknown wave
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["metrics"],
        ["risk"],
        ["drivers"],
        ["scenario", "run", "--lever", "dropped_call"],
        ["scenario", "save", "x", "--lever", "dropped_call"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_unknown_wave(writable_db: Path, argv: list[str]) -> None:
    result = run(*argv, "--wave", "1999", "--db", writable_db)
    assert_rejected(result, "1999", "2024, 2025, 2026")
    assert result.out == ""
    with duckdb.connect(str(writable_db), read_only=True) as con:
        assert con.execute("select count(*) from scenarios").fetchone()[0] == 0


def test_export_of_an_unknown_wave(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    result = run("export", "--format", "pdf", "--out", out, "--wave", "1999", "--db", sample_db, "--quiet")
    assert_rejected(result, "1999")
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# A bad --param
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "words"),
    [
        (["threshold"], ["KEY=VALUE"]),
        (["threshold=six"], ["'six'", "not a number"]),
        (["nokey=3"], ["nokey"]),
        (["threshold=999"], ["threshold", "between"]),
        (["ehr_support.min_hours=3"], ["ehr_support", "not one of the chosen levers"]),
    ],
)
def test_a_bad_param(sample_db: Path, params: list[str], words: list[str]) -> None:
    argv = ["scenario", "run", "--lever", "dropped_call", "--resamples", "5", "--db", sample_db]
    for p in params:
        argv += ["--param", p]
    result = run(*argv)
    assert_rejected(result, *words)
    assert result.out == ""


def test_a_bad_param_is_not_saved(writable_db: Path) -> None:
    result = run("scenario", "save", "x", "--lever", "dropped_call", "--param", "threshold=x", "--db", writable_db)
    assert_rejected(result, "not a number")
    assert run("scenario", "list", "--db", writable_db).out.strip() == "No saved scenarios."


# ------------------------------------------------------------------------------------------
# A typo in --db for a command that only reads
# ------------------------------------------------------------------------------------------
READERS = [
    ["metrics"],
    ["risk"],
    ["drivers"],
    ["audit-privacy"],
    ["audit-log"],
    ["uploads", "list"],
    ["export", "--format", "csv", "--out", "{tmp}/csv", "--quiet"],
    ["export", "--format", "pdf", "--out", "{tmp}/r.pdf", "--quiet"],
    ["scenario", "list"],
    ["scenario", "show", "x"],
    ["scenario", "compare", "x", "y"],
    ["scenario", "run", "--lever", "dropped_call"],
    ["scenario", "delete", "x"],
    ["uploads", "delete", "u-123"],
]


@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a[:2]))
def test_a_typo_in_db_creates_nothing(tmp_path: Path, argv: list[str]) -> None:
    typo = tmp_path / "warehose.duckdb"
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in argv], "--db", typo)
    assert_rejected(result, str(typo), "does not exist")
    assert files_under(tmp_path) == set()


def test_the_default_warehouse_is_not_created_by_a_reader(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(warehouse.DB_ENV, str(tmp_path / "data" / "warehouse.duckdb"))
    assert_rejected(run("metrics"), "does not exist", warehouse.DB_ENV)
    assert files_under(tmp_path) == set()


def test_a_directory_as_the_warehouse(tmp_path: Path) -> None:
    assert_rejected(run("metrics", "--db", tmp_path), "is a directory")
    assert_rejected(run("ingest", str(SAMPLE / "headcount.csv"), "--wave", "2025", "--db", tmp_path), "is a directory")
    assert files_under(tmp_path) == set()


def test_connect_create_false(tmp_path: Path) -> None:
    missing = tmp_path / "none.duckdb"
    for read_only in (True, False):
        with pytest.raises(warehouse.WarehouseMissing), warehouse.connect(missing, read_only=read_only, create=False):
            pass
    assert not missing.exists()
    with warehouse.connect(missing, read_only=True) as con:  # the app's first run still creates it
        assert warehouse.schema_version(con) == warehouse.SCHEMA_VERSION
    assert missing.exists()


# ------------------------------------------------------------------------------------------
# The same form everywhere else
# ------------------------------------------------------------------------------------------
def test_a_usage_error(sample_db: Path) -> None:
    result = run("metrics", "--by", "nowhere", "--db", sample_db)
    assert_rejected(result, "--by", "nowhere")
    assert result.err.startswith("usage:")


def test_an_unknown_scenario_and_upload(writable_db: Path) -> None:
    assert_rejected(run("scenario", "show", "nope", "--db", writable_db), "nope")
    assert_rejected(run("scenario", "compare", "nope", "--db", writable_db), "nope")
    assert_rejected(run("scenario", "delete", "nope", "--db", writable_db), "nope")
    assert_rejected(run("uploads", "delete", "u-nope", "--db", writable_db), "u-nope")


def test_a_rejected_file_says_error_and_stores_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("site,department\nA,B\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    result = run("ingest", bad, "--wave", "2025", "--db", db)
    assert_rejected(result, "bad.csv", "nothing was stored")
    assert "REJECTED" in result.out


def test_an_internal_error_is_exit_1(sample_db: Path, monkeypatch) -> None:
    from pipelines.release import build

    def broken(*args, **kwargs):
        raise RuntimeError("the release broke")

    monkeypatch.setattr(build, "stored", broken)
    result = run("risk", "--db", sample_db)
    assert result.code == 1
    assert result.err.strip() == "error: the release broke"
