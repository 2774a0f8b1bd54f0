"""The models in the build and on the command line: attrition risk, drivers, intentions, scenarios.

Build: `model_tables(con)` returns {table_name: (unit-level DataFrame, kind)} WITHOUT suppression;
`produce_models(con, ctx)` is the ready-made producer for pipelines.release.build.PRODUCERS that passes each
table through `privacy.release` (with the right `rates`). Model diagnostics (not unit-level) are
stored in `model_diagnostics`.

CLI (register with `register(subparsers)`): `risk`, `drivers`, `scenario list|run|save|show|compare|
delete`. Unit tables are printed only after `privacy.release`, so the CLI shows exactly what the
dashboard may show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from pipelines import scenarios
from pipelines.models import assumptions, drivers, intentions, risk
from pipelines.models import cache as model_cache
from pipelines.release import privacy
from pipelines.release.tables import Released

# Release kind and rate columns of every model table (see privacy.release).
TABLE_KINDS: dict[str, str] = {
    "rel_unit_risk": "model",
    "rel_driver_importance": "model",
    "rel_leave_paths": "intentions",
    "rel_leave_reasons": "intentions",
}
RELEASE_RATES: dict[str, tuple[str, ...]] = {
    "rel_unit_risk": (),
    "rel_driver_importance": drivers.UNFAVOURABLE_RATES,
    "rel_leave_paths": intentions.PATH_RATES,
    "rel_leave_reasons": intentions.REASON_RATES,
}


@dataclass
class ModelBuild:
    tables: dict[str, tuple[pd.DataFrame, str]]
    diagnostics: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)  # "risk 2024", "drivers 2025": reused, not recomputed


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)[list(columns)]


def build_models(
    con: duckdb.DuckDBPyConnection,
    values: dict[str, Any] | None = None,
    *,
    resamples: int = risk.RESAMPLES,
    refits: int = risk.REFITS,
    store: list[Any] | None = None,
) -> ModelBuild:
    """Every model table for every wave (drivers: all levels for the latest wave, the organisation
    for earlier waves, to keep the build fast), plus the diagnostics. Nothing is suppressed here.

    Each wave's risk and driver results come from `pipelines.models.cache` when nothing they depend on
    changed since they were computed; `store` (the build's after_write list) receives the writes of
    what was computed afresh, so they are saved in the build's transaction. Without `store` the cache
    is read but not written."""
    values = values or assumptions.values(con)
    seconds: dict[str, float] = {}
    wave_list = risk.waves(con)
    latest = scenarios.latest_wave(con)
    hits: list[str] = []
    t = time.perf_counter()
    units, diags = [], []
    fitted: dict = {}  # each wave's model, for the next wave's temporal validation (fitted once)
    for i, w in enumerate(wave_list):

        def compute_risk(w: str = w) -> dict[str, pd.DataFrame]:
            # diagnostics include last wave's model scored on this wave, before this wave is refitted
            result = risk.compute_risk(
                con, wave=w, values=values, resamples=resamples, refits=refits, fitted=fitted
            )  # fmt: skip
            return {"units": result.units, "diagnostics": result.diagnostics}

        previous = model_cache.wave_state(con, wave_list[i - 1] if i else None)
        frames, hit = model_cache.cached(
            con, w, "risk", values, compute_risk, store, resamples=resamples, refits=refits, previous=previous
        )  # fmt: skip
        units.append(frames["units"])
        diags.append(frames["diagnostics"])
        hits += [f"risk {w}"] if hit else []
    risk_units = _concat(units, risk.RISK_COLUMNS)
    diagnostics = _concat(diags, risk.DIAGNOSTIC_COLUMNS)
    seconds["risk"] = time.perf_counter() - t
    t = time.perf_counter()
    frames_by_wave = []
    for w in wave_list:
        levels = tuple(risk.LEVELS) if w == latest else ("organisation",)

        def compute_drivers(w: str = w, levels: tuple[str, ...] = levels) -> dict[str, pd.DataFrame]:
            return {"units": drivers.compute_drivers(con, wave=w, levels=levels, values=values)}

        used = {key: values[key] for key in drivers.VALUE_KEYS}
        frames, hit = model_cache.cached(
            con, w, "drivers", used, compute_drivers, store, rosters=False, levels=list(levels)
        )  # fmt: skip
        frames_by_wave.append(frames["units"])
        hits += [f"drivers {w}"] if hit else []
    driver_table = _concat(frames_by_wave, drivers.DRIVER_COLUMNS)
    seconds["drivers"] = time.perf_counter() - t
    if store is not None:
        store.append(model_cache.pruner(wave_list))
    t = time.perf_counter()
    paths = intentions.leave_paths(con)
    reasons = intentions.leave_reasons(con)
    seconds["intentions"] = time.perf_counter() - t
    tables = {
        "rel_unit_risk": (risk_units, TABLE_KINDS["rel_unit_risk"]),
        "rel_driver_importance": (driver_table, TABLE_KINDS["rel_driver_importance"]),
        "rel_leave_paths": (paths, TABLE_KINDS["rel_leave_paths"]),
        "rel_leave_reasons": (reasons, TABLE_KINDS["rel_leave_reasons"]),
    }
    for name, (frame, _) in tables.items():
        frame.attrs["rates"] = RELEASE_RATES[name]
    return ModelBuild(tables, diagnostics, seconds, cached=hits)


def model_tables(
    con: duckdb.DuckDBPyConnection,
    settings: dict[str, Any] | None = None,
    *,
    store_diagnostics: bool = True,
) -> dict[str, tuple[pd.DataFrame, str]]:
    """{table_name: (unit-level DataFrame, kind)} for the build, NOT yet suppressed. Pass each through
    `privacy.release(frame, kind=kind, k=..., rates=RELEASE_RATES[name])` (or use `produce_models`).
    `settings`: setting values (e.g. settings.get_all(con)); defaults to those stored in `con`.
    Stores the diagnostics in `model_diagnostics` unless `store_diagnostics` is False."""
    values = assumptions.values(con)
    if settings:
        values.update({k: v for k, v in settings.items() if k in values})
    built = build_models(con, values)
    if store_diagnostics:
        risk.store_diagnostics(con, built.diagnostics)
    return built.tables


def release_table(name: str, frame: pd.DataFrame, kind: str, k: int, intentions_k: int = 10) -> pd.DataFrame:
    """privacy.release with the table's rate columns."""
    return privacy.release(frame, kind=kind, k=k, intentions_k=intentions_k, rates=RELEASE_RATES.get(name, ()))


def produce_models(con: duckdb.DuckDBPyConnection, ctx: Any) -> list[Any]:
    """Producer for pipelines.release.build.PRODUCERS: the released model tables."""
    out = []
    if not con.execute("select count(*) from responses").fetchall()[0][0]:
        return out  # nothing to model yet; the pages say so
    built = build_models(con, assumptions.values(con), store=ctx.after_write)
    diagnostics = built.diagnostics
    ctx.after_write.append(lambda write_con: risk.store_diagnostics(write_con, diagnostics))
    # the turnover check (produce_turnover, after this producer) forecasts from these risk units; its
    # model cache lookup cannot find them yet (the cache is written with the build's tables)
    ctx.shared["risk_units"] = built.tables["rel_unit_risk"][0]
    for name, (frame, kind) in built.tables.items():
        out.append(Released(name, release_table(name, frame, kind, ctx.k, ctx.intentions_k), kind=kind))
    return out
