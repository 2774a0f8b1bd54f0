"""Shared fixtures: a fresh warehouse (file or in memory), the bundled sample built once per session,
the shared real-world files, CSV writers."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# One folder of joint-protection patterns for the whole run, inherited by the app servers and CLI runs the
# tests start: each distinct release is searched once, then replayed (pipelines/release/joint.py).
if not os.environ.get("CLINRET_PATTERN_CACHE"):
    import tempfile

    os.environ["CLINRET_PATTERN_CACHE"] = tempfile.mkdtemp(prefix="clinret-patterns-")
SHARED = Path(os.environ.get("CLINRET_SHARED", ROOT.parent / "shared"))
FORMATS = SHARED / "data" / "formats"
MAPPINGS = Path(__file__).parent / "mappings"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a warehouse file that does not exist yet (created on first write)."""
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def memory_warehouse():
    """A fresh, migrated in-memory warehouse connection."""
    from pipelines.store import warehouse

    with warehouse.connect(":memory:") as con:
        yield con


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory) -> Path:
    """The bundled sample (sample_data/), loaded and built once per test session. Treat it as
    read-only; a test that writes takes `sample_copy`."""
    from pipelines.ingest.first_run import load_sample

    path = tmp_path_factory.mktemp("built-sample") / "warehouse.duckdb"
    load_sample(path)
    return path


@pytest.fixture
def sample_copy(built_sample: Path, tmp_path: Path) -> Path:
    """A private copy of the built sample warehouse, free to write."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(built_sample, path)
    return path


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
