"""Reports: the board report, workbook, slides and CSV extracts for the current scope, built on click."""

import streamlit as st

from dashboard import components, data, filters

FORMATS = {
    "pdf": ("Board report (PDF)", "Cover, executive summary, risk, drivers, intentions, scenarios, trends, methods."),
    "xlsx": ("Excel workbook", "A README sheet and one formatted sheet per released table."),
    "pptx": ("Slide deck (PowerPoint)", "Eight or nine slides a leader can present as they are."),
    "csv": ("CSV extracts (zip)", "One CSV per released table with n and suppressed, plus a manifest."),
}

st.title("Reports")
f = filters.sidebar()
k = data.min_group_size()
scope = " / ".join(p for p in (f.site, f.department) if p) or "the whole organisation"
st.markdown(f"Exports for **{components.escape_markdown(scope)}**, wave **{f.wave}** (earlier waves for trends).")
if f.role:
    st.caption("Exports cover every role of the scope; the role filter narrows the screen only.")
st.caption(
    f"Every file is built from the released tables only: groups under {k} respondents (10 for leave paths "
    "and reasons) stay hidden exactly as on screen, and each export is written to the audit log."
)

scope_key = (f.wave, f.site, f.department)  # a file built for another scope is not offered here
for fmt, (label, blurb) in FORMATS.items():
    with st.container(border=True):
        left, right = st.columns([3, 1])
        left.markdown(f"**{label}**  \n{blurb}")
        if right.button("Build", key=f"build_{fmt}", width="stretch"):
            bar = st.progress(0.0, text=f"Building the {label.lower()}…")
            try:
                content, file_name, mime = data.export(
                    fmt,
                    wave=f.wave,
                    site=f.site,
                    department=f.department,
                    actor=components.current_user(),
                    progress=lambda fraction, text, bar=bar: bar.progress(
                        min(max(float(fraction), 0.0), 1.0), text=text
                    ),
                )
            except ValueError as exc:  # reports.ScopeError: a scope that is not released
                bar.empty()
                st.error(str(exc))
            else:
                bar.empty()
                st.session_state[f"export_{fmt}"] = (scope_key, content, file_name, mime)
        built = st.session_state.get(f"export_{fmt}")
        if built and built[0] == scope_key:
            _, content, file_name, mime = built
            right.download_button("Download", content, file_name=file_name, mime=mime, key=f"download_{fmt}",
                                  width="stretch")  # fmt: skip
            left.caption(f"Ready: {file_name} ({len(content) / 1024:,.0f} KB)")
