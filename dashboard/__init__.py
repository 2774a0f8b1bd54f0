"""The Streamlit dashboard: pages lay out, `dashboard.data` reads, `pipelines` computes."""
