"""The models in the build and on the command line: attrition risk, drivers, intentions, scenarios.

Build: `model_tables(con)` returns {table_name: (unit-level DataFrame, kind)} WITHOUT suppression;
`produce_models(con, ctx)` is the ready-made producer for pipelines.build.PRODUCERS that passes each
table through `privacy.release` (with the right `rates`). Model diagnostics (not unit-level) are
stored in `model_diagnostics`.

CLI (register with `register(subparsers)`): `risk`, `drivers`, `scenario list|run|save|show|compare|
delete`. Unit tables are printed only after `privacy.release`, so the CLI shows exactly what the
dashboard may show.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from pipelines import assumptions, drivers, intentions, model_cache, privacy, risk, scenarios, warehouse
from pipelines import settings as settings_store
from pipelines.cli import add_db_argument

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

    Each wave's risk and driver results come from `pipelines.model_cache` when nothing they depend on
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
    for w in wave_list:

        def compute_risk(w: str = w) -> dict[str, pd.DataFrame]:
            result = risk.compute_risk(con, wave=w, values=values, resamples=resamples, refits=refits)
            return {"units": result.units, "diagnostics": result.diagnostics}

        frames, hit = model_cache.cached(
            con, w, "risk", values, compute_risk, store, resamples=resamples, refits=refits
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
    """Producer for pipelines.build.PRODUCERS: the released model tables."""
    from pipelines.build import Released  # local: build imports the producers' modules

    out = []
    if not con.execute("select count(*) from responses").fetchall()[0][0]:
        return out  # nothing to model yet; the pages say so
    built = build_models(con, assumptions.values(con), store=ctx.after_write)
    diagnostics = built.diagnostics
    ctx.after_write.append(lambda write_con: risk.store_diagnostics(write_con, diagnostics))
    for name, (frame, kind) in built.tables.items():
        out.append(Released(name, release_table(name, frame, kind, ctx.k, ctx.intentions_k), kind=kind))
    return out


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wave", help="survey wave (default: the latest)")
    p.add_argument("--site", help="only this site")
    p.add_argument("--department", help="only this department")
    p.add_argument("--role", help="only this role")
    p.add_argument("--json", action="store_true", help="JSON for machines")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("risk", help="attrition risk, expected departures and cost exposure by unit")
    add_db_argument(p)
    _add_filters(p)
    p.add_argument("--by", choices=tuple(risk.LEVELS), action="append", help="levels (repeatable; default: all)")
    p.add_argument("--diagnostics", action="store_true", help="also print the model's calibration and AUROC")
    p.set_defaults(func=cmd_risk)

    p = subparsers.add_parser("drivers", help="what drives intent to leave, by unit (general dominance)")
    add_db_argument(p)
    _add_filters(p)
    p.add_argument(
        "--by", choices=tuple(risk.LEVELS), action="append", help="levels (repeatable; default: organisation)"
    )
    p.set_defaults(func=cmd_drivers)

    p = subparsers.add_parser("scenario", help="retention scenarios: list, run, save, show, compare, delete")
    sub = p.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    q = sub.add_parser("list", help="saved scenarios")
    add_db_argument(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_scenario_list)
    for action, helptext in (("run", "run a scenario and print its results"), ("save", "run and save a scenario")):
        q = sub.add_parser(action, help=helptext)
        add_db_argument(q)
        _add_filters(q)
        if action == "save":
            q.add_argument("name", help="scenario name")
            q.add_argument("--by-user", dest="created_by", help="who saves it")
            q.add_argument("--overwrite", action="store_true")
        q.add_argument(
            "--lever", action="append", required=True, choices=tuple(scenarios.LEVERS), help="lever key (repeatable)"
        )
        q.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="LEVER.KEY=VALUE",
            help="parameter, e.g. dropped_call.threshold=6 (or KEY=VALUE for a single lever)",
        )
        q.add_argument("--resamples", type=int, default=scenarios.RESAMPLES)
        q.set_defaults(func=cmd_scenario_run if action == "run" else cmd_scenario_save)
    q = sub.add_parser("show", help="show a saved scenario")
    add_db_argument(q)
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_scenario_show)
    q = sub.add_parser("compare", help="compare saved scenarios side by side")
    add_db_argument(q)
    q.add_argument("names", nargs="+")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_scenario_compare)
    q = sub.add_parser("delete", help="delete a saved scenario")
    add_db_argument(q)
    q.add_argument("name")
    q.set_defaults(func=cmd_scenario_delete)
    q = sub.add_parser("levers", help="the lever library: eligibility, parameters, evidence")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_scenario_levers)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            elif isinstance(v, pd.Timestamp):
                v = v.isoformat()
            clean[k] = v
        out.append(clean)
    return out


def _print(df: pd.DataFrame, as_json: bool, columns: list[str] | None = None) -> None:
    if as_json:
        print(json.dumps(_records(df), default=str, indent=1))
        return
    if df.empty:
        print("(nothing to show)")
        return
    view = df[[c for c in (columns or list(df.columns)) if c in df.columns]]
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        print(view.to_string(index=False, na_rep=""))


def _k(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    return int(settings_store.get(con, "min_group_size")), int(settings_store.get(con, "intentions_min_group_size"))


def _wave(con: duckdb.DuckDBPyConnection, wave: str | None) -> str | None:
    return wave if wave is not None else scenarios.latest_wave(con)


def _released(
    con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, levels: list[str] | None, args: argparse.Namespace
) -> pd.DataFrame:
    """Release the whole wave table (so complementary suppression sees every sibling), then filter."""
    k, k_int = _k(con)
    out = release_table(name, frame, TABLE_KINDS[name], k, k_int)
    if levels:
        out = out[out["level"].isin(levels)]
    out = risk._filter_units(out, args.site, args.department, args.role)
    return out.reset_index(drop=True)


def cmd_risk(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db, read_only=True) as con:
        wave = _wave(con, args.wave)
        if wave is None:
            print("No survey responses in the warehouse yet.", file=sys.stderr)
            return 2
        result = risk.compute_risk(con, wave=wave)
        out = _released(con, "rel_unit_risk", result.units, args.by, args)
    cols = [
        "wave",
        "level",
        "site",
        "department",
        "role",
        "n",
        "display",
        "predicted_itl_rate",
        "predicted_itl_rate_lo",
        "predicted_itl_rate_hi",
        "headcount",
        "headcount_source",
        "expected_departures",
        "expected_departures_lo",
        "expected_departures_hi",
        "cost_exposure",
    ]
    if args.json:
        payload = {"units": _records(out)}
        if args.diagnostics:
            payload["diagnostics"] = _records(result.diagnostics)
        print(json.dumps(payload, default=str, indent=1))
        return 0
    _print(out, False, cols)
    print(
        "\nPredicted ITL % is intent to leave, not people who will leave; expected departures use "
        "P(leave|ITL) and P(leave|no ITL) from Hamidi et al. 2018 (editable settings)."
    )
    if args.diagnostics:
        for d in result.diagnostics.itertuples():
            print(
                f"\nModel, wave {d.wave}: AUROC {d.auroc:.2f}, observed/expected {d.observed_expected:.2f}, "
                f"calibration slope {d.calibration_slope:.2f}. {d.verdict}"
            )
    return 0


def cmd_drivers(args: argparse.Namespace) -> int:
    levels = args.by or ["organisation"]
    with warehouse.connect(args.db, read_only=True) as con:
        wave = _wave(con, args.wave)
        if wave is None:
            print("No survey responses in the warehouse yet.", file=sys.stderr)
            return 2
        wide = drivers.compute_drivers(con, wave=wave, levels=tuple(dict.fromkeys(["organisation", *levels])))
        out = _released(con, "rel_driver_importance", wide, None, args)
    long = drivers.to_long(out)
    long = long[long["level"].isin(levels)]
    cols = [
        "wave",
        "level",
        "site",
        "department",
        "role",
        "n",
        "weights_source",
        "driver_label",
        "importance",
        "importance_lo",
        "importance_hi",
        "share",
        "sign",
        "rank",
        "unfavourable",
        "act_here",
    ]
    _print(long, args.json, cols)
    if not args.json:
        print(
            "\nImportance = share of McFadden pseudo-R^2 (general dominance); sign +1 = worse conditions, "
            "more intent to leave. Associations, not proof of cause."
        )
    return 0


def _parse_params(levers: list[str], raw: list[str]) -> list[dict[str, Any]]:
    params: dict[str, dict[str, float]] = {lv: {} for lv in levers}
    for item in raw:
        if "=" not in item:
            raise ValueError(f"--param needs KEY=VALUE, got {item!r}.")
        key, value = item.split("=", 1)
        if "." in key:
            lever, key = key.split(".", 1)
        elif len(levers) == 1:
            lever = levers[0]
        else:
            raise ValueError(f"With several levers write LEVER.KEY=VALUE (got {item!r}).")
        if lever not in params:
            raise ValueError(f"--param for {lever!r}, which is not one of the chosen levers.")
        params[lever][key] = float(value)
    return [{"key": lv, "params": params[lv]} for lv in levers]


RESULT_VIEW = [
    "lever",
    "label",
    "n",
    "n_eligible",
    "eligible_headcount",
    "itl_change_pp",
    "itl_change_eligible_pp",
    "departures_avoided",
    "departures_avoided_lo",
    "departures_avoided_hi",
    "cost_avoided",
    "programme_cost",
    "net",
    "roi",
    "roi_lo",
    "roi_hi",
    "notes",
]


def _run(
    con: duckdb.DuckDBPyConnection, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, Any], pd.DataFrame]:
    levers = _parse_params(args.lever, args.param)
    scope = {"wave": _wave(con, args.wave), "site": args.site, "department": args.department, "role": args.role}
    results = scenarios.run_scenario(con, levers, resamples=args.resamples, **scope)
    return levers, scope, results


def _print_results(results: pd.DataFrame, as_json: bool) -> None:
    _print(results, as_json, None if as_json else RESULT_VIEW)
    if not as_json:
        print("\n" + scenarios.CAVEAT)


def cmd_scenario_run(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db, read_only=True) as con:
        _, _, results = _run(con, args)
    _print_results(results, args.json)
    return 0


def cmd_scenario_save(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db) as con:
        levers, scope, results = _run(con, args)
        scenarios.save_scenario(
            con, args.name, levers, scope, results, created_by=args.created_by, overwrite=args.overwrite
        )
    _print_results(results, args.json)
    if not args.json:
        print(f"\nSaved as {args.name!r}.")
    return 0


def cmd_scenario_list(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db, read_only=True) as con:
        _print(scenarios.list_scenarios(con), args.json)
    return 0


def cmd_scenario_show(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db, read_only=True) as con:
        sc = scenarios.load_scenario(con, args.name)
    if args.json:
        print(
            json.dumps(
                {**{k: v for k, v in sc.items() if k != "results"}, "results": _records(sc["results"])},
                default=str,
                indent=1,
            )
        )
        return 0
    print(f"{sc['name']}  (saved by {sc['created_by'] or 'unknown'} at {sc['created_at']})")
    print("levers: " + json.dumps(sc["levers"]))
    print("scope:  " + json.dumps(sc["scope"]))
    _print_results(sc["results"], False)
    return 0


def cmd_scenario_compare(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db, read_only=True) as con:
        _print(scenarios.compare_scenarios(con, args.names), args.json)
    return 0


def cmd_scenario_delete(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db) as con:
        deleted = scenarios.delete_scenario(con, args.name)
    print(f"Deleted {args.name!r}." if deleted else f"No saved scenario called {args.name!r}.")
    return 0 if deleted else 2


def cmd_scenario_levers(args: argparse.Namespace) -> int:
    _print(scenarios.lever_library(), args.json, ["key", "label", "kind", "eligibility", "published_effect"])
    return 0
