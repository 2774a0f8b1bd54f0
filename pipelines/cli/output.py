"""What the command line prints: aligned tables for people, JSON for machines.

Every command that prints a table goes through `table` (or `print_table`), and every `--json`
goes through `write_json`, so the whole CLI looks and parses the same way:

- tables: a header row and a rule, text left-aligned, numbers right-aligned with thousands
  separators, rates as percentages, an empty cell for a missing value (never <NA>, nan or None)
  and never scientific notation; columns with nothing in them are left out.
- JSON: one document on stdout; NaN, NA and NaT become null, numpy scalars plain numbers,
  timestamps ISO 8601 text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Kinds of cell. "auto" picks int, num, bool, datetime or text from a column's values.
KINDS = ("auto", "text", "int", "num", "pct", "pp", "signed", "money", "bool", "datetime")
NUMERIC_KINDS = frozenset({"int", "num", "pct", "pp", "signed", "money"})
INTERVAL_DASH = "–"


@dataclass(frozen=True)
class Column:
    """One column of a table.

    name: key of the value in each row; header: the column's title (default: name); kind: how
    to write the value (see KINDS); decimals: for num/pct/pp/signed; lo, hi: keys of a 95%
    interval, written "lo–hi" in the column's kind instead of the value; align: "left" or "right"
    (default: right for numbers, left for text); wrap: wrap text longer than this many characters
    onto more lines.
    """

    name: str
    header: str | None = None
    kind: str = "auto"
    decimals: int = 1
    lo: str | None = None
    hi: str | None = None
    align: str | None = None
    wrap: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}; choose from {KINDS}")


def is_missing(value: Any) -> bool:
    """None, pd.NA, NaT or a float NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return False


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _number(value: Any, decimals: int, sign: bool = False) -> str:
    value = float(value)
    if math.isinf(value):
        return ("-" if value < 0 else "+" if sign else "") + "∞"
    text = f"{value:{'+' if sign else ''},.{decimals}f}"
    # "-0.0" reads as a change; a value that rounds to zero is zero.
    if float(text.replace(",", "")) == 0:
        text = f"{0.0:{'+' if sign else ''},.{decimals}f}"
    return text


def cell(value: Any, kind: str = "auto", decimals: int = 1) -> str:
    """One value as table text: "" when missing, never scientific notation."""
    if is_missing(value):
        return ""
    value = _plain(value)
    if kind == "auto":
        kind = _kind_of(value)
    if kind == "text":
        if isinstance(value, (dict, list, tuple)):
            return json.dumps(to_jsonable(value), ensure_ascii=False)
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    if kind == "datetime":
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)
    if isinstance(value, str):  # a number column holding text (e.g. a label row)
        return value
    if kind == "int":
        return f"{value:,}" if isinstance(value, int) else _number(round(float(value)), 0)
    if kind == "num":
        return _number(value, decimals)
    if kind == "signed":
        return _number(value, decimals, sign=True)
    if kind == "pct":
        return _number(100 * float(value), decimals) + "%"
    if kind == "pp":
        return _number(value, decimals, sign=True) + " pts"
    if kind == "money":
        text = _number(abs(float(value)), 0)
        return ("-$" if float(value) < 0 and text.strip("0,") else "$") + text
    raise ValueError(kind)


def interval(lo: Any, hi: Any, kind: str = "num", decimals: int = 1) -> str:
    """A 95% interval as "lo–hi", or "lo to hi" when a bound is negative (a dash would read as minus)."""
    if is_missing(lo) or is_missing(hi):
        return ""
    negative = any(isinstance(_plain(v), (int, float)) and _plain(v) < 0 for v in (lo, hi))
    return f"{cell(lo, kind, decimals)}{' to ' if negative else INTERVAL_DASH}{cell(hi, kind, decimals)}"


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "num"
    if isinstance(value, (dt.date, dt.datetime)):
        return "datetime"
    return "text"


def _column_kind(values: Iterable[Any]) -> tuple[str, int]:
    """(kind, decimals) for an "auto" column from its present values."""
    present = [_plain(v) for v in values if not is_missing(v)]
    if not present:
        return "text", 0
    kinds = {_kind_of(v) for v in present}
    if kinds == {"bool"}:
        return "bool", 0
    if kinds <= {"int", "num"}:
        if all(float(v).is_integer() for v in present if not math.isinf(float(v))):
            return "int", 0
        return "num", 2
    if kinds == {"datetime"}:
        return "datetime", 0
    return "text", 0


def _rows(data: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    return list(data)


def table(
    data: pd.DataFrame | Sequence[Mapping[str, Any]],
    columns: Sequence[Column | str] | None = None,
    *,
    empty: str = "(nothing to show)",
    keep_empty_columns: bool = False,
) -> str:
    """An aligned plain-text table of `data` (a DataFrame or a list of dicts).

    `columns` picks and orders the columns (names or Column); a column that is not in the data,
    or (unless keep_empty_columns) has no value in any row, is left out. `empty` is printed when
    there are no rows."""
    rows = _rows(data)
    if not rows:
        return empty
    names = list(data.columns) if isinstance(data, pd.DataFrame) else list(dict.fromkeys(k for r in rows for k in r))
    specs = [c if isinstance(c, Column) else Column(c) for c in (columns or names)]
    specs = [c for c in specs if c.name in names or (c.lo in names and c.hi in names)]
    rendered: list[tuple[Column, list[str], bool]] = []
    for spec in specs:
        kind, decimals = spec.kind, spec.decimals
        if kind == "auto":
            kind, decimals = _column_kind(r.get(spec.name) for r in rows)
        texts = []
        for r in rows:
            if spec.lo and spec.hi:
                lo, hi = r.get(spec.lo), r.get(spec.hi)
                both = not (is_missing(lo) or is_missing(hi))
                texts.append(interval(lo, hi, kind, decimals) if both else "")
            else:
                texts.append(cell(r.get(spec.name), kind, decimals))
        if not keep_empty_columns and not any(texts):
            continue
        right = spec.align == "right" if spec.align else kind in NUMERIC_KINDS
        rendered.append((spec, texts, right))
    if not rendered:
        return empty
    # Cells become lists of lines (long text wraps within its column).
    grid: list[list[list[str]]] = []
    for i in range(len(rows)):
        grid.append(
            [
                textwrap.wrap(texts[i], spec.wrap, break_on_hyphens=False) or [""]
                if spec.wrap and len(texts[i]) > spec.wrap
                else [texts[i]]
                for spec, texts, _ in rendered
            ]
        )
    headers = [spec.header if spec.header is not None else spec.name for spec, _, _ in rendered]
    widths = [max(len(headers[j]), *(len(line) for row in grid for line in row[j])) for j in range(len(rendered))]
    aligns = [right for _, _, right in rendered]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if right else c.ljust(w) for c, w, right in zip(cells, widths, aligns)).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    for row in grid:
        height = max(len(c) for c in row)
        for k in range(height):
            out.append(line([c[k] if k < len(c) else "" for c in row]))
    return "\n".join(out)


def print_table(
    data: pd.DataFrame | Sequence[Mapping[str, Any]],
    columns: Sequence[Column | str] | None = None,
    **kwargs: Any,
) -> None:
    print(table(data, columns, **kwargs))


def to_jsonable(value: Any) -> Any:
    """`value` with every NaN/NA/NaT as None, numpy scalars as Python numbers, timestamps as ISO
    text and DataFrames as lists of records, ready for json.dumps(allow_nan=False)."""
    if isinstance(value, pd.DataFrame):
        return [to_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return to_jsonable(value.to_dict())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return [to_jsonable(v) for v in value]
    if is_missing(value):
        return None
    value = _plain(value)
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return str(value)


def dumps(payload: Any) -> str:
    return json.dumps(to_jsonable(payload), ensure_ascii=False, indent=1, allow_nan=False)


def write_json(payload: Any) -> None:
    """Print `payload` as one JSON document on stdout."""
    print(dumps(payload))
