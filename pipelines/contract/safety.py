"""Formula-injection safety for anything a spreadsheet may open (METHODS.md).

A text cell beginning with `=`, `+`, `-`, `@`, tab or carriage return is written with a leading `'`,
so a spreadsheet shows it as text and never runs it. Numbers stay numbers (a negative number is not
text, so it is not touched). Used by the exports, the rejected-rows file and the dashboard's CSVs.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """Text a spreadsheet will not execute; anything that is not text is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell and column name made inert; numeric columns untouched."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        out[col] = s.astype(object).map(inert)
    out.columns = [inert(str(c)) for c in out.columns]
    return out
