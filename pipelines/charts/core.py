"""Compatibility only: the names pipelines/reports still imports from here (until it imports from
pipelines.charts). Everything lives in pipelines.charts.formats, the page modules and pipelines.narrative.
Delete this file once `grep -rn "charts.core" pipelines` finds nothing."""

from pipelines.charts.formats import format_change, format_value, metric_label, unit_label
from pipelines.narrative.methodology import item_definitions, metric_definitions

__all__ = ["format_change", "format_value", "item_definitions", "metric_definitions", "metric_label", "unit_label"]
