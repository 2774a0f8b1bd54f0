"""Reports: the released metrics for the current filters as CSV (PDF, Excel and slides come later)."""

import pandas as pd
import streamlit as st

from dashboard import components, data, filters
from pipelines import charts

st.title("Reports")
f = filters.sidebar()
k = data.min_group_size()
all_waves = st.toggle("Every wave (for trends), not only the selected wave", key="report_all_waves")
breakdowns = st.multiselect("Include units by", f.breakdown_options(), default=f.breakdown_options()[:1],
                            format_func=str.capitalize, key="report_by")  # fmt: skip
wave = None if all_waves else f.wave
scopes = [f.selection(), *(f.breakdown(by) for by in breakdowns)]
frames = [data.query_released("rel_metrics", wave=wave, order_by=["wave"], **scope) for scope in scopes]
rows = pd.concat([x for x in frames if not x.empty], ignore_index=True) if any(not x.empty for x in frames) else None
if rows is None or (reason := charts.empty_reason(rows, k, f.describe())):
    components.empty(reason if rows is not None else f"No released results for {f.describe()}.")
    st.stop()

waves_text = "all waves" if all_waves else f"wave {f.wave}"
st.markdown(f"**{len(rows):,} released figures** for {components.escape_markdown(f.describe())}, {waves_text}.")
st.caption(
    "The file holds exactly what the dashboard shows: hidden cells stay hidden (value empty, "
    f"'suppressed' true, fewer than {k} respondents or protecting a smaller group). Text cells are "
    "written so a spreadsheet cannot run them as formulas."
)
name = "_".join(p for p in ("clinret_metrics", f.site, f.department, f.role, None if all_waves else f.wave) if p)
components.csv_download(rows, label="Download CSV", file_name=f"{name}.csv".replace(" ", "-"), key="report_csv")
with st.expander("Preview", expanded=True):
    st.dataframe(charts.metrics_table(rows.head(500), k), hide_index=True)
st.caption("Board report (PDF), Excel workbook and slide exports are planned; they will use these same tables.")
