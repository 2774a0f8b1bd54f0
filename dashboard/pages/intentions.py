"""Intentions & reasons: what people who may leave plan to do, why, and which retention option answers it."""

import streamlit as st

from dashboard import components, filters, queries
from pipelines import charts

st.title("Intentions & reasons")
f = filters.sidebar()
who = components.escape_markdown(f.describe())
k = queries.intentions_k()
st.caption(
    f"Leave plans and reasons are shown only for groups where at least {k} people answered, because free "
    "choices like these identify people more easily than scores do."
)
if not queries.intentions_ready():
    components.empty(
        "Leave plans and reasons have not been built for this warehouse yet. They are built after each upload."
    )
    st.stop()

options = f.breakdown_options()
by = st.segmented_control(
    "Compare by",
    options,
    default="role" if "role" in options else None,
    format_func=str.capitalize,
    key="intentions_by",
    help="Leave empty to see the selected group as a whole.",
)

for question, title, loader in (
    ("path", "What they plan to do", queries.leave_paths),
    ("reason", "Why they would leave", queries.leave_reasons),
):
    st.subheader(title)
    long = loader(f, by)
    if reason := charts.empty_reason(long, k, who):
        components.empty(reason)
        continue
    components.chart(
        charts.intentions_figure(long, question, k),
        charts.intentions_table(long, question, k),
        key=f"intentions_{question}",
        caption="Share of those who answered the question; 'stay as I am' is left out of the chart (it is in the data)."
        if question == "path"
        else "Share of those who gave at least one reason; people could choose several, so shares add to more than 100%.",
    )

st.subheader("Which retention option answers which plan or reason")
st.caption(
    "Options marked 'in planner' can be costed on the Retention options page; the others need work outside "
    "the scenario planner."
)
mapping = queries.option_map()
st.dataframe(charts.option_table(mapping), hide_index=True)
st.page_link(
    "dashboard/pages/retention_options.py", label="Cost these options on Retention options", icon=":material/tune:"
)
