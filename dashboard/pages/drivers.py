"""Drivers: what goes with intent to leave across the organisation, and where each unit should act."""

import streamlit as st

from dashboard import components, data, filters, queries
from pipelines import charts

st.title("Drivers of intent to leave")
f = filters.sidebar()
k = data.min_group_size()
if not queries.drivers_ready():
    components.empty("The driver analysis has not been built for this warehouse yet. It is built after each upload.")
    st.stop()

st.subheader("What predicts intent to leave across the organisation")
organisation = queries.drivers_organisation(f)
if organisation.empty or organisation["importance"].isna().all():
    components.empty(f"No driver analysis was released for wave {f.wave}.")
else:
    components.chart(
        charts.importance_figure(organisation),
        charts.driver_table(organisation),
        key="drivers_importance",
        caption="Predictive importance: the share of what the drivers together explain about stated intent to leave "
        "in a cross-validated fit (general dominance analysis, which splits shared influence fairly between "
        "related drivers). Bars: 95% bootstrap interval (the estimate ± 1.96 bootstrap SDs; percentiles where 200 or more replicates were drawn). "
        "Vermillion: worse conditions go with more intent to leave; blue: the opposite. These are associations "
        "in one survey, not proof of cause.",
    )

st.subheader("Where to act: importance against this unit's results")
units = queries.driver_units(f)
if units.empty:
    components.empty(f"No unit of {components.escape_markdown(f.describe())} has a driver analysis in wave {f.wave}.")
    st.stop()
labels = units["unit"].tolist()
choice = st.selectbox("Unit", range(len(labels)), format_func=lambda i: labels[i], key="drivers_unit")
unit = units.iloc[choice]
who = components.escape_markdown(unit["unit"])
if bool(unit["suppressed"]):
    components.empty(
        f"{who} is hidden to protect confidentiality (fewer than {k} respondents, or showing it "
        "would reveal a smaller group). Choose another unit or widen the filters."
    )
    st.stop()
if unit["weights_source"] == "organisation":
    st.info(
        f"{who} has too few respondents to estimate its own driver weights reliably, "
        "so it borrows the organisation's weights. The unfavourable shares are its own.",
        icon=":material/info:",
    )
elif unit["weights_source"] == "shrunk":
    st.info(
        f"{who} has too few respondents for a stable ranking of its own, so its driver weights are pulled "
        "toward the organisation's in proportion to its size. The unfavourable shares are its own.",
        icon=":material/info:",
    )
unit_rows = queries.drivers_for_unit(f, unit)
components.chart(
    charts.quadrant_figure(unit_rows, organisation, unit["unit"]),
    charts.driver_table(unit_rows),
    key="drivers_quadrant",
    caption="Across: how much the driver matters (its share of explained intent to leave; dotted line = the "
    "median driver). Up: the share of unfavourable answers in this unit; grey rings: the organisation. "
    "Diamonds matter more than most and are worse here than in the organisation beyond sampling noise: act "
    "there first. "
    "Clinical FTE has no unfavourable answer, so it is not placed.",
)
components.confidentiality_note(k)
