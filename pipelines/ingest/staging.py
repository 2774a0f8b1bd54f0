"""The in-memory staging database: where a file is parsed and checked before the warehouse is touched.

The file is read into an in-memory DuckDB (every cell as text, columns renamed c0..cN so no source
column name ever reaches SQL). Only for the final insert is the warehouse ATTACHed to this same
connection, so the insert reads the staged rows directly and other processes are locked out only
for that one transaction, not for the parsing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipelines.ingest.readers import InputError, SourceFile
from pipelines.store import warehouse

STAGING_MEMORY_LIMIT = os.environ.get("CLINRET_INGEST_MEMORY", "600MB")


def _staging_connection() -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB for parsing and validation; spills to a temp directory beyond its limit."""
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "memory_limit": STAGING_MEMORY_LIMIT,
            "temp_directory": str(Path(tempfile.gettempdir()) / "clinret-spill"),
        }
    )
    con.execute("set enable_progress_bar = false")
    return con


def _stage(con: duckdb.DuckDBPyConnection, source: SourceFile, constants=()) -> int:
    """Table `stage`: the file's data rows as text columns c0..cN plus `_row` (the row in the file,
    header rows counted), blank rows dropped, a mapping file's constants added as columns.
    Returns the row count."""
    names = [f"c{i}" for i in range(len(source.columns) - len(constants))]
    columns_spec = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"

    def run(parallel: bool) -> None:
        con.execute(
            "create or replace table stage as select row_number() over () as _row, * from read_csv(?, "
            f"header = false, columns = {columns_spec}, delim = ?, quote = '\"', escape = '\"', "
            f"null_padding = true, comment = '', auto_detect = false, parallel = {str(parallel).lower()}, "
            "encoding = 'utf-8')",
            [str(source.path), source.delimiter],
        )

    try:
        try:
            run(True)
        except duckdb.Error as exc:
            if "parallel" not in str(exc).lower():
                raise
            run(False)
    except duckdb.Error as exc:
        raise InputError(_csv_error_message(source, exc)) from None
    con.execute("delete from stage where _row <= ?", [source.header_rows])
    not_blank = " or ".join(f"nullif(trim(c{i}), '') is not null" for i in range(len(names))) or "false"
    con.execute(f"delete from stage where not ({not_blank})")
    for pos, _field, value in constants:
        con.execute(f"alter table stage add column c{pos} varchar")
        con.execute(f"update stage set c{pos} = ?", [value])
    return con.execute("select count(*) from stage").fetchone()[0]


def _csv_error_message(source: SourceFile, exc: Exception) -> str:
    text = str(exc)
    line = ""
    for token in text.split():
        if token.rstrip(":").isdigit() and "Line" in text:
            line = token.rstrip(":")
            break
    where = f" near line {line}" if line else ""
    if "Expected Number of Columns" in text or "too many columns" in text.lower() or "columns" in text.lower():
        return (
            f"{source.original_name}: a row{where} has more cells than the header has columns "
            f"({len(source.columns)}). Check for an unquoted delimiter ('{source.delimiter}') inside a value."
        )
    return f"{source.original_name}: the file could not be read as CSV{where}: {text.splitlines()[0]}"


@contextlib.contextmanager
def _attached_warehouse(mem: duckdb.DuckDBPyConnection, db) -> Iterator[None]:
    """The warehouse `db` ATTACHed to the staging connection as `wh` (created and migrated first,
    waiting while another process holds it), detached when the block ends."""
    path = warehouse.resolve_db(db)
    with warehouse.connect(path):  # create and migrate if needed
        pass
    warehouse.retry_while_busy(lambda: mem.execute("attach ? as wh", [str(path)]), path=path)
    try:
        yield
    finally:
        mem.execute("detach wh")
