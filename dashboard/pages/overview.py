"""Overview: headline numbers, what the data says, where problems concentrate, how we compare."""

import streamlit as st

from dashboard import components, data, filters, queries
from pipelines import charts

st.title("Overview")
f = filters.sidebar()
k = data.min_group_size()
selection = queries.overview_selection(f)
group = queries.group_row(f)
if reason := charts.empty_reason(selection, k, f.describe()):
    components.empty(reason)
    st.stop()

st.caption(f"{f.title()}, wave {f.wave}. Changes are against the previous wave.")
components.tile_row(charts.tiles(selection, group, k))
if queries.risk_ready():  # released by the attrition-risk build when it is installed
    components.tile_row(charts.risk_tiles(queries.risk_selection(f)))

st.subheader("What the data says")
summary = st.container()
st.subheader("Where problems concentrate")
options = f.breakdown_options()
default = "department" if f.site and "department" in options else (options or [None])[0]
by = st.segmented_control("Compare units by", options, default=default, format_func=str.capitalize, key="overview_by")
units = queries.key_metric_units(f, by) if by else None
if units is None or (reason := charts.empty_reason(units, k, f"the units of {f.describe()}")):
    components.empty(reason or "Choose how to break this selection down.")
    units = selection.iloc[0:0]
else:
    components.chart(
        charts.heatmap_figure(units, k), charts.metrics_table(units, k), key="overview_heatmap", static=True
    )
    components.confidentiality_note(k)

st.subheader("Compared with published figures")
benchmarks = charts.benchmark_table(selection, queries.benchmarks(), f.role)
with summary:
    components.sentences(charts.findings(selection, units, benchmarks, f.describe()))
if benchmarks.empty:
    components.empty("No published figure matches this selection's measures.")
else:
    components.chart(
        charts.benchmark_figure(benchmarks, f.title()),
        benchmarks.drop(columns=["metric"]),
        key="overview_benchmarks",
        static=True,
        caption=f"Published figures are for {benchmarks['role'].iloc[0]}s; bars show our 95% interval. "
        "Sources are in the table and on the Methodology page.",
    )
