"""Trends: every key measure across waves, by group, with 95% intervals and changes beyond noise."""

import streamlit as st

from dashboard import components, data, filters, queries
from pipelines import charts

st.title("Trends")
f = filters.sidebar(wave=False)
k = data.min_group_size()
options = ["none", *f.breakdown_options()]
by = st.segmented_control(
    "Lines for",
    options,
    default="none",
    format_func=lambda o: f"{f.title()} only" if o == "none" else f"each {o}",
    key="trends_by",
)
scope = f.selection() if by in (None, "none") else f.breakdown(by)
rows = queries.trend_rows(scope)
if reason := charts.empty_reason(rows, k, f.describe()):
    components.empty(reason)
    st.stop()

st.caption(
    "Bars are 95% intervals. A ring marks a change from the previous wave larger than sampling noise "
    "(its 95% interval excludes zero); changes without a ring may be chance."
)
pairs = [charts.KEY_METRICS[i : i + 2] for i in range(0, len(charts.KEY_METRICS), 2)]
for pair in pairs:
    for column, metric in zip(st.columns(2), pair, strict=False):
        with column:
            metric_rows = rows[rows["metric"] == metric]
            if reason := charts.empty_reason(metric_rows, k, f"{charts.metric_label(metric).lower()} here"):
                components.empty(reason)
                continue
            table = charts.metrics_table(metric_rows, k)
            components.chart(charts.trend_figure(metric_rows, metric, k), table, key=f"trend_{metric}")
components.confidentiality_note(k)
