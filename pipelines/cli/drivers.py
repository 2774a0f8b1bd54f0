"""`drivers`: what drives intent to leave, by unit (general dominance), as released."""

from __future__ import annotations

import argparse

from pipelines.cli import common, output
from pipelines.cli.common import command
from pipelines.cli.main import add_db_argument
from pipelines.cli.risk import UNIT_COLUMNS, add_filters, released, survey_wave
from pipelines.models import drivers, risk
from pipelines.release import tables

NOTE = (
    "Importance = share of McFadden pseudo-R^2 (general dominance); sign +1 = worse conditions, "
    "more intent to leave. Associations, not proof of cause."
)
COLUMNS = (
    *UNIT_COLUMNS,
    output.Column("weights_source", "weights"),
    output.Column("driver_label", "driver"),
    output.Column("importance", kind="num", decimals=4),
    output.Column("importance_ci", "95% interval", kind="num", decimals=4, lo="importance_lo", hi="importance_hi"),
    output.Column("share", kind="pct"),
    output.Column("sign", kind="signed", decimals=0),
    output.Column("rank", kind="int"),
    output.Column("unfavourable", kind="pct"),
    output.Column("act_here", "act here", kind="bool"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("drivers", help="what drives intent to leave, by unit (general dominance)")
    add_db_argument(p)
    add_filters(p)
    p.add_argument(
        "--by", choices=tuple(risk.LEVELS), action="append", help="levels (repeatable; default: organisation)"
    )
    p.set_defaults(func=cmd_drivers)


@command
def cmd_drivers(args: argparse.Namespace) -> int:
    levels = args.by or ["organisation"]
    with common.reading(args.db) as con:
        wave = survey_wave(con, args.wave)
        out = released(con, tables.DRIVER_IMPORTANCE, wave, None, args)
    long = drivers.to_long(out)
    long = long[long["level"].isin(levels)]
    if args.json:
        output.write_json(long)
        return 0
    output.print_table(long, COLUMNS)
    print("\n" + NOTE)
    return 0
