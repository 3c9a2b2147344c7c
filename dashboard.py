"""Streamlit entry point: a router over page functions (pages live in monitors/ui)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Event Health Monitor", page_icon="📈", layout="wide")


def placeholder() -> None:
    """Until the dashboard issue: say where the data is."""
    st.title("Event Health Monitor")
    st.write("The dashboard is being built. Use `python -m monitors metrics --db URL` meanwhile.")


st.navigation([st.Page(placeholder, title="Overview", default=True)]).run()
