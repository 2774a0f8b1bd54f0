"""Upload: check a survey export (dry run), fix its column mapping, then load it as one wave."""

import json

import pandas as pd
import streamlit as st

from dashboard import components, data
from pipelines import contract

FORMATS = {"auto": "Detect automatically", "canonical": "Canonical CSV", "qualtrics": "Qualtrics export",
           "redcap": "REDCap export", "xlsx": "Excel workbook"}  # fmt: skip
DROP = "(drop this column)"
TARGETS = [DROP, *contract.FIELD_NAMES, *(f"leave_reasons:{r}" for r in contract.LEAVE_REASONS)]

st.title("Upload a survey wave")
if done := st.session_state.pop("upload_done", None):
    st.success(done[0], icon=":material/check_circle:")
    for warning in done[1]:
        st.warning(warning, icon=":material/warning:")
max_mb = int(data.settings_values()["max_upload_mb"])
nonce = st.session_state.setdefault("upload_nonce", 0)  # a new key empties the uploaders after a load
file = st.file_uploader("Survey file (CSV or Excel)", type=["csv", "tsv", "txt", "xlsx"], max_upload_size=max_mb,
                        key=f"upload_file_{nonce}")  # fmt: skip
left, middle, right = st.columns(3)
wave = left.text_input("Wave", value=st.query_params.get("wave", ""), placeholder="e.g. 2026 or 2026-spring").strip()
fmt = middle.selectbox("Format", list(FORMATS), format_func=FORMATS.get)
replace = right.checkbox("Replace this wave's earlier uploads", value=st.query_params.get("replace") == "1")
with st.expander("Optional: REDCap data dictionary or a mapping file"):
    dictionary = st.file_uploader("REDCap data dictionary (CSV)", type=["csv"], key=f"upload_dict_{nonce}")
    mapping_upload = st.file_uploader("Mapping file (JSON)", type=["json"], key=f"upload_map_{nonce}")
if file is None:
    st.info("Choose a file to check it. Nothing is stored until you press **Load**.")
    st.stop()

content, dictionary_bytes = file.getvalue(), dictionary.getvalue() if dictionary else None
mapping, problem = data.read_mapping(mapping_upload.getvalue()) if mapping_upload else ({}, None)
if problem:
    st.error(problem, icon=":material/error:")
check = dict(file_key=file.file_id, wave=wave, fmt=fmt, dictionary=dictionary_bytes, replace=replace)
result, rejected = data.dry_run_upload(content, file.name, **check)
if not mapping and result.columns and (saved := data.saved_mapping(result.columns)) is not None:
    mapping = json.loads(saved.to_json())
    st.caption("A mapping saved earlier for this file layout was applied.")
mapping_json = json.dumps(mapping) if mapping else None
if mapping_json:
    result, rejected = data.dry_run_upload(content, file.name, mapping_json=mapping_json, **check)

verdict = "ready to load" if result.status == "valid" else "cannot be loaded yet"
st.subheader(f"{result.detected_format.capitalize()} file, {result.rows_read:,} rows: {verdict}")
for error in result.errors:
    st.error(error, icon=":material/error:")
for warning in result.warnings:
    st.warning(warning, icon=":material/warning:")
if result.rows_rejected and rejected:
    st.download_button(f"Download the {result.rows_rejected} rejected rows (CSV)", rejected, "rejected_rows.csv",
                       "text/csv", key="rejected", icon=":material/download:", on_click="ignore")  # fmt: skip

mapped, dropped = st.columns(2)
mapped.markdown("**Columns mapped to the data contract**")
mapped.dataframe(pd.DataFrame(result.mapped_columns, columns=["source_column", "field"]), hide_index=True)
dropped.markdown("**Columns that will not be stored**")
dropped.dataframe(pd.DataFrame(result.dropped_detail, columns=["column", "category", "reason"]), hide_index=True)
if result.preview:
    with st.expander(f"Preview: the first {len(result.preview)} rows as they would be stored"):
        st.dataframe(pd.DataFrame(result.preview), hide_index=True)

unplaced = [d["column"] for d in result.dropped_detail if d["category"] in ("unmapped", "free_text")]
mapped_fields = {m["field"].split(":")[0] for m in result.mapped_columns}
missing = [f for f in contract.REQUIRED_FIELDS if f not in mapped_fields]
if unplaced or missing:
    st.subheader("Fix the mapping")
    current = mapping.get("columns", {})
    editor = pd.DataFrame({"source column": unplaced, "contract field": [current.get(c) or DROP for c in unplaced]})
    edited = st.data_editor(editor, hide_index=True, disabled=["source column"], key="mapping_editor", column_config={
        "contract field": st.column_config.SelectboxColumn(options=TARGETS, required=True)})  # fmt: skip
    constants = {f: st.text_input(f"Same {f} for every row (the file has no {f} column)", key=f"const_{f}").strip()
                 for f in missing}  # fmt: skip
    if st.button("Apply and save this mapping for next time", icon=":material/save:"):
        new = {**mapping, "columns": {**current, **{r["source column"]: None if r["contract field"] == DROP
               else r["contract field"] for r in edited.to_dict("records")}}}  # fmt: skip
        new["constants"] = {**mapping.get("constants", {}), **{f: v for f, v in constants.items() if v}}
        data.save_mapping(result.columns, json.dumps(new), components.current_user())
        st.rerun()

if st.button("Load", type="primary", disabled=result.status != "valid", icon=":material/upload:"):
    bar = st.progress(0.0, "Starting")
    loaded = data.load_upload(content, file.name, wave=wave, fmt=fmt, mapping_json=mapping_json,
                              dictionary=dictionary_bytes, replace=replace, uploaded_by=components.current_user(),
                              progress=lambda fraction, text: bar.progress(min(fraction, 1.0), text))  # fmt: skip
    if loaded.status == "loaded":
        st.session_state["upload_done"] = (f"Loaded {loaded.rows_loaded:,} responses as wave {loaded.wave}.",
                                           loaded.warnings)  # fmt: skip
        st.session_state["upload_nonce"] = nonce + 1
        st.rerun()
    for error in loaded.errors:
        st.error(error, icon=":material/error:")
