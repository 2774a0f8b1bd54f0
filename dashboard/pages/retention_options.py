"""Retention options: choose levers, set who is eligible and what they cost, see what they might save."""

import json

import streamlit as st

from dashboard import components, data, filters, queries
from pipelines import charts

st.title("Retention options")
f = filters.sidebar()
k = data.min_group_size()
st.warning(
    "These are planning estimates. For drop night call, reduced FTE and EHR support the effect comes from how "
    "intent to leave differs between people with and without that burden in this survey: an association, "
    "not proof that the option causes the change. The other options use the retention rate you assume. "
    "Use the ranges, not the single numbers.",
    icon=":material/warning:",
)
if queries.group_hidden(f):
    components.empty(
        f"{components.escape_markdown(f.describe()).capitalize()} is hidden to protect confidentiality "
        f"(fewer than {k} respondents, or showing it would reveal a smaller group), so no scenario can be run for it."
    )
    st.stop()


def components_step(param: dict) -> tuple[float, str]:
    """Input step and format for a lever parameter: shares, money, counts or hours."""
    if param["max"] <= 1:
        return 0.05, "%.2f"
    if param["max"] >= 1e5:
        return 1000.0, "%.0f"
    if float(param["default"]).is_integer():
        return 1.0, "%.0f"
    return 0.1, "%.1f"


library = {lever["key"]: lever for lever in queries.lever_library()}
chosen = st.multiselect(
    "Options to test",
    list(library),
    default=["dropped_call", "ehr_support"],
    format_func=lambda key: library[key]["label"],
    key="ro_levers",
)
levers = []
for key in chosen:
    lever = library[key]
    with st.expander(lever["label"], expanded=len(chosen) <= 2):
        st.markdown(f"**Who is eligible:** {lever['eligibility']}")
        params = {}
        columns = st.columns(min(len(lever["parameters"]), 3))
        for i, p in enumerate(lever["parameters"]):
            step, fmt = components_step(p)
            params[p["key"]] = columns[i % len(columns)].number_input(
                p["label"],
                min_value=float(p["min"]),
                max_value=float(p["max"]),
                value=float(p["default"]),
                step=step,
                format=fmt,
                key=f"ro_{key}_{p['key']}",
            )
        st.markdown(
            f"**Published evidence:** {lever['published_effect']}  \n**Strength of evidence:** {lever['evidence']}"
        )
        st.caption(lever["caveat"])
    levers.append({"key": key, "params": params})

config = json.dumps({"levers": levers, "filters": f.as_dict()}, sort_keys=True)
if st.button("Run scenario", type="primary", disabled=not levers, key="ro_run"):
    st.session_state["ro_config"] = config
last = st.session_state.get("ro_config")
if not levers:
    components.empty("Choose at least one option to test.")
elif last is None:
    st.caption("Set the options above, then run the scenario.")
else:
    if last != config:
        st.caption("The options or filters changed since the last run: results below are for the last run.")
    spec = json.loads(last)
    run_filters = filters.Filters(**spec["filters"])
    try:
        with st.spinner("Estimating the options (model refits and bootstrap)…"):
            results = queries.run_scenario(spec["levers"], run_filters)
    except ValueError as exc:
        components.empty(str(exc))
        st.stop()
    st.subheader(f"Results for {components.escape_markdown(run_filters.describe())}, wave {run_filters.wave}")
    cards = charts.option_cards(results, spec["levers"])
    icons = {"pays": ":material/check_circle:", "loses": ":material/cancel:", "unclear": ":material/help:"}
    for start in range(0, len(cards), 3):
        row = cards[start : start + 3]
        for column, card in zip(st.columns(3), row, strict=False):
            with column.container(border=True):
                st.markdown(f"**{components.escape_markdown(card.label)}**")
                if card.verdict == "hidden":
                    st.caption(components.escape_markdown(card.headline) or "Hidden to protect confidentiality.")
                    continue
                st.metric("Net value over the horizon", card.net, help=card.net_interval)
                st.caption(components.escape_markdown(card.net_interval))
                st.markdown(f"{icons.get(card.verdict, '')} {components.escape_markdown(card.headline)}")
                for line in card.break_even:
                    st.markdown(components.escape_markdown(line))
    with st.expander("Scenario totals: eligible people, intent to leave, departures and costs"):
        tiles = charts.scenario_tiles(results)
        components.tile_row(tiles[:3])
        components.tile_row(tiles[3:])
    components.chart(
        charts.scenario_figure(results),
        charts.scenario_table(results),
        key="ro_results",
        caption="Bars: replacement cost avoided (with 95% interval) against programme cost over the planning "
        "horizon. The table lists every option with its intervals and the published evidence beside it.",
    )
    with st.form("ro_save", clear_on_submit=False, border=False):
        name = st.text_input("Save this scenario as", max_chars=80, key="ro_name", placeholder="e.g. Call relief 2026")
        if st.form_submit_button("Save scenario"):
            try:
                queries.save_scenario(name, spec["levers"], run_filters, results)
                st.success(f"Saved “{components.escape_markdown(name.strip())}”.")
            except ValueError as exc:
                st.error(str(exc))

st.subheader("Compare saved scenarios")
saved = queries.saved_scenarios()
if saved.empty:
    components.empty("No saved scenarios yet. Run one above and save it to compare it with others.")
else:
    names = st.multiselect(
        "Scenarios",
        saved["name"].tolist(),
        default=saved["name"].tolist()[:3],
        key="ro_compare",
    )
    if names:
        compare = queries.compare_scenarios(names)
        components.chart(
            charts.scenario_compare_figure(compare, names),
            charts.scenario_compare_table(compare, names),
            key="ro_compare_chart",
            caption="Net saving of each scenario (all its options together) with its 95% interval.",
        )
    with st.expander("All saved scenarios"):
        st.dataframe(saved, hide_index=True)
