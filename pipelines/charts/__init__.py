"""Plotly figure builders: DataFrame (rows of released tables) in, figure or readable table out. No Streamlit.

`formats` holds the shared number formats, labels, colours and error bars; one module per page holds
that page's figures (`overview`, `trends`, `risk`, `turnover`, `drivers`, `scenarios`, `intentions`); `svg` draws
the simple figures as static SVG and `report` makes them print-ready for the exports. Every public
name is re-exported here, so callers write `from pipelines import charts; charts.heatmap_figure(...)`.

The words around the figures live in pipelines.narrative (findings, methodology text) and the join of a
selection with published figures in pipelines.metrics.comparison; their names are re-exported here too
(`findings` lazily: pipelines.narrative.findings itself uses the formats).
"""

from __future__ import annotations

from typing import Any

from pipelines.charts import drivers, formats, intentions, overview, risk, scenarios, trends, turnover
from pipelines.charts.drivers import *  # noqa: F403
from pipelines.charts.formats import *  # noqa: F403
from pipelines.charts.intentions import *  # noqa: F403
from pipelines.charts.overview import *  # noqa: F403
from pipelines.charts.risk import *  # noqa: F403
from pipelines.charts.scenarios import *  # noqa: F403
from pipelines.charts.trends import *  # noqa: F403
from pipelines.charts.turnover import *  # noqa: F403
from pipelines.metrics.comparison import BENCHMARK_METRICS
from pipelines.narrative.methodology import ITL_NOTE, item_definitions, metric_definitions, settings_definitions

_LAZY = {"findings": "pipelines.narrative.findings"}

__all__ = [
    *formats.__all__,
    *overview.__all__,
    *trends.__all__,
    *risk.__all__,
    *drivers.__all__,
    *scenarios.__all__,
    *intentions.__all__,
    *turnover.__all__,
    "BENCHMARK_METRICS",
    "ITL_NOTE",
    "findings",  # noqa: F405 (lazy, see __getattr__)
    "item_definitions",
    "metric_definitions",
    "settings_definitions",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pipelines.charts' has no attribute {name!r}")
