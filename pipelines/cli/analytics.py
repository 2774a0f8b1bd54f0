"""CLI subcommands for the analytics: `build`, `metrics` and `audit-privacy`.

`metrics` reads only the released table (rel_metrics), so it prints exactly what the dashboard
and the exports show. Register with `register(subparsers)` (pipelines/cli/main.py COMMAND_MODULES).
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from pipelines.cli import common, output
from pipelines.cli.common import command
from pipelines.cli.main import add_db_argument
from pipelines.metrics import released as metrics
from pipelines.release import build as build_module
from pipelines.release import privacy

BY_CHOICES = tuple(k for k in metrics.BY_LEVEL if k)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("build", help="build the released (privacy-protected) tables")
    add_db_argument(p)
    p.set_defaults(func=cmd_build)

    p = subparsers.add_parser("metrics", help="print released unit metrics")
    add_db_argument(p)
    p.add_argument("--wave", help="survey wave (default: the latest)")
    p.add_argument("--by", choices=BY_CHOICES, default="", help="breakdown (default: organisation)")
    p.add_argument("--site", help="only this site")
    p.add_argument("--department", help="only this department")
    p.add_argument("--role", help="only this role")
    p.add_argument("--metric", action="append", help="only these metrics (repeatable)")
    p.add_argument("--json", action="store_true", help="JSON records for machines")
    p.set_defaults(func=cmd_metrics)

    p = subparsers.add_parser(
        "audit-privacy",
        help="check every released table, then attack the stored release: fail on any pinned protected figure",
    )
    add_db_argument(p)
    p.add_argument("--wave", action="append", help="attack only this wave (repeatable; default: every wave)")
    p.add_argument(
        "--time-budget",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="the attacker's time per wave (default 300); figures not examined in time fail the audit as unchecked",
    )
    p.add_argument("--no-attack", action="store_true", help="only the table-by-table checks, no integer program")
    p.set_defaults(func=cmd_audit)


@command
def cmd_build(args: argparse.Namespace) -> int:
    common.writable_warehouse(args.db)
    summary = build_module.build(args.db)
    print(summary)
    return 0


def query_metrics(
    con: Any,
    *,
    wave: str | None = None,
    by: str = "",
    site: str | None = None,
    department: str | None = None,
    role: str | None = None,
    metric_names: list[str] | None = None,
) -> pd.DataFrame:
    """Rows of rel_metrics for one wave and breakdown, filtered; values bound, never spliced."""
    level = metrics.BY_LEVEL[by]
    if wave is None:
        row = con.execute("select max(wave) from rel_metrics").fetchone()
        wave = row[0] if row else None
    sql = "select * from rel_metrics where wave = ? and level = ?"
    params: list[Any] = [wave, level]
    for column, value in (("site", site), ("department", department), ("role", role)):
        if value is not None:
            sql += f" and {column} = ?"  # column from a fixed tuple, value bound
            params.append(value)
    if metric_names:
        sql += " and metric in (select unnest(?))"
        params.append(list(metric_names))
    sql += " order by site nulls first, department nulls first, role nulls first, metric"
    return con.execute(sql, params).df()


def _row_text(row: dict[str, Any]) -> dict[str, str]:
    """A rel_metrics row as the table's cells: rates in %, their change in points, '*' beyond noise."""
    rate = row["stat"] == "rate"
    change = ""
    if not output.is_missing(row["change"]):
        change = output.cell(100 * row["change"], "pp") if rate else output.cell(row["change"], "signed")
        noise = row["exceeds_noise"]
        if not output.is_missing(noise) and bool(noise):
            change += " *"
    return {
        **{c: row[c] for c in ("wave", "site", "department", "role", "n", "metric", "answered")},
        "display": row["display"],
        "lo": row["lo"],
        "hi": row["hi"],
        "change": change,
    }


COLUMNS = (
    output.Column("wave"),
    output.Column("site"),
    output.Column("department"),
    output.Column("role"),
    output.Column("n", kind="int"),
    output.Column("metric"),
    output.Column("display", "value", align="right"),
    output.Column("ci", "95% interval", kind="pct", lo="lo", hi="hi"),
    output.Column("answered", kind="int"),
    output.Column("change", align="right"),
)


def format_table(frame: pd.DataFrame) -> str:
    """An aligned plain-text table for people; '*' marks a change beyond the noise."""
    if frame.empty:
        return "no released rows match"
    rows = [_row_text(r) for r in frame.to_dict(orient="records")]
    text = output.table(rows, COLUMNS)
    return text + "\n\n* change since the previous wave larger than sampling noise (95% interval excludes 0)"


@command
def cmd_metrics(args: argparse.Namespace) -> int:
    with common.reading(args.db) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_name = 'rel_metrics'"
        ).fetchone()[0]
        if not exists:
            return common.fail("no released metrics yet: run `python -m pipelines build` first.", common.EXIT_INTERNAL)
        waves = [r[0] for r in con.execute("select distinct wave from rel_metrics order by 1").fetchall()]
        common.known_wave(args.wave, waves, "the released metrics")
        frame = query_metrics(
            con,
            wave=args.wave,
            by=args.by,
            site=args.site,
            department=args.department,
            role=args.role,
            metric_names=args.metric,
        )
    if args.json:
        output.write_json(frame)
    else:
        print(format_table(frame))
    return 0


@command
def cmd_audit(args: argparse.Namespace) -> int:
    attack = not getattr(args, "no_attack", False)
    with common.reading(args.db) as con:
        problems = privacy.audit(
            con, attack=attack, waves=getattr(args, "wave", None), budget=getattr(args, "time_budget", None)
        )
    if problems:
        print(f"{len(problems)} confidentiality problem(s) found:")
        for problem in problems:
            print(f"  - {problem}")
        print("by category:")
        for category, count in privacy.categories(problems).items():
            print(f"  {category}: {count}")
        return 1
    if attack:
        print("no recoverable suppressed cells and no pinned protected figure: the release passes the audit")
    else:
        print("no recoverable suppressed cells: every released table passes the audit (attacker not run)")
    return 0
