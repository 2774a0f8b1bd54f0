"""Production entry point: `streamlit run serve.py` serves streamlit_app.py, warmed up first.

`streamlit run streamlit_app.py` works too; this adds one thing through Streamlit's st.App
lifespan hook: before the server reports healthy it imports the page modules and reads the
current build's released tables (dashboard.data.warm_up), so the first leader of the morning
does not wait about a second for that (benchmarks/NOTES.md, "first complete render"). A
warehouse that still needs the first-run sample is left to the first visit, which shows a spinner.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import streamlit as st


@contextlib.asynccontextmanager
async def lifespan(_app):
    from dashboard import data

    await asyncio.to_thread(data.warm_up)
    yield


app = st.App(Path(__file__).with_name("streamlit_app.py"), lifespan=lifespan)
