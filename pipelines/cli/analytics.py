"""CLI subcommands for the analytics: `build`, `metrics` and `audit-privacy`.

`metrics` reads only the released table (rel_metrics), so it prints exactly what the dashboard
and the exports show. Register with `register(subparsers)` (pipelines/cli/main.py COMMAND_MODULES).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import pandas as pd

from pipelines.cli.main import add_db_argument
from pipelines.metrics import released as metrics
from pipelines.release import build as build_module
from pipelines.release import privacy
from pipelines.store import warehouse

BY_CHOICES = tuple(k for k in metrics.BY_LEVEL if k)
TABLE_COLUMNS = ("wave", "site", "department", "role", "n", "metric", "display", "ci", "answered", "change")


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

    p = subparsers.add_parser("audit-privacy", help="check every released table for recoverable suppressed cells")
    add_db_argument(p)
    p.set_defaults(func=cmd_audit)


def cmd_build(args: argparse.Namespace) -> int:
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


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _row_text(row: pd.Series) -> dict[str, str]:
    rate = row["stat"] == "rate"
    ci = ""
    if pd.notna(row["lo"]) and pd.notna(row["hi"]):
        ci = f"{_pct(row['lo'])}–{_pct(row['hi'])}"
    change = ""
    if pd.notna(row["change"]):
        change = f"{100 * row['change']:+.1f} pts" if rate else f"{row['change']:+.1f}"
        if row["exceeds_noise"] is True:
            change += " *"
    text = {c: "" if pd.isna(row[c]) else str(row[c]) for c in ("wave", "site", "department", "role")}
    text.update(
        n="" if pd.isna(row["n"]) else str(int(row["n"])),
        metric=row["metric"],
        display=row["display"] or "",
        ci=ci,
        answered="" if pd.isna(row["answered"]) else str(int(row["answered"])),
        change=change,
    )
    return text


def format_table(frame: pd.DataFrame) -> str:
    """An aligned plain-text table for people; '*' marks a change beyond the noise."""
    if frame.empty:
        return "no released rows match"
    rows = [_row_text(r) for _, r in frame.iterrows()]
    cols = [c for c in TABLE_COLUMNS if any(r[c] for r in rows) or c in ("metric", "display")]
    header = {c: {"display": "value", "ci": "95% interval"}.get(c, c) for c in cols}
    widths = {c: max(len(header[c]), *(len(r[c]) for r in rows)) for c in cols}
    lines = ["  ".join(header[c].ljust(widths[c]) for c in cols)]
    lines.append("  ".join("-" * widths[c] for c in cols))
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols).rstrip() for r in rows]
    lines.append("* change since the previous wave larger than sampling noise (95% interval excludes 0)")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def cmd_metrics(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db, read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_name = 'rel_metrics'"
        ).fetchone()[0]
        if not exists:
            print("No released metrics yet: run `python -m pipelines build` first.", file=sys.stderr)
            return 1
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
        records = [{k: _jsonable(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
        print(json.dumps(records, ensure_ascii=False, indent=1))
    else:
        print(format_table(frame))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    with warehouse.connect(args.db, read_only=True) as con:
        problems = privacy.audit(con)
    if problems:
        print(f"{len(problems)} confidentiality problem(s) found:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("no recoverable suppressed cells: every released table passes the audit")
    return 0
