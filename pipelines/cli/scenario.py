"""`scenario list|run|save|show|compare|delete|levers`: retention scenarios on the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any

import duckdb
import pandas as pd

from pipelines import scenarios
from pipelines.cli import common, output
from pipelines.cli.common import InputError, command
from pipelines.cli.main import add_db_argument
from pipelines.cli.risk import add_filters, survey_wave
from pipelines.store import warehouse

RESULT_COLUMNS = (
    output.Column("lever"),
    output.Column("label"),
    output.Column("n", kind="int"),
    output.Column("n_eligible", "eligible", kind="int"),
    output.Column("eligible_headcount", "eligible headcount", kind="int"),
    output.Column("itl_change_pp", "ITL change", kind="pp"),
    output.Column("itl_change_eligible_pp", "ITL change, eligible", kind="pp"),
    output.Column("departures_avoided", "departures avoided", kind="num"),
    output.Column("departures_ci", "95% interval", kind="num", lo="departures_avoided_lo", hi="departures_avoided_hi"),
    output.Column("cost_avoided", "cost avoided", kind="money"),
    output.Column("programme_cost", "programme cost", kind="money"),
    output.Column("net", "net saving", kind="money"),
    output.Column("roi", "ROI", kind="pct"),
    output.Column("roi_ci", "95% interval", kind="pct", lo="roi_lo", hi="roi_hi"),
    output.Column("break_even_cost_per_person", "break-even $/person/yr", kind="money"),
    output.Column("e_value", "E-value", kind="num"),
    output.Column("e_value_ci", "E-value (interval)", kind="num"),
    output.Column("notes", wrap=40),
)
LIST_COLUMNS = (
    output.Column("name"),
    output.Column("levers"),
    output.Column("scope"),
    output.Column("created_by", "saved by"),
    output.Column("created_at", "saved at", kind="datetime"),
)
LEVER_COLUMNS = (
    output.Column("key"),
    output.Column("label"),
    output.Column("kind"),
    output.Column("eligibility", wrap=50),
    output.Column("published_effect", "published effect", wrap=50),
)
# How each compared metric is written (keys of scenarios.RESULT_METRICS).
METRIC_KINDS = {
    "eligible_headcount": ("int", 0),
    "itl_change_pp": ("pp", 1),
    "itl_change_eligible_pp": ("pp", 1),
    "departures_avoided": ("num", 1),
    "cost_avoided": ("money", 0),
    "programme_cost": ("money", 0),
    "net": ("money", 0),
    "roi": ("pct", 1),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("scenario", help="retention scenarios: list, run, save, show, compare, delete")
    sub = p.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    _action(sub, "list", "saved scenarios", cmd_list)
    _add_lever_arguments(_action(sub, "run", "run a scenario and print its results", cmd_run, filters=True))
    q = _action(sub, "save", "run and save a scenario", cmd_save, filters=True)
    q.add_argument("name", help="scenario name")
    q.add_argument("--by-user", dest="created_by", help="who saves it")
    q.add_argument("--overwrite", action="store_true")
    _add_lever_arguments(q)
    _action(sub, "show", "show a saved scenario", cmd_show).add_argument("name")
    _action(sub, "compare", "compare saved scenarios side by side", cmd_compare).add_argument("names", nargs="+")
    _action(sub, "delete", "delete a saved scenario", cmd_delete, json=False).add_argument("name")
    _action(sub, "levers", "the lever library: eligibility, parameters, evidence", cmd_levers, db=False)


def _action(sub, name, helptext, func, *, db=True, json=True, filters=False) -> argparse.ArgumentParser:
    q = sub.add_parser(name, help=helptext)
    if db:
        add_db_argument(q)
    if filters:
        add_filters(q)  # includes --json
    elif json:
        q.add_argument("--json", action="store_true", help="JSON for machines")
    q.set_defaults(func=func)
    return q


def _add_lever_arguments(q: argparse.ArgumentParser) -> None:
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


def parse_params(levers: list[str], raw: list[str]) -> list[dict[str, Any]]:
    """--lever and --param as the engine's [{"key", "params"}]; a malformed --param is rejected."""
    params: dict[str, dict[str, float]] = {lv: {} for lv in levers}
    for item in raw:
        if "=" not in item:
            raise InputError(f"--param needs KEY=VALUE, got {item!r}.")
        key, value = item.split("=", 1)
        if "." in key:
            lever, key = key.split(".", 1)
        elif len(levers) == 1:
            lever = levers[0]
        else:
            raise InputError(f"with several levers write --param LEVER.KEY=VALUE (got {item!r}).")
        if lever not in params:
            raise InputError(f"--param for {lever!r}, which is not one of the chosen levers.")
        try:
            params[lever][key] = float(value)
        except ValueError:
            raise InputError(f"--param {item!r}: {value!r} is not a number.") from None
    return [{"key": lv, "params": params[lv]} for lv in levers]


def _run(con: duckdb.DuckDBPyConnection, args: argparse.Namespace) -> tuple[list, dict[str, Any], pd.DataFrame]:
    levers = parse_params(args.lever, args.param)
    scope = {"wave": survey_wave(con, args.wave), "site": args.site, "department": args.department, "role": args.role}
    try:
        results = scenarios.run_scenario(con, levers, resamples=args.resamples, **scope)
    except ValueError as exc:  # the engine's refusals: a parameter out of range, a scope too small
        raise InputError(str(exc)) from exc
    return levers, scope, results


def _print_results(results: pd.DataFrame) -> None:
    output.print_table(results, RESULT_COLUMNS)
    print("\n" + scenarios.CAVEAT)


@command
def cmd_run(args: argparse.Namespace) -> int:
    with common.reading(args.db) as con:
        _, _, results = _run(con, args)
    if args.json:
        output.write_json(results)
    else:
        _print_results(results)
    return 0


@command
def cmd_save(args: argparse.Namespace) -> int:
    common.existing_warehouse(args.db)
    with warehouse.connect(args.db, create=False) as con:
        levers, scope, results = _run(con, args)
        try:
            scenarios.save_scenario(
                con, args.name, levers, scope, results, created_by=args.created_by, overwrite=args.overwrite
            )
        except ValueError as exc:  # no name, or the name is taken
            raise InputError(str(exc)) from exc
    if args.json:
        output.write_json(results)
        return 0
    _print_results(results)
    print(f"\nSaved as {args.name!r}.")
    return 0


@command
def cmd_list(args: argparse.Namespace) -> int:
    with common.reading(args.db) as con:
        saved = scenarios.list_scenarios(con)
    if args.json:
        output.write_json(saved)
    else:
        output.print_table(saved, LIST_COLUMNS, empty="No saved scenarios.")
    return 0


def _load(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    try:
        return scenarios.load_scenario(con, name)
    except KeyError as exc:
        raise InputError(exc.args[0] if exc.args else f"No saved scenario called {name!r}.") from None


@command
def cmd_show(args: argparse.Namespace) -> int:
    with common.reading(args.db) as con:
        sc = _load(con, args.name)
    if args.json:
        output.write_json(sc)
        return 0
    saved_at = output.cell(sc["created_at"], "datetime")
    print(f"{sc['name']}  (saved by {sc['created_by'] or 'unknown'} at {saved_at})")
    print("levers: " + json.dumps(sc["levers"]))
    print("scope:  " + json.dumps(sc["scope"]))
    print()
    _print_results(sc["results"])
    return 0


def compare_text(frame: pd.DataFrame, names: list[str]) -> str:
    """The compare frame for people: which levers and scope, then each metric in its own unit."""
    labels = {label: key for key, label in scenarios.RESULT_METRICS}
    header = [
        {"scenario": name, "levers": frame.loc[0, name], "scope": frame.loc[1, name]} for name in dict.fromkeys(names)
    ]
    rows = []
    for rec in frame.iloc[2:].to_dict(orient="records"):
        kind, decimals = METRIC_KINDS.get(labels.get(rec["metric"], ""), ("num", 2))
        rows.append({c: v if c == "metric" else output.cell(v, kind, decimals) for c, v in rec.items()})
    value_columns = [output.Column(c, align="right") for c in frame.columns if c != "metric"]
    return (
        output.table(header, ["scenario", "levers", "scope"])
        + "\n\n"
        + output.table(rows, [output.Column("metric"), *value_columns])
    )


@command
def cmd_compare(args: argparse.Namespace) -> int:
    with common.reading(args.db) as con:
        for name in args.names:
            _load(con, name)  # an unknown name is rejected with its own message
        frame = scenarios.compare_scenarios(con, args.names)
    if args.json:
        output.write_json(frame)
    else:
        print(compare_text(frame, args.names))
    return 0


@command
def cmd_delete(args: argparse.Namespace) -> int:
    common.existing_warehouse(args.db)
    with warehouse.connect(args.db, create=False) as con:
        deleted = scenarios.delete_scenario(con, args.name)
    if not deleted:
        raise InputError(f"no saved scenario called {args.name!r}.")
    print(f"Deleted {args.name!r}.")
    return 0


@command
def cmd_levers(args: argparse.Namespace) -> int:
    library = scenarios.lever_library()
    if args.json:
        output.write_json(library)
    else:
        output.print_table(library, LEVER_COLUMNS)
    return 0
