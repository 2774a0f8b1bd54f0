"""The Excel workbook: a README sheet, then one formatted sheet per released table in scope.

Each sheet holds exactly the released rows (filtered to the scope): frozen header, autofilter,
0.0% for rates, $#,##0 for money, #,##0 for counts. A hidden (suppressed) cell shows the released
display text ("hidden to protect confidentiality", or a band such as "≤20%"), never a number.
Text cells are written as text and made inert (tabular.inert); numbers stay numbers.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pandas as pd
import xlsxwriter

from pipelines.charts import item_definitions, metric_definitions
from pipelines.release import privacy
from pipelines.release.tables import describe
from pipelines.reports import summary
from pipelines.reports.data import ReportData
from pipelines.reports.tabular import cell_value, column_kind, describe_column, inert

FORMATS = {
    "rate": "0.0%",
    "rate_change": "+0.0%;-0.0%;0.0%",
    "money": "$#,##0;-$#,##0",
    "count": "#,##0",
    "int": "0",
    "decimal": "0.0",
    "stat": "0.00",
    "stat_change": "+0.00;-0.00;0.00",
    "fine": "0.0000",
}
KEY_COLUMNS = set(privacy.KEY_COLUMNS) | {
    "n",
    "scenario",
    "lever",
    "label",
    "kind",
    "headcount_source",
    "weights_source",
}
MAX_WIDTH = 48


def _display_columns(frame: pd.DataFrame) -> set[str]:
    """`<rate>_display` columns merged into their rate column on the sheet."""
    return {c for c in frame.columns if c.endswith("_display") and c.removesuffix("_display") in frame.columns}


def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join(ch if ch not in "[]:*?/\\" else "_" for ch in name)[:31] or "table"
    out, i = base, 1
    while out.lower() in used:
        i += 1
        out = f"{base[:28]}_{i}"
    used.add(out.lower())
    return out


def build_xlsx(data: ReportData, progress=None) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(
        buf,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
            "default_date_format": "yyyy-mm-dd hh:mm",
        },
    )
    wb.set_properties(
        {
            "title": f"Clinician retention: {data.scope.title()}, wave {data.wave}",
            "subject": "Released (confidentiality-checked) tables",
            "comments": f"Generated {data.generated_at:%Y-%m-%d %H:%M}; minimum group size {data.k}.",
        }
    )
    fmt = {key: wb.add_format({"num_format": value}) for key, value in FORMATS.items()}
    styles = {
        "header": wb.add_format(
            {
                "bold": True,
                "bg_color": "#1F3B57",
                "font_color": "white",
                "text_wrap": True,
                "valign": "top",
                "border": 1,
            }
        ),
        "hidden": wb.add_format({"italic": True, "font_color": "#7F7F7F"}),
        "title": wb.add_format({"bold": True, "font_size": 16, "font_color": "#1F3B57"}),
        "h2": wb.add_format({"bold": True, "font_size": 12, "font_color": "#1F3B57"}),
        "bold": wb.add_format({"bold": True}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        "date": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
    }
    used: set[str] = {"readme"}
    readme = wb.add_worksheet("README")
    sheets = []
    names = list(data.tables)
    for i, name in enumerate(names):
        if progress:
            progress(0.1 + 0.8 * i / max(len(names), 1), f"Writing sheet {name}")
        sheet = wb.add_worksheet(_sheet_name(name, used))
        _write_table(sheet, name, data.tables[name], fmt, styles)
        sheets.append((sheet.get_name(), name))
    _write_readme(readme, data, sheets, styles)
    wb.close()
    return buf.getvalue()


def _write_table(sheet, name: str, frame: pd.DataFrame, fmt: dict, styles: dict) -> None:
    merged = _display_columns(frame)
    columns = [c for c in frame.columns if c not in merged]
    for j, col in enumerate(columns):
        sheet.write_string(0, j, inert(str(col)), styles["header"])
    widths = [min(max(len(str(c)) + 2, 8), MAX_WIDTH) for c in columns]
    kinds = [column_kind(name, c) for c in columns]
    has_stat = "stat" in frame.columns
    records = frame.to_dict(orient="records")
    for i, rec in enumerate(records, start=1):
        hidden = bool(rec.get("suppressed")) if rec.get("suppressed") is not None else False
        is_rate_row = (rec.get("stat") == "rate") if has_stat else True
        row_display = rec.get("display")
        for j, col in enumerate(columns):
            value = cell_value(rec.get(col))
            if value is None:
                text = None
                if col not in KEY_COLUMNS:
                    if hidden:
                        text = row_display if isinstance(row_display, str) and row_display else privacy.SUPPRESSED_TEXT
                    elif f"{col}_display" in merged and rec.get(f"{col}_display"):
                        text = str(rec.get(f"{col}_display"))
                    elif name == "rel_metrics" and col == "value" and isinstance(row_display, str) and row_display:
                        text = row_display  # a band ("≤20%") instead of an exact small-group rate
                if text:
                    sheet.write_string(i, j, inert(text), styles["hidden"])
                    widths[j] = max(widths[j], min(len(text) + 2, MAX_WIDTH))
                continue
            if isinstance(value, bool):
                sheet.write_boolean(i, j, value)
            elif isinstance(value, (int, float)):
                kind = kinds[j]
                if kind == "stat":
                    kind = ("rate" if is_rate_row else "stat") + ("_change" if col.startswith("change") else "")
                sheet.write_number(i, j, value, fmt.get(kind, fmt["decimal"]))
                widths[j] = max(widths[j], 10)
            elif isinstance(value, (dt.datetime, dt.date)):
                sheet.write_datetime(i, j, value, styles["date"])
                widths[j] = max(widths[j], 17)
            else:
                sheet.write_string(i, j, value)
                if i < 300:
                    widths[j] = max(widths[j], min(len(value) + 2, MAX_WIDTH))
    for j, w in enumerate(widths):
        sheet.set_column(j, j, w)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(records), 1), max(len(columns) - 1, 0))
    sheet.set_row(0, 30)


def _kv(sheet, row: int, key: str, value: Any, styles: dict) -> int:
    sheet.write_string(row, 0, key, styles["bold"])
    v = cell_value(value)
    if isinstance(v, (dt.datetime, dt.date)):
        sheet.write_datetime(row, 1, v, styles["date"])
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        sheet.write_number(row, 1, v)
    else:
        sheet.write_string(row, 1, "" if v is None else str(v), styles["wrap"])
    return row + 1


def _write_readme(sheet, data: ReportData, sheets: list[tuple[str, str]], styles: dict) -> None:
    s = data.scope
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 70)
    sheet.set_column(2, 3, 60)
    r = 0
    sheet.write_string(r, 0, "Clinician retention: released tables", styles["title"])
    r += 2
    r = _kv(sheet, r, "Scope", inert(s.title()), styles)
    r = _kv(sheet, r, "Site", inert(s.site) if s.site else "all sites", styles)
    r = _kv(sheet, r, "Department", inert(s.department) if s.department else "all departments", styles)
    r = _kv(sheet, r, "Wave", inert(data.wave), styles)
    r = _kv(sheet, r, "Waves included", inert(", ".join(data.waves)), styles)
    r = _kv(sheet, r, "Minimum group size (k)", data.k, styles)
    r = _kv(sheet, r, "Minimum for leave paths and reasons", data.intentions_k, styles)
    r = _kv(sheet, r, "Generated at", data.generated_at, styles)
    if data.built_at is not None:
        r = _kv(sheet, r, "Released tables built at", data.built_at, styles)
    r += 1
    sheet.write_string(r, 0, "Confidentiality", styles["h2"])
    r += 1
    sheet.write_string(
        r,
        0,
        f"Every figure comes from tables released through the confidentiality layer. Groups with fewer than {data.k} "
        f"respondents (fewer than {data.intentions_k} for leave paths and reasons) show no figure, and some larger groups "
        "are hidden too so a small one cannot be worked out by subtraction. Hidden cells read "
        f"“{privacy.SUPPRESSED_TEXT}” (grey); small groups where everyone or no one answered one way show a band "
        "such as ≤20%. Rows outside the scope are not in this workbook.",
        styles["wrap"],
    )
    sheet.set_row(r, 75)
    r += 2
    sheet.write_string(r, 0, "Summary", styles["h2"])
    r += 1
    for sentence in summary.executive_summary(data):
        sheet.write_string(r, 0, "•", styles["bold"])
        sheet.write_string(r, 1, inert(sentence), styles["wrap"])
        sheet.set_row(r, 15 * (1 + len(sentence) // 90))
        r += 1
    r += 1
    sheet.write_string(r, 0, "Sheets", styles["h2"])
    r += 1
    for sheet_name, table in sheets:
        sheet.write_string(r, 0, sheet_name, styles["bold"])
        sheet.write_string(
            r,
            1,
            f"{describe(table)} {len(data.tables[table]):,} rows.",
            styles["wrap"],
        )
        r += 1
    for table, why in data.left_out.items():
        sheet.write_string(r, 0, table, styles["bold"])
        sheet.write_string(r, 1, f"Not included: {why}.", styles["wrap"])
        r += 1
    r += 1
    sheet.write_string(r, 0, "Measures (rel_metrics `metric`)", styles["h2"])
    r += 1
    defs = metric_definitions()
    for j, col in enumerate(["code", "measure", "number shown", "definition"]):
        sheet.write_string(r, j, col, styles["header"])
    r += 1
    for rec in defs.to_dict(orient="records"):
        for j, col in enumerate(["code", "measure", "number shown", "definition"]):
            sheet.write_string(r, j, inert(str(rec[col])), styles["wrap"])
        r += 1
    r += 1
    sheet.write_string(r, 0, "Survey items", styles["h2"])
    r += 1
    items = item_definitions()
    cols = list(items.columns)
    for j, col in enumerate(cols):
        sheet.write_string(r, j, col, styles["header"])
    r += 1
    for rec in items.to_dict(orient="records"):
        for j, col in enumerate(cols):
            sheet.write_string(r, j, inert(str(rec[col])), styles["wrap"])
        r += 1
    r += 1
    sheet.write_string(r, 0, "Columns", styles["h2"])
    r += 1
    for j, col in enumerate(["sheet", "column", "definition"]):
        sheet.write_string(r, j, col, styles["header"])
    r += 1
    for sheet_name, table in sheets:
        frame = data.tables[table]
        for col in frame.columns:
            if col in _display_columns(frame):
                continue
            sheet.write_string(r, 0, sheet_name)
            sheet.write_string(r, 1, inert(str(col)))
            sheet.write_string(r, 2, inert(describe_column(col)), styles["wrap"])
            r += 1
    r += 1
    sheet.write_string(r, 0, "Caveats", styles["h2"])
    r += 1
    for text in CAVEATS:
        sheet.write_string(r, 0, "•", styles["bold"])
        sheet.write_string(r, 1, text, styles["wrap"])
        sheet.set_row(r, 15 * (1 + len(text) // 90))
        r += 1


CAVEATS = (
    "Intent to leave (ITL) is stated intent, not departures: in published follow-ups about a third of those who "
    "said they would leave actually left (Rittenhouse 2004, PPV 35%; Hamidi 2018).",
    "Expected departures convert stated intent with P(leave | ITL) and P(leave | no ITL), editable assumptions "
    "derived from Hamidi et al. 2018.",
    "Driver importance and scenario effects are associations in cross-sectional survey answers, not proof of cause.",
    "Changes between waves are flagged only when their 95% interval excludes zero (beyond sampling noise).",
)
