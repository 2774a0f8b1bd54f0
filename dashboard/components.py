"""Small layout pieces every page uses: tiles, a chart with its data, empty states, CSV downloads.

Layout only: figures come from pipelines.charts, numbers from dashboard.data. Text that may come
from uploaded files (unit names) is always rendered as plain text, never as HTML.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pipelines.charts import Tile
from pipelines.charts.report import figure_title
from pipelines.charts.svg import to_svg
from pipelines.contract import safety as spreadsheet_safety

# Leading characters a spreadsheet would treat as a formula (METHODS.md, "Confidentiality").
PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def current_user() -> str:
    """Who is acting, for the audit log: the signed-in e-mail, or "local user" in local mode."""
    from dashboard import auth

    return auth.actor()


def tile_row(tiles: Sequence[Tile]) -> None:
    """Headline numbers side by side, each with its change and a help text."""
    if not tiles:
        return
    for column, tile in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(
            tile.label,
            tile.value,
            delta=tile.delta,
            delta_color=tile.delta_color,
            help=tile.help or None,
            border=True,
        )


def chart(fig: go.Figure, table: pd.DataFrame, *, key: str, caption: str | None = None, static: bool = False) -> None:
    """A figure, an optional caption, and its numbers in a 'Show data' expander.

    static=True draws the figure as an SVG image on the server (pipelines.charts.svg: same data,
    colours and title, no chart library for the browser to load), for the charts a leader sees
    first; the exact numbers are in 'Show data'. A figure the SVG renderer cannot draw falls back
    to Plotly."""
    svg = None
    if static:  # the configured theme's colours (.streamlit/config.toml); the chart carries its background
        colours = {
            "text_colour": st.get_option("theme.textColor"),
            "background": st.get_option("theme.backgroundColor"),
        }
        svg = to_svg(fig, **{k: v for k, v in colours.items() if v})
    if svg is not None:
        # an image, not markup: nothing in a label can reach the page (and st.html drops SVG)
        st.image(svg, alt=figure_title(fig) or "chart")
    else:
        st.plotly_chart(fig, key=key, config=PLOTLY_CONFIG)
    if caption:
        st.caption(caption)
    with st.expander("Show data"):
        st.dataframe(table, hide_index=True)


def escape_markdown(text: str) -> str:
    """Unit names come from uploaded files: show them literally, never as links or formatting."""
    return "".join("\\" + c if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in str(text))


def sentences(lines: Sequence[str]) -> None:
    """Finding sentences as a bulleted list, with any markdown in unit names neutralised."""
    if lines:
        st.markdown("\n".join(f"- {escape_markdown(line)}" for line in lines))


def empty(message: str) -> None:
    """An empty or fully hidden view, explained in words instead of a blank chart."""
    st.info(message, icon=":material/visibility_off:")


def safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes that a spreadsheet cannot execute: text cells starting with = + - @ tab or CR
    are prefixed with ' (numbers stay numbers)."""
    buffer = io.StringIO()
    spreadsheet_safety.safe_frame(frame).to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def csv_download(frame: pd.DataFrame, *, label: str, file_name: str, key: str) -> None:
    st.download_button(
        label,
        data=safe_csv(frame),
        file_name=file_name,
        mime="text/csv",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def confidentiality_note(k: int) -> None:
    st.caption(
        f"Groups with fewer than {k} respondents are never shown (grey cells read “fewer than {k}”); "
        "a few larger groups are hidden too when showing them would let someone work out a small one."
    )
