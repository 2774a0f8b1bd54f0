"""`risk`, `drivers` and `scenario ...`: the models' released tables on the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import duckdb
import pandas as pd

from pipelines import scenarios
from pipelines.cli.main import add_db_argument
from pipelines.models import drivers, risk
from pipelines.models.build import TABLE_KINDS, release_table
from pipelines.store import settings as settings_store
from pipelines.store import warehouse


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
