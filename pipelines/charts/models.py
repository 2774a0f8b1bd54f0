"""Compatibility only: the names pipelines/reports still imports from here (until it imports from
pipelines.charts). Everything lives in pipelines.charts.formats and the page modules.
Delete this file once `grep -rn "charts.models" pipelines` finds nothing."""

from pipelines.charts.formats import is_missing, money, percent

__all__ = ["is_missing", "money", "percent"]
