"""Small helpers every page uses: the shared time range, text-safe output, charts, the actor."""

from __future__ import annotations

import re
from datetime import datetime

import plotly.graph_objects as go
import streamlit as st

from monitors.timeutil import utcnow
from monitors.ui import data
from monitors.ui.charts import CONFIG
from monitors.ui.config import RANGES
from monitors.ui.window import Window, window

RANGE_KEY = "range"
ACTOR_KEY = "actor"
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:])")


def md(text: object) -> str:
    """Data text for a Markdown element: every Markdown/HTML special character escaped."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def range_control() -> None:
    """The sidebar time range, shared by every page through the URL (``?range=7d``)."""
    default = data.config().dashboard.default_range
    st.sidebar.segmented_control("Time range", RANGES, default=default, key=RANGE_KEY, bind="query-params")


def current_window(now: datetime | None = None) -> Window:
    """The window of the selected range ending now."""
    key = st.session_state.get(RANGE_KEY) or data.config().dashboard.default_range
    stored = data.store().bucket_seconds() or data.config().bucket_seconds
    return window(str(key), now or utcnow(), stored)


def chart(fig: go.Figure, key: str) -> None:
    """Draw a figure full width with the trimmed mode bar."""
    st.plotly_chart(fig, width="stretch", config=CONFIG, key=key, theme=None)


def actor(user: str | None) -> str:
    """Who acts: the signed-in user, else the name typed on the page (kept for the session)."""
    if user:
        st.caption(f"Acting as {md(user)}")
        return user
    return str(st.text_input("Your name (recorded with the action)", key=ACTOR_KEY)).strip()


def caption_window(win: Window) -> None:
    """A caption saying what the page shows."""
    st.caption(f"{win.start:%Y-%m-%d %H:%M} – {win.end:%Y-%m-%d %H:%M} UTC, {win.width_label} buckets")
