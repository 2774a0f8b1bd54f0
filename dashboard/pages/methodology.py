"""Methodology: every measure, question, model and confidentiality rule, generated from the code's
own definitions (contract, metric catalogue, settings registry, reference figures)."""

import streamlit as st

from dashboard import data, queries
from pipelines import charts, contract, scenarios
from pipelines.models import assumptions, drivers, risk  # noqa: F401
from pipelines.release import history as release_history
from pipelines.release import joint, privacy
from pipelines.store.settings import SETTINGS_BY_KEY

st.title("Methodology")
st.caption("Generated from the definitions the pipelines use, so it cannot drift from the numbers.")
k = data.min_group_size()
tabs = st.tabs(["Measures", "Survey questions", "Models", "Confidentiality", "Benchmarks", "Assumptions"])
with tabs[0]:
    st.markdown("Every rate comes with n and a 95% Wilson interval; changes between waves with a 95% interval "
                "(Newcombe). Units are ranked on an empirical-Bayes shrunk rate so small units are not "
                "ranked on noise.")  # fmt: skip
    st.dataframe(charts.metric_definitions(), hide_index=True)
with tabs[1]:
    st.dataframe(charts.item_definitions(), hide_index=True)
    st.markdown(f"**Intent to leave** (“{contract.FIELDS_BY_NAME['intent_to_leave'].description}”): answers "
                f"{', '.join(contract.INTENT_TO_LEAVE_LABELS)}; the rate counts answers from "
                f"“{contract.INTENT_TO_LEAVE_LABELS[contract.ITL_THRESHOLD - 1]}” up. It is a stated intention: "
                "most people who say it do not leave, so it is never shown as a number of leavers.")  # fmt: skip
with tabs[2]:
    st.subheader("Attrition risk")
    st.markdown(risk.__doc__)
    st.subheader("Drivers (predictive importance, not causes)")
    st.markdown(drivers.__doc__)
    st.subheader("Retention options: the stated causal structure")
    st.markdown(
        "For each option: what it changes, what moves in consequence (on its path, never adjusted away when "
        "estimating its total effect), and what comes before it (adjusted for). " + scenarios.CAVEAT
    )
    st.dataframe(
        scenarios.causal_structure()
        .rename(
            columns={
                "label": "Option",
                "kind": "Estimated by",
                "sets": "Changes",
                "on_path": "Moves in consequence",
                "adjusted_for": "Adjusted for",
                "how": "How",
            }  # fmt: skip
        )
        .drop(columns=["lever"]),
        hide_index=True,
    )
    st.caption(scenarios.E_VALUE_NOTE)
with tabs[3]:
    st.markdown(f"The anonymity threshold is **{k}** respondents now (set on the Settings page, never below 3).")
    st.markdown(privacy.__doc__)
    st.subheader("All tables together: the attacker's test")
    st.markdown(joint.__doc__)
    st.subheader("From one build to the next")
    st.markdown(release_history.__doc__)
with tabs[4]:
    st.dataframe(queries.benchmarks(), hide_index=True)
with tabs[5]:
    st.dataframe(charts.settings_definitions(SETTINGS_BY_KEY.values(), data.settings_values()), hide_index=True)
