"""First run: an empty warehouse loads the bundled synthetic health system by itself.

Used by the app on start-up and by `python -m pipelines load-sample`. The sample goes through the
same ingest as any upload, so it is validated and recorded in the upload history like real data.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.ingest.load import ingest
from pipelines.ingest.roster import ingest_headcount
from pipelines.store import warehouse

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"


def sample_files(sample_dir: Path = SAMPLE_DIR) -> tuple[list[tuple[str, Path]], Path | None]:
    waves = sorted((p.stem.removeprefix("wave_"), p) for p in sample_dir.glob("wave_*.csv"))
    roster = sample_dir / "headcount.csv"
    return waves, (roster if roster.exists() else None)


def needs_sample(db: str | os.PathLike | None = None) -> bool:
    with warehouse.connect(db, read_only=True) as con:
        return con.execute("select count(*) from uploads").fetchone()[0] == 0


def load_sample(db: str | os.PathLike | None = None, *, build: bool = True, actor: str = "first run") -> list[str]:
    """Load every bundled wave and the roster, then build the released tables. Returns messages."""
    waves, roster = sample_files()
    messages = []
    for wave, path in waves:
        result = ingest(path, wave=wave, db=db, uploaded_by=actor)
        if result.status != "loaded":
            raise RuntimeError(f"The bundled sample {path.name} did not load: {result.errors[:3]}")
        messages.append(f"wave {wave}: {result.rows_loaded} responses")
    if roster:
        result = ingest_headcount(roster, db=db, uploaded_by=actor)
        if result.status != "loaded":
            raise RuntimeError(f"The bundled roster did not load: {result.errors[:3]}")
        messages.append(f"headcount roster: {result.rows_loaded} units")
    if build:
        from pipelines.release import build as build_module

        summary = build_module.build(db)
        messages.append(f"built {len(summary.tables)} released tables")
    return messages


def ensure_sample(db: str | os.PathLike | None = None) -> list[str]:
    """Load the sample if and only if nothing was ever uploaded to this warehouse."""
    if needs_sample(db):
        return load_sample(db)
    return []
