"""The released tables: one definition of their names, kinds, rate columns and descriptions.

`rel_*` tables pass through the confidentiality layer (`pipelines.release.privacy`); `ref_*` tables
are public reference figures. The build, the readers (pages, exports, CLI) and the exports'
README sheet and CSV manifest all take names and descriptions from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

TABLE_NAME = re.compile(r"^(rel|ref)_[a-z0-9_]+$")

GROUPS = "rel_groups"
METRICS = "rel_metrics"
UNIT_RISK = "rel_unit_risk"
DRIVER_IMPORTANCE = "rel_driver_importance"
LEAVE_PATHS = "rel_leave_paths"
LEAVE_REASONS = "rel_leave_reasons"
BENCHMARKS = "ref_benchmarks"
TURNOVER_CHECK = "rel_turnover_check"
TURNOVER_CONVERSION = "rel_turnover_conversion"
SAVED_SCENARIOS = "saved_scenarios"  # the export name of the saved scenarios in scope (not a rel_ table)


@dataclass(frozen=True)
class TableSpec:
    name: str
    kind: str  # metrics | model | intentions | public | scenarios
    description: str


CATALOGUE: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            GROUPS,
            "metrics",
            "Respondents, roster headcount and response rate per group (wave x site/department/role).",
        ),
        TableSpec(
            METRICS,
            "metrics",
            "Every survey measure per group: value, 95% interval, n answered, small-unit adjusted "
            "(shrunk) rate, change since the previous wave and whether it exceeds sampling noise.",
        ),
        TableSpec(
            UNIT_RISK,
            "model",
            "Attrition risk per unit: model-estimated intent to leave, expected two-year departures and "
            "replacement-cost exposure, each with a 95% bootstrap interval.",
        ),
        TableSpec(
            DRIVER_IMPORTANCE,
            "model",
            "Drivers of intent to leave per unit: general-dominance importance (share of the "
            "explained pseudo-R²) with 95% bootstrap intervals, direction, and the unit's unfavourable share.",
        ),
        TableSpec(
            LEAVE_PATHS,
            "intentions",
            "What clinicians intend (leave paths) per unit: share and count of those who answered.",
        ),
        TableSpec(
            LEAVE_REASONS,
            "intentions",
            "Stated reasons per unit (several allowed): share and count of those who answered.",
        ),
        TableSpec(
            TURNOVER_CHECK,
            "model",
            "Predicted vs actual leavers per unit and period: expected departures (interval from the conversion "
            "assumptions), 95% prediction interval for realised leavers, actual leavers and leaving rate, "
            "observed/expected with Byar 95% interval, and whether the unit is within forecast.",
        ),
        TableSpec(
            TURNOVER_CONVERSION,
            "model",
            "P(leave | ITL) and P(leave | no ITL) learnt from the organisation's turnover: published prior, "
            "posterior mean and 95% interval, and how far local data moved them.",
        ),
        TableSpec(BENCHMARKS, "public", "Published national figures used for comparison (public; not your data)."),
        TableSpec(
            SAVED_SCENARIOS,
            "scenarios",
            "Saved retention scenarios in scope: one row per option with eligible headcount, change in "
            "intent to leave, departures avoided, cost avoided, programme cost, net return and ROI (95% intervals).",
        ),
    )
}
# Order of sheets / CSV files; any other released table follows in name order.
PREFERRED_ORDER: tuple[str, ...] = (GROUPS, METRICS, UNIT_RISK, DRIVER_IMPORTANCE, LEAVE_PATHS, LEAVE_REASONS)


def is_released_name(name: str) -> bool:
    return bool(TABLE_NAME.match(name))


def describe(name: str) -> str:
    spec = CATALOGUE.get(name)
    return spec.description if spec else "Released table."


@dataclass(frozen=True)
class BuildContext:
    """What every producer needs besides the connection: the confidentiality thresholds.

    Producers compute on a read-only connection; a producer that must also store something that
    is not a released table (model diagnostics) appends a function to `after_write`, which runs
    inside the write transaction with the read-write connection.
    """

    k: int
    intentions_k: int
    after_write: list[Callable[[duckdb.DuckDBPyConnection], None]] = field(default_factory=list)
    joint: list[Any] = field(default_factory=list)  # what the joint protection pass did (joint.Outcome)
    # unsuppressed results one producer hands to a later one in the same build (the models producer
    # leaves "risk_units" for the turnover check, which would otherwise refit the risk model)
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Released:
    """A table ready to store: `rel_*` tables went through privacy.release; `ref_*` are public."""

    name: str
    frame: pd.DataFrame
    kind: str = "metrics"  # metrics | model | intentions | public
