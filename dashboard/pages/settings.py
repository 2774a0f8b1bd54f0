"""Settings: the anonymity threshold and the other registered assumptions, with their sources."""

import streamlit as st

from dashboard import components, data
from pipelines.models import assumptions  # noqa: F401  (registers the cost and conversion assumptions)
from pipelines.store.settings import SETTINGS_BY_KEY

st.title("Settings")
st.caption("Saving rebuilds every released table with the new values, so all pages and exports agree.")
if done := st.session_state.pop("settings_done", None):
    st.success(done, icon=":material/check_circle:")
current = data.settings_values()
with st.form("settings"):
    chosen = {}
    for key, setting in SETTINGS_BY_KEY.items():
        is_int = isinstance(setting.default, int) and not isinstance(setting.default, bool)
        cast = int if is_int else float
        left, right = st.columns([1, 2])
        chosen[key] = left.number_input(
            key.replace("_", " ").capitalize(),
            value=cast(current[key]),
            min_value=None if setting.minimum is None else cast(setting.minimum),
            max_value=None if setting.maximum is None else cast(setting.maximum),
            step=1 if is_int else None,
            key=f"setting_{key}",
        )
        right.markdown(f"{setting.description}  \n*Default {setting.default}.* {setting.source}")
    submitted = st.form_submit_button("Save and rebuild", type="primary", icon=":material/save:")
if submitted:
    changed = {k: v for k, v in chosen.items() if v != current[k]}
    if not changed:
        st.info("Nothing changed.")
    else:
        try:
            with st.spinner("Saving and rebuilding the released tables…"):
                problem = data.save_settings(changed, actor=components.current_user())
        except ValueError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            if problem:
                st.warning(problem, icon=":material/warning:")
                st.stop()
            st.session_state["settings_done"] = f"Saved {', '.join(changed)} and rebuilt the released tables."
            st.rerun()
