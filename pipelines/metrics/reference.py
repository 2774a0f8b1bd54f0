"""Published benchmark figures (REFERENCE.md), with their sources, as a table for the dashboard.

These are public figures, not survey data, so they are released as `ref_benchmarks` without the
confidentiality pass. `metric` uses the names of pipelines/metrics/released.py so a page can put a unit's
rate next to the matching benchmark. Figures read in secondary summaries are flagged `approximate`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

SHANAFELT_2019 = "Shanafelt et al., Mayo Clin Proc 2019, doi:10.1016/j.mayocp.2018.10.023"
SHANAFELT_2022 = "Shanafelt et al., Mayo Clin Proc 2022, doi:10.1016/j.mayocp.2022.09.002"
SHANAFELT_2025 = "Shanafelt et al., Mayo Clin Proc 2025, doi:10.1016/j.mayocp.2024.11.031"
AMA = "AMA Organizational Biopsy, AMA news releases (ama-assn.org, 2023-2025)"
SINSKY_2021 = "Sinsky et al. 2021, Mayo Clin Proc Innov Qual Outcomes (20,665 staff, 2020)"
HAMIDI_2018 = "Hamidi et al. 2018, BMC Health Serv Res, doi:10.1186/s12913-018-3663-z"

US_PHYSICIANS = "US physicians, national survey (Maslach-based burnout)"
AMA_SAMPLE = "Physicians in organisations taking part in the AMA Organizational Biopsy"
SINSKY_STAFF = "US health-care staff, 2020"


@dataclass(frozen=True)
class Benchmark:
    """One published figure: a proportion in [0, 1] for a metric, population, year and role."""

    metric: str
    population: str
    year: int
    value: float
    source: str
    role: str | None = None
    note: str = ""
    approximate: bool = False


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("burnout", US_PHYSICIANS, 2011, 0.455, SHANAFELT_2019, "physician"),
    Benchmark("burnout", US_PHYSICIANS, 2014, 0.544, SHANAFELT_2019, "physician"),
    Benchmark("burnout", US_PHYSICIANS, 2017, 0.439, SHANAFELT_2019, "physician"),
    Benchmark("burnout", US_PHYSICIANS, 2020, 0.382, SHANAFELT_2022, "physician"),
    Benchmark("burnout", US_PHYSICIANS, 2021, 0.628, SHANAFELT_2022, "physician"),
    Benchmark("burnout", US_PHYSICIANS, 2023, 0.452, SHANAFELT_2025, "physician"),
    *(
        Benchmark(metric, AMA_SAMPLE, year, value, AMA, "physician")
        for metric, values in {
            "burnout": (0.530, 0.482, 0.432),
            "itl": (0.393, 0.357, 0.319),
            "satisfied": (0.680, 0.721, 0.765),
            "high_stress": (0.556, 0.507, 0.451),
            "valued": (0.463, 0.504, 0.545),
        }.items()
        for year, value in zip((2022, 2023, 2024), values, strict=True)
    ),
    Benchmark("itl", AMA_SAMPLE, 2024, 0.357, AMA, "physician", "part-time physicians"),
    Benchmark("itl", AMA_SAMPLE, 2024, 0.298, AMA, "physician", "full-time physicians"),
    Benchmark("itl", SINSKY_STAFF, 2020, 0.400, SINSKY_2021, "nurse"),
    Benchmark("itl", SINSKY_STAFF, 2020, 0.330, SINSKY_2021, "app"),
    Benchmark("itl", SINSKY_STAFF, 2020, 0.238, SINSKY_2021, "physician"),
    Benchmark("reduce_fte", SINSKY_STAFF, 2020, 0.337, SINSKY_2021, "nurse"),
    Benchmark("reduce_fte", SINSKY_STAFF, 2020, 0.314, SINSKY_2021, "physician"),
    Benchmark(
        "itl",
        "Physicians at one academic system (stated intent; 13% actually left within 2 years)",
        2018,
        0.28,
        HAMIDI_2018,
        "physician",
        "stated intent over-predicts departure",
    ),
)


def benchmarks_frame() -> pd.DataFrame:
    """The benchmark table: metric, population, year, role, value, source, note, approximate."""
    frame = pd.DataFrame([asdict(b) for b in BENCHMARKS])
    columns = ["metric", "population", "year", "role", "value", "source", "note", "approximate"]
    return frame[columns]
