"""`risk`: attrition risk, expected departures and cost exposure by unit, as released.

Also the shared steps of the model commands (`drivers` uses them): the default wave, the check
that --wave is there, and releasing a live model table under the warehouse's anonymity settings.
"""

from __future__ import annotations

import argparse
from typing import Any

import duckdb
import pandas as pd

from pipelines import scenarios
from pipelines.cli import common, output
from pipelines.cli.common import command
from pipelines.cli.main import add_db_argument
from pipelines.models import risk
from pipelines.release import build, tables

NOTE = (
    "Predicted ITL % is intent to leave, not people who will leave; expected departures use "
    "P(leave|ITL) and P(leave|no ITL) from Hamidi et al. 2018 (editable settings)."
)
UNIT_COLUMNS = (
    output.Column("wave"),
    output.Column("level"),
    output.Column("site"),
    output.Column("department"),
    output.Column("role"),
    output.Column("n", kind="int"),
)
COLUMNS = (
    *UNIT_COLUMNS,
    output.Column("display", "note"),
    output.Column("predicted_itl_rate", "predicted ITL", kind="pct"),
    output.Column("itl_ci", "95% interval", kind="pct", lo="predicted_itl_rate_lo", hi="predicted_itl_rate_hi"),
    output.Column("headcount", kind="int"),
    output.Column("headcount_source", "headcount from"),
    output.Column("expected_departures", "expected departures", kind="num"),
    output.Column(
        "departures_ci", "95% interval", kind="num", lo="expected_departures_lo", hi="expected_departures_hi"
    ),
    output.Column("cost_exposure", "cost exposure", kind="money"),
)


def add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wave", help="survey wave (default: the latest)")
    p.add_argument("--site", help="only this site")
    p.add_argument("--department", help="only this department")
    p.add_argument("--role", help="only this role")
    p.add_argument("--json", action="store_true", help="JSON for machines")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("risk", help="attrition risk, expected departures and cost exposure by unit")
    add_db_argument(p)
    add_filters(p)
    p.add_argument("--by", choices=tuple(risk.LEVELS), action="append", help="levels (repeatable; default: all)")
    p.add_argument("--diagnostics", action="store_true", help="also print the model's calibration and AUROC")
    p.set_defaults(func=cmd_risk)


def survey_wave(con: duckdb.DuckDBPyConnection, wave: str | None) -> str:
    """--wave checked against the survey waves in the warehouse, or the latest wave."""
    common.known_wave(wave, risk.waves(con), "the survey responses")
    chosen = wave if wave is not None else scenarios.latest_wave(con)
    if chosen is None:
        raise common.InputError("no survey responses in the warehouse yet.")
    return chosen


def released(con: duckdb.DuckDBPyConnection, name: str, wave: str, levels, args: argparse.Namespace) -> pd.DataFrame:
    """The stored release of `name` for one wave, filtered: the CLI never re-releases a table with a
    suppression pattern of its own (issue 11, attack 4), so it shows exactly what the pages show."""
    try:
        return build.stored(
            con, name, wave=wave, levels=levels, site=args.site, department=args.department, role=args.role
        )
    except LookupError as exc:
        raise common.InputError(str(exc)) from None


@command
def cmd_risk(args: argparse.Namespace) -> int:
    with common.reading(args.db) as con:
        wave = survey_wave(con, args.wave)
        units = released(con, tables.UNIT_RISK, wave, args.by, args)
        diagnostics = risk.read_diagnostics(con, wave) if args.diagnostics else None
    if args.json:
        payload: dict[str, Any] = {"units": units}
        if args.diagnostics:
            payload["diagnostics"] = diagnostics
        output.write_json(payload)
        return 0
    output.print_table(units, COLUMNS)
    print("\n" + NOTE)
    if args.diagnostics:
        for d in diagnostics.itertuples():
            auroc, oe, slope = (
                output.cell(v, "num", 2) or "n/a" for v in (d.auroc, d.observed_expected, d.calibration_slope)
            )
            print(
                f"\nModel, wave {d.wave}: AUROC {auroc}, observed/expected {oe}, calibration slope {slope}. {d.verdict}"
            )
    return 0
