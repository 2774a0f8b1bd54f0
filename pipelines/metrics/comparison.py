"""A selection's released rates next to the published figures (ref_benchmarks): the data join.

Rows of rel_metrics for one group and the ref_benchmarks table in, one row per metric and published
population out (the latest year of each). Only rates that were released (not hidden) are compared.
The Overview page, the PDF and the findings label and draw this table (pipelines.charts, .narrative).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["BENCHMARK_METRICS", "benchmark_rows"]

# The released rates that have a published counterpart (pipelines.metrics.reference).
BENCHMARK_METRICS: tuple[str, ...] = ("burnout", "itl", "high_stress", "satisfied", "valued")


def benchmark_rows(selection: pd.DataFrame, benchmarks: pd.DataFrame, role: str | None = None) -> pd.DataFrame:
    """The selection's rate next to the latest published figure per metric and population.

    Columns: metric, organisation (our rate), lo, hi, n, benchmark, population, year, role, source.
    Benchmarks are chosen for the selected role, else physicians (most published figures are about
    physicians; `role` says which were used). Benchmarks with a note (not comparable) are left out."""
    wanted = role or "physician"
    rows = []
    for metric in BENCHMARK_METRICS:
        own = (
            selection[(selection["metric"] == metric) & selection["value"].notna()]
            if not selection.empty
            else selection
        )
        if own.empty:
            continue
        o = own.iloc[0]
        refs = benchmarks[(benchmarks["metric"] == metric) & (benchmarks["role"] == wanted)]
        refs = refs[refs["note"].fillna("") == ""]
        for population, group in refs.groupby("population", sort=False):
            b = group.sort_values("year").iloc[-1]
            rows.append(
                {
                    "metric": metric,
                    "organisation": float(o["value"]),
                    "lo": float(o["lo"]),
                    "hi": float(o["hi"]),
                    "n": int(o["answered"]),
                    "benchmark": float(b["value"]),
                    "population": population,
                    "year": int(b["year"]),
                    "role": wanted,
                    "source": b["source"],
                }
            )
    return pd.DataFrame(rows)
