"""Attrition risk: where stated intent to leave concentrates, what it could cost, and how far to trust the model."""

import streamlit as st

from dashboard import components, data, filters, queries
from pipelines import charts

st.title("Attrition risk")
f = filters.sidebar()
who = components.escape_markdown(f.describe())
k = data.min_group_size()
st.info(charts.ITL_NOTE, icon=":material/info:")

if not queries.risk_ready():
    components.empty("The risk model has not been built for this warehouse yet. It is built after each upload.")
    st.stop()
selection = queries.risk_selection(f)
if reason := charts.empty_reason(selection, k, who):
    components.empty(reason)
    st.stop()

tiles, intervals = charts.risk_headline(selection)
st.caption(f"{who[:1].upper()}{who[1:]}, wave {f.wave}.")
components.tile_row(tiles)
st.caption(intervals)

st.subheader("Which units are most at risk")
options = f.breakdown_options()
if not options:
    components.empty("This selection is a single unit: widen the filters to compare units.")
else:
    by = (
        st.segmented_control(
            "Compare units by",
            options,
            default="department" if "department" in options and f.site else options[0],
            format_func=str.capitalize,
            key="risk_by",
        )
        or options[0]
    )
    units = queries.risk_units(f, by)
    if reason := charts.empty_reason(units, k, f"the units of {who}"):
        components.empty(reason)
    else:
        components.chart(
            charts.risk_ranking_figure(units, k),
            charts.risk_table(units, k, queries.observed_itl(f, by)),
            key="risk_ranking",
            static=True,
            caption="Estimated intent to leave = the model's average over the unit's respondents, which "
            "adjusts for role, site and tenure and steadies small units. Dots: estimate; bars: 95% interval. "
            "Vermillion: above the average of these units.",
        )
        st.markdown("**Where the most departures are expected** (large units can carry more than high-rate ones)")
        components.chart(
            charts.departures_by_unit_figure(units, k),
            charts.risk_table(units, k, queries.observed_itl(f, by)),
            key="risk_departures_units",
            static=True,
            caption="Bars: expected departures in two years with 95% interval = headcount × converted intent "
            "to leave; labels: replacement-cost exposure.",
        )
        components.confidentiality_note(k)

st.subheader("Expected departures and replacement cost by role")
roles = queries.risk_by_role(f)
if reason := charts.empty_reason(roles, k, f"the roles of {who}"):
    components.empty(reason)
else:
    components.chart(
        charts.departures_by_role_figure(roles, k),
        charts.departures_table(roles, k),
        key="risk_roles",
        static=True,
        caption="Bars: expected departures in two years with 95% interval; labels: replacement-cost exposure. "
        "Headcount comes from the roster where one was uploaded, otherwise respondents stand in for it.",
    )
with st.expander("The assumptions behind these numbers, and their sources"):
    st.markdown(
        "Expected departures = headcount × [estimated ITL × P(leave | ITL) + (1 − estimated ITL) × "
        "P(leave | no ITL)]; cost exposure = expected departures × replacement cost of the role. "
        "An administrator can change every value on the Settings page."
    )
    st.dataframe(queries.departure_assumptions(), hide_index=True)

st.subheader("Was the forecast right? Predicted against actual departures")
if not queries.turnover_ready():
    components.empty(charts.TURNOVER_EMPTY)
else:
    periods = queries.turnover_periods(f)
    if not periods:
        components.empty(
            f"No released turnover check for {who}: the group is hidden to protect confidentiality, or the "
            "uploaded turnover does not cover it. Widen the filters."
        )
    else:
        period = st.segmented_control("Turnover period", periods, default=periods[0], key="risk_turnover_period")
        period = period or periods[0]
        history = queries.turnover_selection(f)
        check_tiles, check_line = charts.turnover_headline(history, period)
        if check_tiles:
            components.tile_row(check_tiles)
            st.caption(check_line)
        else:
            components.empty(
                f"The leavers of {who} in {period} are hidden to protect confidentiality "
                f"(fewer than {k} people, or so few that the rate would show who left)."
            )
        options = f.breakdown_options()
        if options:
            by_t = (
                st.segmented_control(
                    "Compare units by",
                    options,
                    default="department" if "department" in options and f.site else options[0],
                    format_func=str.capitalize,
                    key="risk_turnover_by",
                )
                or options[0]
            )
            check_units = queries.turnover_units(f, by_t, period)
            if reason := charts.empty_reason(check_units, k, f"the units of {who} in {period}"):
                components.empty(reason)
            else:
                components.chart(
                    charts.turnover_check_figure(check_units, k),
                    charts.turnover_check_table(check_units, k),
                    key="risk_turnover_units",
                    static=True,
                    caption="Dots: actual ÷ forecast leavers (1 = as forecast), bars: 95% interval. Vermillion: more "
                    "people left than the forecast's 95% range allows (conversion-rate uncertainty and chance "
                    "included); blue: fewer; light blue: within. A unit's leavers are shown only where its "
                    "survey figures would be.",
                )
        with st.expander("Every period for this selection"):
            st.dataframe(charts.turnover_periods_table(history, k), hide_index=True)
    conversion = queries.turnover_conversion()
    if conversion is not None:
        st.markdown("**What your own turnover says about converting intent into departures**")
        components.chart(
            charts.conversion_figure(conversion),
            charts.conversion_table(conversion),
            key="risk_conversion",
            static=True,
            caption=charts.conversion_sentence(conversion)
            + " The forecast above uses the rates in Settings; an administrator can adopt the learnt ones there.",
        )

quality = queries.model_quality(f.wave)
if quality is not None and quality.get("drift_warning"):
    st.warning(f"**The model has drifted.** {quality['drift_warning']}")
with st.expander("How good is the model? (cross-validated, and checked on the next wave)"):
    if quality is None:
        components.empty(
            "No model quality figures are stored for this wave yet."
            if data.scope().everything
            else "Model quality figures are organisation-wide, so they are shown only to organisation-wide viewers."
        )
    else:
        verdict = str(quality.get("verdict") or "")
        (st.success if verdict.startswith("Well") else st.warning)(verdict)
        summary = charts.model_quality_summary(quality)
        for column, (label, value) in zip(st.columns(len(summary)), summary.items(), strict=True):
            column.metric(label, value)
        st.caption(
            "AUROC: how well the model ranks people who state intent to leave above those who do not "
            "(0.5 = chance, 1 = perfect). Observed/expected near 1 and a calibration slope near 1 mean "
            "the estimated rates match what respondents said. Figures come from 5-fold cross-validation."
        )
        if quality.get("previous_wave"):
            prev = {
                "AUROC": quality.get("previous_auroc"),
                "Observed/expected": quality.get("previous_observed_expected"),
                "Calibration slope": quality.get("previous_calibration_slope"),
            }
            st.markdown(
                f"**Last wave's model ({quality['previous_wave']}) scored on this wave:** "
                + ", ".join(f"{k} {'n/a' if charts.is_missing(v) else f'{float(v):.2f}'}" for k, v in prev.items())
                + (
                    ". It drifted: refitting on this wave changed the picture."
                    if quality.get("drift")
                    else ". No drift."
                )
            )
        components.chart(
            charts.calibration_figure(quality["curve"]), quality["curve"], key="risk_calibration", static=True
        )
