"""Synthetic respondent-level data for the analytics tests, loaded into a real in-memory warehouse.

The layout is chosen to exercise the confidentiality rules, not to look realistic:
- department "Emergency" exists at two sites (North and South);
- East/Clinic has 8 respondents in 2024 and 3 in 2025 (drops below the threshold between waves);
- North/Emergency/app has 6 and 7 respondents who are all burned out and none intends to leave
  (homogeneous small cells); North/Surgery/resident has 2 (below any threshold);
- some answers are missing (NULL), which must never count as unfavourable.
Everything is generated from a seed, so tests can assert exact rows.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from pipelines import contract

WAVES = ("2024", "2025")
# (site, department, role) -> respondents per wave
CELLS: dict[tuple[str, str, str], tuple[int, int]] = {
    ("North", "Emergency", "physician"): (14, 15),
    ("North", "Emergency", "nurse"): (22, 20),
    ("North", "Emergency", "app"): (6, 7),
    ("North", "Surgery", "physician"): (12, 11),
    ("North", "Surgery", "nurse"): (16, 18),
    ("North", "Surgery", "app"): (6, 6),
    ("North", "Surgery", "resident"): (2, 2),
    ("South", "Emergency", "physician"): (9, 10),
    ("South", "Emergency", "nurse"): (18, 17),
    ("South", "Pediatrics", "physician"): (8, 8),
    ("South", "Pediatrics", "nurse"): (13, 12),
    ("South", "Pediatrics", "resident"): (4, 5),
    ("East", "Clinic", "physician"): (5, 2),
    ("East", "Clinic", "nurse"): (3, 1),
}
HOMOGENEOUS_CELL = ("North", "Emergency", "app")  # all burned out, nobody intends to leave
SHRINKING_CELL = ("East", "Clinic")  # 8 respondents in 2024, 3 in 2025


def make_responses(seed: int = 20250101) -> pd.DataFrame:
    """One row per respondent per wave with every contract column (missing where realistic)."""
    rng = np.random.default_rng(seed)
    rows = []
    serial = 0
    for wave_index, wave in enumerate(WAVES):
        for (site, department, role), sizes in CELLS.items():
            for _ in range(sizes[wave_index]):
                serial += 1
                row: dict = {
                    "response_key": f"r{serial:05d}",
                    "upload_id": f"upload-{wave}",
                    "wave": wave,
                    "site": site,
                    "department": department,
                    "role": role,
                    "specialty": None,
                    "tenure_band": contract.TENURE_BANDS[rng.integers(0, 5)],
                    "age_band": contract.AGE_BANDS[rng.integers(0, 5)],
                    "gender": contract.GENDERS[rng.integers(0, 4)],
                    "clinical_fte": float(rng.choice([0.5, 0.6, 0.8, 1.0])),
                    "call_nights_per_month": int(rng.integers(0, 9)),
                    "ehr_after_hours_per_week": float(rng.integers(0, 16)),
                    "inbox_messages_per_day": float(rng.integers(5, 60)) if role != "nurse" else None,
                    "intent_to_leave": int(rng.integers(1, 6)),
                    "intent_to_reduce_fte": bool(rng.random() < 0.3),
                    "leave_path": None,
                    "leave_reasons": None,
                }
                for item in contract.ITEMS:
                    row[item.name] = int(rng.integers(1, 6))
                if (site, department, role) == HOMOGENEOUS_CELL:
                    row["burnout_level"] = 4
                    row["intent_to_leave"] = 1
                if rng.random() < 0.08:  # item non-response
                    row["work_control"] = None
                if rng.random() < 0.05:
                    row["intent_to_leave"] = None
                rows.append(row)
    columns = [name for name, _ in contract.responses_columns()]
    return pd.DataFrame(rows)[columns]


def make_roster() -> pd.DataFrame:
    """A headcount roster for all waves (wave NULL), a little larger than the respondents."""
    rows = [
        {
            "upload_id": "roster-1",
            "wave": None,
            "site": site,
            "department": department,
            "role": role,
            "headcount": max(sizes) * 2,
            "replacement_cost": None,
        }
        for (site, department, role), sizes in CELLS.items()
    ]
    return pd.DataFrame(rows)


def insert_responses(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> None:
    """Insert respondent rows (and their uploads rows) with an explicit column list."""
    columns = [name for name, _ in contract.responses_columns()]
    cols = ", ".join(columns)
    con.register("fixture_responses", frame[columns])
    con.execute(f"insert into responses ({cols}) select {cols} from fixture_responses")
    con.unregister("fixture_responses")
    for upload_id, wave in frame[["upload_id", "wave"]].drop_duplicates().itertuples(index=False):
        n = int((frame["upload_id"] == upload_id).sum())
        con.execute(
            "insert into uploads (upload_id, kind, file_name, sha256, detected_format, wave, "
            "uploaded_by, uploaded_at, rows_read, rows_loaded, rows_rejected) "
            "values (?, 'responses', ?, ?, 'canonical_csv', ?, 'tests', ?, ?, ?, 0)",
            [upload_id, f"{upload_id}.csv", "0" * 64, wave, datetime(2025, 1, 1), n, n],
        )


def insert_roster(con: duckdb.DuckDBPyConnection, roster: pd.DataFrame) -> None:
    cols = "upload_id, wave, site, department, role, headcount, replacement_cost"
    con.register("fixture_roster", roster)
    con.execute(f"insert into headcount ({cols}) select {cols} from fixture_roster")
    con.unregister("fixture_roster")
    con.execute(
        "insert into uploads (upload_id, kind, file_name, sha256, detected_format, wave, "
        "uploaded_by, uploaded_at, rows_read, rows_loaded, rows_rejected) "
        "values ('roster-1', 'headcount', 'roster.csv', ?, 'canonical_csv', NULL, 'tests', ?, ?, ?, 0)",
        ["1" * 64, datetime(2025, 1, 2), len(roster), len(roster)],
    )


def load(con: duckdb.DuckDBPyConnection, *, roster: bool = True, seed: int = 20250101) -> pd.DataFrame:
    """Fill a migrated warehouse with the fixture; returns the respondent frame for cross-checks."""
    frame = make_responses(seed)
    insert_responses(con, frame)
    if roster:
        insert_roster(con, make_roster())
    return frame


def make_large(n: int, *, seed: int = 1, waves: int = 3) -> pd.DataFrame:
    """n random respondents over many units, for timing the build (vectorised, no Python loop)."""
    rng = np.random.default_rng(seed)
    columns = [name for name, _ in contract.responses_columns()]
    frame = pd.DataFrame(
        {
            "response_key": np.char.add("r", np.arange(n).astype(str)),
            "upload_id": "big",
            "wave": np.array([str(2020 + w) for w in range(waves)])[rng.integers(0, waves, n)],
            "site": np.char.add("Site ", rng.integers(0, 12, n).astype(str)),
            "department": np.char.add("Dept ", rng.integers(0, 25, n).astype(str)),
            "role": np.array(contract.ROLES)[rng.integers(0, len(contract.ROLES), n)],
            "clinical_fte": rng.choice([0.5, 0.8, 1.0], n),
            "call_nights_per_month": rng.integers(0, 10, n),
            "ehr_after_hours_per_week": rng.integers(0, 20, n).astype(float),
            "inbox_messages_per_day": rng.integers(0, 80, n).astype(float),
            "intent_to_leave": rng.integers(1, 6, n),
            "intent_to_reduce_fte": rng.random(n) < 0.3,
        }
    )
    for item in contract.ITEMS:
        frame[item.name] = rng.integers(1, 6, n)
    for col in columns:
        if col not in frame.columns:
            frame[col] = None
    return frame[columns]
