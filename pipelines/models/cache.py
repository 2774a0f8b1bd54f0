"""Per-wave results of the expensive models, kept between builds while nothing they depend on changed.

A build refits the attrition-risk model and reruns the driver dominance analysis for every wave, but a
new upload usually changes one wave: the earlier waves' results are the same numbers computed again
(most of a rebuild's time; benchmarks/NOTES.md). Each cached result carries a fingerprint of
everything it was computed from:

- the wave's responses (their upload ids and row count), and for the risk model those of the previous
  wave too (its model is scored on this wave: temporal validation),
- every headcount roster (their upload ids: a roster can apply to all waves), for the risk model,
- the assumption values the part reads (risk: all of them; drivers: `drivers.VALUE_KEYS`, so
  editing a replacement cost or uploading a roster does not rerun the driver analysis),
- the part's own parameters (levels, resamples, seeds),
- the source code of the modules that compute it (so a change in a model invalidates it by itself).

A result is used only when its fingerprint matches exactly; otherwise it is computed again and
replaces the stored one. What is stored are the model tables *before* confidentiality suppression, so
the table is never read by the dashboard (it reads `rel_*`/`ref_*` only) and the release step runs on
every build as before. Nothing here imports Streamlit.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

TABLE = "model_cache"
# modules whose code decides the cached numbers
SOURCES: tuple[str, ...] = (
    "models/risk.py",
    "models/drivers.py",
    "models/features.py",
    "metrics/stats.py",
    "models/assumptions.py",
    "contract/__init__.py",
    "store/settings.py",
)


@cache
def _code_hash() -> str:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode())
        digest.update((package / name).read_bytes())
    return digest.hexdigest()


def fingerprint(
    con: duckdb.DuckDBPyConnection,
    wave: str,
    part: str,
    values: Mapping[str, Any],
    *,
    rosters: bool = True,
    **params: Any,
) -> str:
    """Everything `part` of `wave` is computed from, hashed: pass only the assumption `values` the
    part reads, and rosters=False when it never reads the headcount."""
    uploads = con.execute(
        "select count(*), string_agg(distinct upload_id, ',' order by upload_id) from responses where wave = ?",
        [wave],
    ).fetchall()[0]
    roster_sql = "select string_agg(distinct upload_id, ',' order by upload_id) from headcount"
    roster_ids = con.execute(roster_sql).fetchall()[0][0] if rosters else None
    payload = {
        "code": _code_hash(),
        "wave": wave,
        "part": part,
        "responses": list(uploads),
        "rosters": roster_ids,
        "values": {k: values[k] for k in sorted(values)},
        "params": {k: params[k] for k in sorted(params)},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def wave_state(con: duckdb.DuckDBPyConnection, wave: str | None) -> list[Any] | None:
    """What a wave's responses are (row count and upload ids), for results that also read another
    wave (the risk model scores the previous wave's model on this wave)."""
    if wave is None:
        return None
    return list(
        con.execute(
            "select count(*), string_agg(distinct upload_id, ',' order by upload_id) from responses where wave = ?",
            [wave],
        ).fetchall()[0]
    )


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("select count(*) from duckdb_tables() where table_name = ?", [TABLE]).fetchall()[0][0])


def get(con: duckdb.DuckDBPyConnection, wave: str, part: str, fp: str) -> dict[str, pd.DataFrame] | None:
    """The stored frames of `part` for `wave` if their fingerprint is `fp`, else None."""
    if not _exists(con):  # a warehouse not yet migrated to v4: nothing cached
        return None
    rows = con.execute(
        f"select name, payload from {TABLE} where wave = ? and part = ? and fingerprint = ?", [wave, part, fp]
    ).fetchall()
    if not rows:
        return None
    return {name: pd.read_parquet(io.BytesIO(payload)) for name, payload in rows}


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def writer(wave: str, part: str, fp: str, frames: Mapping[str, pd.DataFrame]) -> Callable[[Any], None]:
    """A function that stores `frames` on the build's write connection (BuildContext.after_write),
    replacing what was cached for this wave and part."""
    blobs = {name: _parquet(frame) for name, frame in frames.items()}

    def write(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"delete from {TABLE} where wave = ? and part = ?", [wave, part])
        for name, blob in blobs.items():
            con.execute(
                f"insert into {TABLE} (wave, part, name, fingerprint, payload, built_at) "
                "values (?, ?, ?, ?, ?, current_timestamp)",
                [wave, part, name, fp, blob],
            )

    return write


def pruner(waves: list[str]) -> Callable[[Any], None]:
    """A function that drops cached results of waves that no longer exist."""

    def prune(con: duckdb.DuckDBPyConnection) -> None:
        if waves:
            con.execute(f"delete from {TABLE} where wave not in ({', '.join('?' * len(waves))})", waves)
        else:
            con.execute(f"delete from {TABLE}")

    return prune


def cached(
    con: duckdb.DuckDBPyConnection,
    wave: str,
    part: str,
    values: Mapping[str, Any],
    compute: Callable[[], dict[str, pd.DataFrame]],
    store: list[Callable[[Any], None]] | None,
    *,
    rosters: bool = True,
    **params: Any,
) -> tuple[dict[str, pd.DataFrame], bool]:
    """(frames, hit): the stored result when its fingerprint matches, else `compute()`; a computed
    result is queued on `store` (the build's after_write) to be saved with the build. `values` and
    `rosters` as in `fingerprint`."""
    fp = fingerprint(con, wave, part, values, rosters=rosters, **params)
    hit = get(con, wave, part, fp)
    if hit is not None:
        return hit, True
    frames = compute()
    if store is not None:
        store.append(writer(wave, part, fp, frames))
    return frames, False
