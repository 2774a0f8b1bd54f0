"""Shared fixtures: a fresh warehouse file per test, the shared real-world files, CSV writers."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CLINRET_SHARED", ROOT.parent / "shared"))
FORMATS = SHARED / "data" / "formats"
MAPPINGS = Path(__file__).parent / "mappings"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a warehouse file that does not exist yet (created on first write)."""
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def shared_formats() -> Path:
    if not FORMATS.exists():
        pytest.fail(f"The shared test files are missing: expected {FORMATS} (../shared beside the project).")
    return FORMATS


def write_csv(path: Path, header: list[str], rows: list[list[object]], **kwargs) -> Path:
    encoding = kwargs.pop("encoding", "utf-8")
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, **kwargs)
        writer.writerow(header)
        writer.writerows(rows)
    return path
