"""Session values shared by the router and the pages (kept apart to avoid import cycles)."""

from __future__ import annotations

import streamlit as st

USER_KEY = "ehm_current_user"


def set_user(name: str | None) -> None:
    """Remember who signed in (None: the dashboard is open)."""
    st.session_state[USER_KEY] = name


def current_user() -> str | None:
    """The signed-in user (None when the dashboard is open)."""
    value = st.session_state.get(USER_KEY)
    return str(value) if value else None
