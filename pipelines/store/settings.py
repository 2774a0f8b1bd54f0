"""Editable settings stored in the warehouse (table `settings`), with defaults and their sources.

Each setting has a default, a plain-words description and, where it comes from the literature, a
source. Admins change them on the Settings page or with the CLI; every change is audited there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    description: str
    source: str = ""
    minimum: float | None = None
    maximum: float | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "min_group_size",
        5,
        "Minimum number of respondents for any released cell (anonymity threshold).",
        "Industry practice: Qualtrics EX, Culture Amp and Viva Glint default to 5.",
        minimum=3,
        maximum=50,
    ),
    Setting(
        "intentions_min_group_size",
        10,
        "Minimum respondents for breakdowns of leave paths and reasons (and any comments).",
        "Viva Glint uses 10 for comments; METHODS.md.",
        minimum=10,
        maximum=100,
    ),
    Setting(
        "max_rejected_share",
        0.05,
        "Share of rows that may be rejected before the whole file is refused.",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "max_upload_mb",
        200,
        "Largest survey file accepted, in megabytes.",
        minimum=1,
        maximum=2000,
    ),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}


def register(setting: Setting) -> None:
    """Let a feature module declare its own settings (cost assumptions, conversion rates…)."""
    SETTINGS_BY_KEY[setting.key] = setting


def get(con: duckdb.DuckDBPyConnection, key: str) -> Any:
    row = con.execute("select value from settings where key = ?", [key]).fetchone()
    if row is None:
        return SETTINGS_BY_KEY[key].default
    return json.loads(row[0])


def get_all(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    stored = {k: json.loads(v) for k, v in con.execute("select key, value from settings").fetchall()}
    return {key: stored.get(key, s.default) for key, s in SETTINGS_BY_KEY.items()}


def validate(key: str, value: Any) -> Any:
    if key not in SETTINGS_BY_KEY:
        raise ValueError(f"Unknown setting {key!r}.")
    s = SETTINGS_BY_KEY[key]
    if isinstance(s.default, (int, float)) and not isinstance(s.default, bool):
        try:
            value = type(s.default)(value) if isinstance(s.default, float) else int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, not {value!r}.") from None
        if s.minimum is not None and value < s.minimum:
            raise ValueError(f"{key} cannot be below {s.minimum}.")
        if s.maximum is not None and value > s.maximum:
            raise ValueError(f"{key} cannot be above {s.maximum}.")
    return value


def put(con: duckdb.DuckDBPyConnection, key: str, value: Any, updated_by: str | None = None) -> Any:
    """Validate and store a setting; the change is written to the audit log with old and new values."""
    from pipelines.store import audit

    value = validate(key, value)
    old = get(con, key)
    con.execute(
        "insert or replace into settings values (?, ?, ?, current_timestamp)",
        [key, json.dumps(value), updated_by],
    )
    audit.record(con, updated_by, "settings change", key, {"from": old, "to": value})
    return value
