"""Released unit metrics: DuckDB SQL over the responses table, then the confidentiality layer.

Layout (chosen so the dashboard and the privacy pass stay simple):
- `rel_metrics`, long: one row per wave × group × metric with
  `wave, site, department, role, level, n, suppressed, metric, stat, answered, value, lo, hi,
  shrunk, change, change_lo, change_hi, exceeds_noise, display`. A heatmap is a filter on
  `metric` plus a pivot; a tile is one row; privacy treats every metric the same way, with its
  own denominator (`answered`). `stat` says what `value` is: "rate" (a proportion in [0, 1] with
  a Wilson interval), "mean", "median" or "p75".
- `rel_groups`, wide and small: one row per wave × group with `n`, `headcount` and
  `response_rate` (where a roster exists).
Dimension columns are NULL where the group is not broken down by them; `level` names the
breakdown (organisation, site, department, role, site_role, department_role). Departments are
always keyed by site + department, since names repeat across sites.

The SQL lives in pipelines/metrics/sql/<table>.sql (inputs as CTEs at the top, a `final` CTE at the end);
the per-item blocks are generated here from pipelines/contract/__init__.py. Shrinkage (burnout and ITL) and
change since the previous wave are derived after suppression from visible cells only.
"""

from __future__ import annotations

from importlib import resources

import duckdb
import numpy as np
import pandas as pd

from pipelines.contract import levels
from pipelines.metrics import stats
from pipelines.metrics.catalogue import (  # noqa: F401  (re-exported: the metrics' one definition)
    CALL_HEAVY_AT,
    METRICS,
    METRICS_BY_NAME,
    SATISFIED_AT,
    SHRUNK_METRICS,
    VALUED_AT,
    Metric,
    metric_catalogue,
)
from pipelines.release import privacy

LEVELS: tuple[str, ...] = levels.LEVEL_NAMES
BY_LEVEL = levels.BY_LEVEL

_AGGREGATE = {
    "rate": "count_if({c})",
    "mean": "avg({c})",
    "median": "quantile_cont({c}, 0.5)",
    "p75": "quantile_cont({c}, 0.75)",
}


# The breakdowns every released table is computed for (`{{ grouping_sets }}` in the SQL).
GROUPING_SETS = levels.GROUPING_SETS


def read_sql(name: str) -> str:
    """The text of pipelines/metrics/sql/<name>.sql, with `{{ grouping_sets }}` filled in."""
    text = resources.files("pipelines.metrics").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
    sets = "grouping sets (\n        " + ",\n        ".join(GROUPING_SETS) + "\n    )"
    return text.replace("{{ grouping_sets }}", sets)


def render_metrics_sql() -> str:
    """rel_metrics.sql with its generated blocks filled in from the contract."""
    # Each distinct expression is scored once per respondent, even if two metrics share it.
    exprs: dict[str, str] = {}
    for m in METRICS:
        exprs.setdefault(m.expr, f"x{len(exprs)}")
    scored = ",\n        ".join(f"{expr} as {col}" for expr, col in exprs.items())
    aggregates = ",\n        ".join(
        f"count({exprs[m.expr]}) as {m.column}__answered, "
        f"{_AGGREGATE[m.stat].format(c=exprs[m.expr])}::double as {m.column}__x"
        for m in METRICS
    )
    structs = ",\n            ".join(
        f"{{'metric': '{m.name}', 'stat': '{m.stat}', 'answered': {m.column}__answered::bigint, 'x': {m.column}__x}}"
        for m in METRICS
    )
    return (
        read_sql("rel_metrics")
        .replace("{{ scored_columns }}", scored)
        .replace("{{ aggregates }}", aggregates)
        .replace("{{ metric_structs }}", structs)
    )


def compute_metrics(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The long metrics table before confidentiality (every group, exact values)."""
    stats.register_sql_macros(con)
    return con.execute(render_metrics_sql()).df()


def compute_groups(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The wide group table (n, headcount, response rate) before confidentiality."""
    return con.execute(read_sql("rel_groups")).df()


# ------------------------------------------------------------------------------------------
# Derived figures, from visible cells only (run inside privacy.release via `derive`)
# ------------------------------------------------------------------------------------------
_GROUP_KEY = ["level", "site", "department", "role", "metric"]
_NA = "\x00"


def add_shrunk(df: pd.DataFrame) -> pd.DataFrame:
    """Shrunk burnout and ITL rates among visible sibling units of the same level and wave."""
    out = df.copy()
    out["shrunk"] = np.nan
    exact = ~out["suppressed"].to_numpy(dtype=bool) & out["value"].notna().to_numpy()
    wanted = exact & out["metric"].isin(SHRUNK_METRICS).to_numpy()
    organisation = (out["level"] == "organisation").to_numpy()
    sub = out[wanted & ~organisation]
    for _, rows in sub.groupby(["wave", "level", "metric"], sort=False).groups.items():
        answered = out.loc[rows, "answered"].astype("float64").to_numpy()
        count = np.rint(out.loc[rows, "value"].astype("float64").to_numpy() * answered)
        out.loc[rows, "shrunk"] = stats.eb_shrink(count, answered)
    # The organisation has no siblings: its shrunk rate is its rate.
    out.loc[wanted & organisation, "shrunk"] = out.loc[wanted & organisation, "value"]
    return out


def add_change(df: pd.DataFrame) -> pd.DataFrame:
    """Change since the previous wave (waves sorted by label), from visible exact cells only.

    Rates get Newcombe's 95% interval and `exceeds_noise`; other statistics only the difference.
    A group hidden or banded in either wave gets no change, so a unit that drops below the
    threshold cannot be worked out from its change.
    """
    out = df.copy()
    out["change"] = np.nan
    out["change_lo"] = np.nan
    out["change_hi"] = np.nan
    out["exceeds_noise"] = pd.array([pd.NA] * len(out), dtype="boolean")
    waves = sorted(out["wave"].dropna().unique().tolist())
    if len(waves) < 2:
        return out
    previous = dict(zip(waves[1:], waves[:-1], strict=False))
    exact = out[~out["suppressed"].to_numpy(dtype=bool) & out["value"].notna().to_numpy()]
    key = exact[_GROUP_KEY].astype(object).fillna(_NA)
    cur = key.assign(wave=exact["wave"].map(previous), _row=exact.index)
    prev = key.assign(
        wave=exact["wave"].astype(object),
        _pv=exact["value"].astype("float64"),
        _pa=exact["answered"].astype("float64"),
    )
    joined = cur.dropna(subset=["wave"]).merge(prev, on=[*_GROUP_KEY, "wave"], how="inner")
    rows = joined["_row"].to_numpy()
    v1 = out.loc[rows, "value"].astype("float64").to_numpy()
    a1 = out.loc[rows, "answered"].astype("float64").to_numpy()
    v0, a0 = joined["_pv"].to_numpy(), joined["_pa"].to_numpy()
    is_rate = (out.loc[rows, "stat"] == "rate").to_numpy()
    diff, lo, hi, exceeds = stats.proportion_change(np.rint(v1 * a1), a1, np.rint(v0 * a0), a0)
    out.loc[rows, "change"] = np.where(is_rate, diff, v1 - v0)
    out.loc[rows, "change_lo"] = np.where(is_rate, lo, np.nan)
    out.loc[rows, "change_hi"] = np.where(is_rate, hi, np.nan)
    out.loc[rows[is_rate], "exceeds_noise"] = exceeds[is_rate]
    return out


def derive_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """The `derive` hook for rel_metrics: shrinkage, then change, in the documented column order."""
    out = add_change(add_shrunk(df))
    order = [
        *privacy.DIM_COLUMNS,
        "level",
        "n",
        "suppressed",
        "metric",
        "stat",
        "answered",
        "value",
        "lo",
        "hi",
        "shrunk",
        "change",
        "change_lo",
        "change_hi",
        "exceeds_noise",
        "display",
    ]
    return out[order + [c for c in out.columns if c not in order]]


def released_metrics(con: duckdb.DuckDBPyConnection, k: int) -> pd.DataFrame:
    """rel_metrics: computed, suppressed and derived."""
    return privacy.release(compute_metrics(con), kind="metrics", k=k, derive=derive_metrics)


def released_groups(con: duckdb.DuckDBPyConnection, k: int) -> pd.DataFrame:
    """rel_groups: respondents, headcount and response rate per group, suppressed."""
    return privacy.release(compute_groups(con), kind="metrics", k=k)
