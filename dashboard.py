"""Streamlit entry point: a router over page functions (pages live in monitors/ui/pages).

Run with ``streamlit run dashboard.py``; the config comes from $EHM_CONFIG or ./ehm.yaml and the
database from $EHM_DATABASE_URL or the config.
"""

from __future__ import annotations

import streamlit as st

from monitors.ui import app

st.set_page_config(page_title="Event Health Monitor", page_icon="📈", layout="wide")
app.start()
navigation = st.navigation(app.pages())
app.sidebar()
navigation.run()
