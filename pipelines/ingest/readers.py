"""Open a survey file: encoding, dialect, header rows and source format.

The result, a `SourceFile`, tells the ingest how DuckDB should read the data rows (a UTF-8 file,
its delimiter, how many header lines to skip) and what each column is called. Only the first few
lines are parsed in Python; the data rows are read by DuckDB.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_CHUNK = 1 << 20


class InputError(ValueError):
    """A problem with the file itself, phrased for the person who uploaded it."""


@dataclass
class SourceFile:
    path: Path  # the file DuckDB reads (UTF-8; a converted copy when the original was not)
    original_name: str
    sha256: str
    encoding: str
    delimiter: str
    header_rows: int  # CSV records (not lines: quoted cells may span lines) before the data
    columns: list[str]  # one name per column, position order
    question_texts: list[str] = field(default_factory=list)  # Qualtrics row 2, when present
    import_ids: list[str] = field(default_factory=list)  # Qualtrics row 3 ImportId values
    detected_format: str = "canonical"
    container: str = "csv"  # csv | xlsx
    temp_files: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for p in self.temp_files:
            p.unlink(missing_ok=True)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_encoding(path: Path) -> str:
    """utf-8, utf-8-sig, utf-16 (by byte-order mark or NUL pattern) or cp1252 (not valid UTF-8)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    if head and head[1::2].count(0) > len(head) // 4:
        return "utf-16-le"
    if head and head[0::2].count(0) > len(head) // 4:
        return "utf-16-be"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _transcode(path: Path, encoding: str) -> Path:
    """Write a UTF-8 copy (streamed, never the whole file in memory)."""
    fd, name = tempfile.mkstemp(prefix="clinret-", suffix=".csv")
    out = Path(name)
    with (
        open(path, encoding=encoding, errors="replace", newline="") as src,
        open(fd, "w", encoding="utf-8", newline="") as dst,
    ):
        for chunk in iter(lambda: src.read(_CHUNK), ""):
            dst.write(chunk)
    return out


def _first_lines(path: Path, encoding: str, n: int = 20) -> list[str]:
    lines: list[str] = []
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        for line in fh:
            if line.strip():
                lines.append(line)
            if len(lines) >= n:
                break
    return lines


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter (comma, semicolon, tab or pipe) that splits the first lines most consistently."""
    best, best_score = ",", (-1, -1)
    for delim in (",", ";", "\t", "|"):
        counts = [len(row) for row in _parse("".join(lines), delim)]
        counts = [c for c in counts if c > 0]
        if not counts or max(counts) < 2:
            continue
        header_fields = counts[0]
        consistent = sum(1 for c in counts if c == header_fields)
        score = (consistent, header_fields)
        if score > best_score:
            best, best_score = delim, score
    return best


def _parse(text: str, delimiter: str) -> list[list[str]]:
    """Parse the first lines leniently (a broken quote there must not crash the inspection)."""
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        return [line.split(delimiter) for line in text.splitlines()]


def _is_import_id_row(row: list[str]) -> bool:
    cells = [c for c in row if c.strip()]
    return bool(cells) and sum(c.strip().startswith('{"ImportId"') for c in cells) >= len(cells) / 2


def _looks_legacy_qualtrics(row1: list[str], row2: list[str]) -> bool:
    v_cols = sum(bool(re.fullmatch(r"V\d+", c.strip())) for c in row1)
    return v_cols >= 3 and any(c.strip().lower() == "responseid" for c in row2)


def _looks_qualtrics_names(row1: list[str]) -> bool:
    names = {c.strip() for c in row1}
    return bool({"ResponseId", "ResponseID"} & names) or ({"StartDate", "EndDate"} <= names and "Finished" in names)


def _looks_redcap(row1: list[str]) -> bool:
    names = [c.strip() for c in row1]
    return (
        any(n.endswith("_complete") for n in names)
        or any("___" in n for n in names)
        or (bool(names) and names[0] in {"record_id", "participant_id"})
    )


def xlsx_to_csv(path: Path) -> Path:
    """First sheet of an .xlsx workbook as a UTF-8 CSV (every cell as text)."""
    import pandas as pd

    try:
        frame = pd.read_excel(path, sheet_name=0, header=None, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many kinds on a broken workbook
        raise InputError(f"{path.name}: this Excel file could not be opened ({exc}).") from exc
    fd, name = tempfile.mkstemp(prefix="clinret-", suffix=".csv")
    with open(fd, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, header=False, index=False)
    return Path(name)


def open_source(path: str | Path, original_name: str | None = None, fmt: str = "auto") -> SourceFile:
    """Inspect a file and describe how to read it. Raises InputError for unreadable files."""
    path = Path(path)
    name = original_name or path.name
    if not path.exists():
        raise InputError(f"{name}: file not found.")
    if path.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty.")
    digest = sha256_of(path)
    temp: list[Path] = []
    container = "csv"
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if fmt == "xlsx" or magic == b"PK\x03\x04" or name.lower().endswith((".xlsx", ".xlsm")):
        container = "xlsx"
        read_path = xlsx_to_csv(path)
        temp.append(read_path)
        encoding = "utf-8"
    else:
        encoding = detect_encoding(path)
        read_path = path
        if encoding not in ("utf-8", "utf-8-sig"):
            read_path = _transcode(path, encoding)
            temp.append(read_path)
    read_encoding = "utf-8-sig" if encoding == "utf-8-sig" else "utf-8"
    lines = _first_lines(read_path, read_encoding)
    if not lines:
        raise InputError(f"{name}: the file has no header row.")
    delimiter = "," if container == "xlsx" else sniff_delimiter(lines)
    rows = _parse("".join(lines), delimiter)[:3]
    if not rows:
        raise InputError(f"{name}: the file has no header row.")
    row1 = rows[0]
    row2 = rows[1] if len(rows) > 1 else []
    row3 = rows[2] if len(rows) > 2 else []
    header_rows = 1
    question_texts: list[str] = []
    columns = [c.strip() for c in row1]
    detected = "canonical"
    import_ids: list[str] = []
    if row3 and _is_import_id_row(row3):
        detected, header_rows, question_texts = "qualtrics", 3, row2
        for cell in row3:
            try:
                import_ids.append(str(json.loads(cell).get("ImportId", "")))
            except (ValueError, AttributeError):
                import_ids.append("")
    elif row2 and _looks_legacy_qualtrics(row1, row2):
        detected, header_rows = "qualtrics", 2
        question_texts = row2
        columns = [
            (r2.strip() if re.fullmatch(r"V\d+", r1.strip()) and r2.strip() else r1.strip())
            for r1, r2 in zip(row1, row2 + [""] * (len(row1) - len(row2)))
        ]
    elif _looks_qualtrics_names(row1):
        detected = "qualtrics"
    elif _looks_redcap(row1):
        detected = "redcap"
    if container == "xlsx" and detected == "canonical":
        detected = "xlsx"
    if fmt not in ("auto", "xlsx") and fmt != detected:
        detected = fmt
    if header_rows > 1 and not _data_line_exists(read_path, read_encoding, header_rows):
        raise InputError(f"{name}: the file has header rows but no responses.")
    return SourceFile(
        path=read_path,
        original_name=name,
        sha256=digest,
        encoding=encoding,
        delimiter=delimiter,
        header_rows=header_rows,
        columns=columns,
        question_texts=question_texts,
        import_ids=import_ids,
        detected_format=detected,
        container=container,
        temp_files=temp,
    )


def _data_line_exists(path: Path, encoding: str, header_rows: int) -> bool:
    return len(_first_lines(path, encoding, header_rows + 1)) > header_rows
