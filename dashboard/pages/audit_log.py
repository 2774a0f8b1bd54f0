"""Audit log (admins): who signed in, uploaded, deleted, replaced a wave, exported or changed settings."""

import datetime as dt

import streamlit as st

from dashboard import components, data

st.title("Audit log")
st.caption("Every sign-in, upload, deletion, wave replacement, export and settings change, newest first.")
left, middle, right = st.columns(3)
since = left.date_input("Since", value=dt.date.today() - dt.timedelta(days=30), key="audit_since")
all_entries = data.audit_entries()
actions = sorted(all_entries["action"].dropna().unique().tolist())
action = middle.selectbox("Action", ["", *actions], format_func=lambda a: a or "All actions", key="audit_action")
actor = right.text_input("User (exact e-mail or name)", key="audit_actor").strip()
entries = data.audit_entries(since=dt.datetime.combine(since, dt.time.min), action=action, actor=actor)
if entries.empty:
    components.empty("No audit entries match these filters.")
    st.stop()
st.markdown(f"**{len(entries):,} entries**")
st.dataframe(entries, hide_index=True, width="stretch")
components.csv_download(entries, label="Download CSV", file_name=f"audit-log-since-{since}.csv", key="audit_csv")
