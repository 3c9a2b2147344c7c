"""What the router needs: start-up checks and login, the page list, the shared sidebar."""

from __future__ import annotations

from typing import Any

import streamlit as st

from monitors.errors import EHMError
from monitors.ui import auth, common, data
from monitors.ui.app_state import set_user
from monitors.ui.pages import customerio, event, findings, latency, operations, overview, plan


def start() -> None:
    """Load the config and the store, then the login gate; stops with a clear message on failure."""
    try:
        cfg = data.config()
    except EHMError as exc:
        st.error(f"Configuration problem: {exc}")
        st.stop()
    set_user(auth.gate(cfg.dashboard.auth))
    try:
        data.store()
    except EHMError as exc:
        st.error(str(exc))
        st.stop()


def pages() -> dict[str, list[Any]]:
    """Every page, by section; the overview is the home page."""
    return {
        "Monitor": [
            st.Page(overview.render, title="Overview", icon=":material/dashboard:", url_path="overview", default=True),
            st.Page(event.render, title="Event detail", icon=":material/query_stats:", url_path="event"),
            st.Page(findings.render, title="Findings", icon=":material/notification_important:", url_path="findings"),
        ],
        "Review": [
            st.Page(latency.render, title="Weekly latency review", icon=":material/timer:", url_path="latency"),
            st.Page(customerio.render, title="Customer.io", icon=":material/mail:", url_path="customerio"),
        ],
        "Operate": [
            st.Page(operations.render, title="Sources and jobs", icon=":material/settings:", url_path="operations"),
            st.Page(plan.render, title="Tracking plan", icon=":material/checklist:", url_path="plan"),
        ],
    }


def sidebar() -> None:
    """The shared time range and the logout button."""
    common.range_control()
    auth.logout_button()
