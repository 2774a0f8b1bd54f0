"""The PowerPoint deck: 7-9 slides a leader can present as is (python-pptx, 16:9).

Title · headline measures (native table) · where risk concentrates · cost by role (native table) ·
drivers · what clinicians intend · retention options (native table) · trends · next steps and caveats.
Charts are the dashboard's figures rendered to PNG through kaleido; numbers and sentences come from
the same scoped released tables and summary helpers as the PDF. Slides whose table is not built yet
say so in a sentence.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.text import PP_ALIGN
from pptx.util import Emu, Inches, Pt

from pipelines import charts
from pipelines.charts import report as chart_render
from pipelines.contract.levels import DIMENSIONS
from pipelines.release.tables import DRIVER_IMPORTANCE, LEAVE_PATHS, METRICS, SAVED_SCENARIOS, UNIT_RISK
from pipelines.reports import summary
from pipelines.reports.data import ReportData
from pipelines.reports.pdf import KEY_TABLE_METRICS, TREND_METRICS, _intent_long, _metric_rows, compare_frame

NAVY = RGBColor(0x1F, 0x3B, 0x57)
GREY = RGBColor(0x5A, 0x6B, 0x7B)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
W, H = Inches(13.333), Inches(7.5)
MARGIN = Inches(0.5)
Progress = Callable[[float, str], None] | None


def _text(slide, text: str, left, top, width, height, size=14, bold=False, color=None, align=None):
    box = slide.shapes.add_textbox(left, top, width, height)
    tf = box.text_frame
    tf.word_wrap = True
    p = tf.paragraphs[0]
    p.text = text
    p.font.size = Pt(size)
    p.font.bold = bold
    if color is not None:
        p.font.color.rgb = color
    if align is not None:
        p.alignment = align
    return box


def _slide(prs, title: str, data: ReportData):
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    _text(slide, title, MARGIN, Inches(0.3), W - 2 * MARGIN, Inches(0.9), size=24, bold=True, color=NAVY)
    footer = f"{data.scope.title()} · wave {data.wave} · Confidential: no group under {data.k} respondents is shown"
    _text(slide, footer, MARGIN, H - Inches(0.45), W - 2 * MARGIN - Inches(1), Inches(0.3), size=9, color=GREY)
    _text(slide, str(len(prs.slides)), W - MARGIN - Inches(0.8), H - Inches(0.45), Inches(0.8), Inches(0.3), size=9,
          color=GREY, align=PP_ALIGN.RIGHT)  # fmt: skip
    return slide


def _bullets(slide, items: list[str], left, top, width, height, size=14):
    box = slide.shapes.add_textbox(left, top, width, height)
    tf = box.text_frame
    tf.word_wrap = True
    for i, item in enumerate(items):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.text = "• " + item
        p.font.size = Pt(size)
        p.space_after = Pt(8)
    return box


def _picture(slide, fig, left, top, width, height, px_width=1100):
    """The figure as PNG, fitted into the box (aspect kept), with its finding as a bold line above."""
    title = chart_render.figure_title(fig)
    if title:
        _text(slide, title, left, top, width, Inches(0.5), size=13, bold=True, color=NAVY)
        top, height = top + Inches(0.5), height - Inches(0.5)
    png = chart_render.render_png(fig, px_width)
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        pw, ph = im.size
    scale = min(width / pw, height / ph)
    w, h = int(pw * scale), int(ph * scale)
    slide.shapes.add_picture(io.BytesIO(png), left + Emu((width - w) // 2), top, Emu(w), Emu(h))


def _table(slide, frame: pd.DataFrame, left, top, width, height, size=11, col_widths: list[float] | None = None):
    rows, cols = len(frame) + 1, len(frame.columns)
    shape = slide.shapes.add_table(rows, cols, left, top, width, Emu(min(height, Inches(0.36) * rows)))
    tbl = shape.table
    if col_widths:
        total = sum(col_widths)
        for j, w in enumerate(col_widths):
            tbl.columns[j].width = Emu(int(width * w / total))
    for j, col in enumerate(frame.columns):
        cell = tbl.cell(0, j)
        cell.text = str(col)
        para = cell.text_frame.paragraphs[0]
        para.font.size = Pt(size)
        para.font.bold = True
        para.font.color.rgb = WHITE
        cell.fill.solid()
        cell.fill.fore_color.rgb = NAVY
    for i, rec in enumerate(frame.itertuples(index=False), start=1):
        for j, value in enumerate(rec):
            cell = tbl.cell(i, j)
            cell.text = "" if summary.missing(value) else (f"{value:,}" if isinstance(value, int) else str(value))
            para = cell.text_frame.paragraphs[0]
            para.font.size = Pt(size)
            if j > 0:
                para.alignment = PP_ALIGN.RIGHT if len(cell.text) < 18 else PP_ALIGN.LEFT
    return shape


def _missing_text(slide, text: str):
    _text(slide, text, MARGIN, Inches(1.5), W - 2 * MARGIN, Inches(2), size=18, color=GREY)


def build_pptx(data: ReportData, progress: Progress = None) -> bytes:
    prs = Presentation()
    prs.slide_width, prs.slide_height = W, H
    s = data.scope
    body_top = Inches(1.2)
    body_h = H - body_top - Inches(0.6)
    full_w = W - 2 * MARGIN
    steps = 9

    def tick(i: int, label: str) -> None:
        if progress:
            progress(0.1 + 0.8 * i / steps, f"Slide: {label}")

    # 1. Title
    tick(0, "title")
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    band = slide.shapes.add_shape(1, 0, Inches(1.6), W, Inches(2.6))
    band.fill.solid()
    band.fill.fore_color.rgb = NAVY
    band.line.fill.background()
    _text(
        slide,
        "Clinician retention",
        MARGIN + Inches(0.3),
        Inches(1.9),
        full_w,
        Inches(1),
        size=40,
        bold=True,
        color=WHITE,
    )
    _text(
        slide,
        f"{s.title()} · survey wave {data.wave}",
        MARGIN + Inches(0.3),
        Inches(3.0),
        full_w,
        Inches(0.8),
        size=22,
        color=WHITE,
    )
    _text(
        slide,
        f"Generated {data.generated_at:%d %B %Y}. Confidential: built only from released tables; no group under "
        f"{data.k} respondents is shown. Intent to leave is stated intent, not departures.",
        MARGIN + Inches(0.3), Inches(4.6), full_w - Inches(0.6), Inches(1), size=14, color=GREY,
    )  # fmt: skip

    # 2. Headline measures
    tick(1, "headline measures")
    slide = _slide(prs, "Headline measures", data)
    heads = summary.headlines(data)
    tile_w = (full_w - Inches(0.2) * (len(heads) - 1)) / max(len(heads), 1)
    for i, h in enumerate(heads):
        left = MARGIN + int(i * (tile_w + Inches(0.2)))
        _text(slide, h.label.upper(), left, body_top, tile_w, Inches(0.35), size=10, color=GREY)
        _text(slide, h.value, left, body_top + Inches(0.3), tile_w, Inches(0.6), size=26, bold=True, color=NAVY)
        _text(slide, h.note, left, body_top + Inches(0.9), tile_w, Inches(0.4), size=10, color=GREY)
    if data.has(METRICS):
        rows = _metric_rows(data, KEY_TABLE_METRICS[:8])
        _table(
            slide,
            rows,
            MARGIN,
            body_top + Inches(1.55),
            full_w,
            Inches(3.6),
            size=11,
            col_widths=[3.2, 1.1, 1.5, 1.1, 2.4, 1.1],
        )
    first = summary.change_sentence(data)
    if first:
        _text(slide, first, MARGIN, H - Inches(1.35), full_w, Inches(0.8), size=13)

    # 3. Where risk concentrates
    tick(2, "risk")
    slide = _slide(prs, "Where attrition risk concentrates", data)
    risk_name = UNIT_RISK if data.has(UNIT_RISK) else None
    sentence = summary.risk_sentence(data) or ""
    if risk_name is None:
        level = summary.unit_level(data)
        units = summary.units(data, METRICS, levels=(level,))
        if units.empty:
            _missing_text(
                slide, "Risk by unit is not available yet: the attrition-risk model is not in this warehouse."
            )
        else:
            _picture(slide, charts.heatmap_figure(units, data.k), MARGIN, body_top, Inches(8.3), body_h)
    else:
        level = summary.rank_level(data)
        units = summary.units(data, risk_name, levels=(level,))
        if units.empty:
            _missing_text(slide, f"No unit below {s.describe()} can be ranked.")
        else:
            _picture(slide, charts.risk_ranking_figure(units, data.k, top=12), MARGIN, body_top, Inches(8.3), body_h)
    _text(
        slide,
        sentence,
        MARGIN + Inches(8.6),
        body_top + Inches(0.5),
        full_w - Inches(8.6),
        body_h - Inches(0.5),
        size=13,
    )

    # 4. Cost by role
    tick(3, "cost")
    if risk_name is not None:
        slide = _slide(prs, "Expected departures and replacement cost", data)
        role_level = summary.role_level(data)
        roles = summary.units(data, risk_name, levels=(role_level,))
        if roles.empty:
            _missing_text(slide, "No role-level risk can be shown for this scope.")
        else:
            roles = (
                roles.assign(_h=roles["suppressed"].fillna(True).astype(bool))
                .sort_values(["_h", "expected_departures"], ascending=[True, False], na_position="last")
                .drop(columns="_h")
            )
            _picture(slide, charts.departures_by_role_figure(roles, data.k), MARGIN, body_top, Inches(6.6), body_h)
            dep = charts.departures_table(roles, data.k)
            dep = dep[
                [
                    "Role",
                    "Headcount",
                    "Expected departures (2 yrs)",
                    "Departures 95% interval",
                    "Replacement-cost exposure",
                ]
            ]
            _table(
                slide,
                dep,
                MARGIN + Inches(6.8),
                body_top + Inches(0.5),
                full_w - Inches(6.8),
                body_h,
                size=11,
                col_widths=[2.2, 1.2, 1.3, 1.6, 1.4],
            )
            _text(
                slide,
                charts.ITL_NOTE,
                MARGIN + Inches(6.8),
                H - Inches(2.0),
                full_w - Inches(6.8),
                Inches(1.2),
                size=10,
                color=GREY,
            )

    # 5. Drivers
    tick(4, "drivers")
    slide = _slide(prs, "What drives intent to leave", data)
    long = summary.driver_rows(data) if data.has(DRIVER_IMPORTANCE) else pd.DataFrame()
    if long.empty or long["importance"].isna().all():
        _missing_text(slide, "Driver importance is not available for this scope yet." if not data.has(DRIVER_IMPORTANCE)
                      else f"Driver importance cannot be shown for {s.describe()} (too few respondents).")  # fmt: skip
    else:
        _picture(slide, charts.importance_figure(long), MARGIN, body_top, Inches(8.3), body_h)
        _text(
            slide,
            summary.driver_sentence(data) or "",
            MARGIN + Inches(8.6),
            body_top + Inches(0.5),
            full_w - Inches(8.6),
            body_h,
            size=13,
        )

    # 6. Intentions
    tick(5, "intentions")
    slide = _slide(prs, "What clinicians say they would do", data)
    long = _intent_long(data, LEAVE_PATHS) if data.has(LEAVE_PATHS) else pd.DataFrame()
    if long.empty or long["pct"].isna().all():
        _missing_text(slide, "Leave paths are not available for this scope yet." if not data.has(LEAVE_PATHS)
                      else f"Fewer than {data.intentions_k} answered in {s.describe()}: nothing can be shown.")  # fmt: skip
    else:
        _picture(
            slide, charts.intentions_figure(long, "path", data.intentions_k), MARGIN, body_top, Inches(8.3), body_h
        )
        _text(
            slide,
            summary.intentions_sentence(data) or "",
            MARGIN + Inches(8.6),
            body_top + Inches(0.5),
            full_w - Inches(8.6),
            body_h,
            size=13,
        )

    # 7. Retention options
    tick(6, "options")
    slide = _slide(prs, "Retention options compared", data)
    levers = summary.scenario_levers(data)
    if levers.empty:
        _missing_text(slide, summary.options_sentence(data))
    else:
        compare, names = compare_frame(levers)
        _picture(slide, charts.scenario_compare_figure(compare, names), MARGIN, body_top, Inches(6.2), Inches(3.6))
        frame = data.table(SAVED_SCENARIOS)
        t = charts.scenario_table(frame)
        t.insert(0, "Scenario", frame["scenario"].to_numpy())
        t = t[["Scenario", "Option", "Departures avoided", "Net", "ROI"]].head(9)
        t["Departures avoided"] = t["Departures avoided"].str.split(" (", regex=False).str[0]
        t["Net"] = t["Net"].str.split(" (", regex=False).str[0]
        t["ROI"] = t["ROI"].str.split(" (", regex=False).str[0]
        _table(
            slide,
            t,
            MARGIN + Inches(6.4),
            body_top,
            full_w - Inches(6.4),
            body_h - Inches(1.3),
            size=10,
            col_widths=[2.2, 2.4, 1.2, 1.1, 0.9],
        )
        _text(slide, summary.options_sentence(data), MARGIN, H - Inches(1.9), full_w, Inches(1.2), size=12)

    # 8. Trends
    tick(7, "trends")
    if len(data.waves) > 1 and data.has(METRICS):
        slide = _slide(prs, "Trends across survey waves", data)
        metrics = data.table(METRICS)
        rows = metrics[metrics["level"] == s.level]
        for d in DIMENSIONS:
            want = getattr(s, d, None)
            rows = rows[rows[d].isna()] if want is None else rows[rows[d].astype(object) == want]
        _picture(
            slide,
            chart_render.scope_trend_figure(rows, TREND_METRICS, s.describe(), data.k),
            MARGIN,
            body_top,
            full_w,
            body_h,
        )

    # 9. Next steps
    tick(8, "next steps")
    slide = _slide(prs, "Next steps", data)
    _bullets(slide, summary.next_steps(data), MARGIN, body_top, full_w, Inches(3), size=18)
    caveats = [
        "Intent to leave is stated intent, not departures (about a third of those who say so actually leave).",
        "Drivers and option effects are associations in survey answers, not proof of cause.",
        f"Confidentiality: no group under {data.k} respondents ({data.intentions_k} for leave paths) is shown.",
    ]
    _bullets(slide, caveats, MARGIN, H - Inches(2.4), full_w, Inches(1.8), size=12)

    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()
