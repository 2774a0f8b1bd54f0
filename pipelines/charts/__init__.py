"""Plotly figure builders and finding text: DataFrame in, figure (or words) out. No Streamlit here.

`core` holds the shared builders (tiles, heatmap, benchmarks, trends, findings); `models` (when
present) holds the attrition-risk, drivers, scenarios and intentions charts. Both are re-exported,
so callers write `from pipelines import charts; charts.heatmap_figure(...)`.
"""

import importlib

from pipelines.charts.core import *  # noqa: F403
from pipelines.charts.core import __all__ as _core_all

try:  # the model charts are written in parallel and may not exist yet
    _models = importlib.import_module("pipelines.charts.models")
except ModuleNotFoundError as exc:  # only tolerate the module itself being absent
    if exc.name != "pipelines.charts.models":
        raise
    _models = None

_models_all: list[str] = []
if _models is not None:
    _models_all = list(getattr(_models, "__all__", [n for n in vars(_models) if not n.startswith("_")]))
    globals().update({name: getattr(_models, name) for name in _models_all})

__all__ = [*_core_all, *_models_all]
