"""Overview: live tiles, journeys at risk, and every event's health at a glance."""

from __future__ import annotations

import math

import streamlit as st

from monitors.timeutil import parse_duration, utcnow
from monitors.ui import common, data

EVENT_COLUMNS = {
    "event": st.column_config.TextColumn("event", pinned=True),
    "source": st.column_config.TextColumn("source"),
    "environment": st.column_config.TextColumn("env"),
    "count": st.column_config.NumberColumn("events", format="compact"),
    "trend": st.column_config.LineChartColumn("volume", y_min=0),
    "volume_ratio": st.column_config.NumberColumn("vs expected", format="percent", help="events ÷ expected band centre"),
    "conformance": st.column_config.ProgressColumn("conformance", min_value=0.9, max_value=1.0, format="percent"),
    "p95_s": st.column_config.NumberColumn("p95 latency", format="%.1f s"),
    "slo_s": st.column_config.NumberColumn("SLO", format="%.0f s"),
    "p95_ok": st.column_config.CheckboxColumn("within SLO"),
    "last_seen": st.column_config.DatetimeColumn("last seen", format="YYYY-MM-DD HH:mm", timezone="UTC"),
    "open_findings": st.column_config.NumberColumn("open findings"),
    "worst_severity": st.column_config.TextColumn("worst"),
    "link": st.column_config.LinkColumn("details", display_text="open"),
}
JOURNEY_COLUMNS = {
    "journey": st.column_config.TextColumn("journey", pinned=True),
    "status": st.column_config.TextColumn("status"),
    "findings": st.column_config.NumberColumn("findings"),
    "worst_severity": st.column_config.TextColumn("worst"),
    "events": st.column_config.TextColumn("trigger / exit events"),
    "reasons": st.column_config.TextColumn("why", width="large"),
}


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2%}"


def live_tiles() -> None:
    """The tiles, refreshed on their own every ``dashboard.refresh`` (the rest of the page is not rerun)."""
    now = utcnow()
    win = common.current_window(now)
    values = data.tiles(data.args_of(win), data.minute(now))
    cols = st.columns(5)
    cols[0].metric("Events", f"{int(values['events']):,}")
    cols[1].metric("Conformance", _pct(values["conformance"]))
    cols[2].metric("Open findings", int(values["open_findings"]))
    cols[3].metric("Critical", int(values["critical"]))
    cols[4].metric("Silent > 1 h", int(values["silent_series"]))
    st.caption(f"updated {now:%H:%M:%S} UTC")


def render() -> None:
    """Draw the page."""
    st.title("Overview")
    win = common.current_window()
    common.caption_window(win)
    st.fragment(run_every=parse_duration(data.config().dashboard.refresh))(live_tiles)()
    journeys = data.journeys()
    st.subheader("Journeys")
    if journeys.empty:
        st.info("No journeys configured: add `journeys:` to the config to see which ones are at risk.")
    else:
        at_risk = int((journeys["status"] == "at risk").sum())
        st.caption(f"{at_risk} of {len(journeys)} journeys at risk")
        st.dataframe(journeys, hide_index=True, column_config=JOURNEY_COLUMNS, key="journeys_table")
    st.subheader("Events")
    table = data.overview(data.args_of(win))
    if table.empty:
        st.info("No events yet: run the worker (`python -m monitors worker`) or `python -m monitors ingest …`.")
        return
    order = ["event", "open_findings", "worst_severity", "count", "trend", "volume_ratio", "conformance", "p95_s",
             "slo_s", "p95_ok", "last_seen", "link", "source", "environment"]  # fmt: skip
    st.dataframe(table, hide_index=True, column_order=order, column_config=EVENT_COLUMNS, key="events_table")
