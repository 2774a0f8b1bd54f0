"""Uploads & waves: what is in the warehouse, delete an upload, replace a wave, load a roster or turnover."""

import streamlit as st

from dashboard import components, data

st.title("Uploads & waves")
if done := st.session_state.pop("uploads_done", None):
    st.success(done[0], icon=":material/check_circle:")
    for warning in done[1]:
        st.warning(warning, icon=":material/warning:")
history = data.uploads()
if history.empty:
    components.empty("Nothing has been uploaded yet. Start on the Upload page.")
    st.page_link("dashboard/pages/upload.py", label="Upload a survey wave", icon=":material/upload_file:")
    st.stop()

# Waves whose newest figures are held back (pipelines/release/history.py): say why, on this page.
from pipelines.release import history as release_history  # noqa: E402

for hold in data.with_connection(release_history.read_holds).itertuples():
    st.warning(f"Wave {hold.wave}: the pages still show the previous figures. {hold.reason[0].upper()}{hold.reason[1:]}.",
               icon=":material/lock:")  # fmt: skip

shown = history[["upload_id", "kind", "wave", "file_name", "detected_format", "uploaded_by", "uploaded_at",
                 "rows_loaded", "rows_rejected"]]  # fmt: skip
st.dataframe(shown, hide_index=True, column_config={
    "upload_id": "Upload", "kind": "Kind", "wave": "Wave", "file_name": "File", "detected_format": "Format",
    "uploaded_by": "By", "uploaded_at": st.column_config.DatetimeColumn("When", format="YYYY-MM-DD HH:mm"),
    "rows_loaded": "Rows loaded", "rows_rejected": "Rows rejected"})  # fmt: skip

delete, replace, roster = st.columns(3)
with delete.container(border=True):
    st.markdown("**Delete an upload**")
    labels = {r.upload_id: f"{r.wave or 'roster'} · {r.file_name} · {r.upload_id}" for r in history.itertuples()}
    chosen = st.selectbox("Upload", list(labels), format_func=labels.get, key="delete_choice")
    sure = st.checkbox("Yes, delete it and every response it brought", key="delete_sure")
    if st.button("Delete", disabled=not sure, type="primary", icon=":material/delete:"):
        with st.spinner("Deleting and rebuilding the released tables…"):
            outcome = data.delete_upload(chosen, actor=components.current_user())
        message = f"Deleted {outcome['file_name']} ({outcome['rows_removed']:,} rows)."
        st.session_state["uploads_done"] = (message, [p for p in [outcome["rebuild_problem"]] if p])
        st.rerun()
with replace.container(border=True):
    st.markdown("**Replace a wave**")
    waves = sorted({w for w in history["wave"].dropna()}, reverse=True)
    wave = st.selectbox("Wave", waves, key="replace_wave")
    st.caption("Upload the corrected file; the wave's earlier uploads are removed in the same step.")
    st.page_link("dashboard/pages/upload.py", label="Upload a replacement", icon=":material/swap_horiz:",
                 query_params={"wave": wave, "replace": "1"})  # fmt: skip
with roster.container(border=True):
    st.markdown("**Headcount roster**")
    file = st.file_uploader("Roster (site, department, role, headcount[, replacement_cost][, wave])",
                            type=["csv", "xlsx"], key=f"roster_{st.session_state.get('roster_nonce', 0)}")  # fmt: skip
    if file is not None and st.button("Load roster", icon=":material/group_add:"):
        with st.spinner("Loading the roster and rebuilding…"):
            result = data.load_headcount(file.getvalue(), file.name, components.current_user())
        if result.status == "loaded":
            st.session_state["uploads_done"] = (f"Loaded a roster of {result.rows_loaded} units.", result.warnings)
            st.session_state["roster_nonce"] = st.session_state.get("roster_nonce", 0) + 1
            st.rerun()
        for error in result.errors:
            st.error(error, icon=":material/error:")
with st.container(border=True):
    st.markdown("**Actual turnover** (checks the departure forecast on the Attrition-risk page)")
    file = st.file_uploader("Separations per unit and period (site, department, role, period, headcount_at_start, "
                            "leavers[, voluntary_leavers][, involuntary_leavers][, period_months])",
                            type=["csv", "xlsx"], key=f"turnover_{st.session_state.get('turnover_nonce', 0)}")  # fmt: skip
    st.caption("A unit's leaver count is as confidential as a survey answer: it is shown only under the same "
               "rules. A file replaces the rows of the periods it holds. Format: docs/turnover.md.")  # fmt: skip
    if file is not None and st.button("Load turnover", icon=":material/trending_down:"):
        with st.spinner("Loading the turnover file and rebuilding…"):
            result = data.load_turnover(file.getvalue(), file.name, components.current_user())
        if result.status == "loaded":
            st.session_state["uploads_done"] = (
                f"Loaded turnover for {result.wave}: {result.rows_loaded} unit-period rows.",
                result.warnings,
            )
            st.session_state["turnover_nonce"] = st.session_state.get("turnover_nonce", 0) + 1
            st.rerun()
        for error in result.errors:
            st.error(error, icon=":material/error:")
