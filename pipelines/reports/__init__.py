"""Exports: the PDF board report, the Excel workbook, the PowerPoint deck and the CSV extracts.

All four are built from the same scoped released tables (`data.load`), so they carry the same numbers
as each other and as the dashboard, and every export is audited. Entry points:

    build_export(fmt, db=None, wave=None, site=None, department=None, actor=None, progress=None)
        -> (bytes, filename, mime)          # for the dashboard's Reports page (csv: a zip)
    export(fmt, out, db=None, wave=..., site=..., department=..., actor=...) -> Path   # for the CLI
"""

from pipelines.release.scope import Scope
from pipelines.reports.api import FORMATS, build_export, export, load
from pipelines.reports.data import ReportData, ScopeError

__all__ = ["FORMATS", "ReportData", "Scope", "ScopeError", "build_export", "export", "load"]
