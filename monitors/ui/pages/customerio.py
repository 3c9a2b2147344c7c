"""Customer.io: sent vs received, failed events, attribute flapping, delivery failures by
channel, and the App API collector's health."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from monitors.ui import charts, common, data


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if hasattr(value, "strftime") else "never"


def _health(view_health: list[dict[str, object]], runs: list[dict[str, object]]) -> None:
    st.subheader("App API health")
    if not view_health:
        st.info("The collector has not run yet.")
    for h in view_health:
        st.text(f"{h['workspace']}: {h['status']} — {h['message']}")
        st.caption(f"last success {_when(h['last_success_at'])}; {h['requests']} requests, "
                   f"{h['rate_limited']} rate-limited")  # fmt: skip
    if runs:
        cols = ["started_at", "status", "pages", "activities", "requests", "rate_limited", "retries", "complete", "message"]
        st.dataframe(pd.DataFrame(runs)[cols], hide_index=True, key="cio_runs", column_config={
            "started_at": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss", timezone="UTC"),
            "message": st.column_config.TextColumn("message", width="large")})  # fmt: skip


def render() -> None:
    """Draw the page."""
    st.title("Customer.io")
    win = common.current_window()
    common.caption_window(win)
    view = data.customerio(data.args_of(win))
    if not view.configured and view.delivery.empty and not view.health:
        st.info("Customer.io is not configured: add a `customerio:` section (see docs/customerio.md).")
        return
    if view.workspace:
        st.caption(f"workspace {common.md(view.workspace)}")
    st.subheader("Sent vs received")
    if view.delivery.empty:
        st.info("No reconciliation yet in this window.")
    else:
        common.chart(charts.delivery_chart(view.delivery, win.width_label), "delivery_chart")
        st.dataframe(view.per_event, hide_index=True, key="cio_per_event", column_config={
            "event": st.column_config.TextColumn("event", pinned=True),
            "ratio": st.column_config.ProgressColumn("received ÷ sent", min_value=0.0, max_value=1.0, format="percent"),
            "latency_avg_s": st.column_config.NumberColumn("avg latency", format="%.1f s")})  # fmt: skip
    cols = st.columns(2)
    with cols[0]:
        st.subheader("Failed events")
        if view.failed_events.empty:
            st.success("Customer.io rejected no events.")
        else:
            st.dataframe(view.failed_events, hide_index=True, key="cio_failed",
                         column_config={"name": st.column_config.TextColumn("event")})  # fmt: skip
    with cols[1]:
        st.subheader("Attribute flapping")
        if view.flapping.empty:
            st.success("No attribute flapping.")
        else:
            st.dataframe(view.flapping, hide_index=True, key="cio_flapping",
                         column_config={"attribute": st.column_config.TextColumn("attribute")})  # fmt: skip
    st.subheader("Message outcomes by channel")
    if view.channels.empty:
        st.info("No messages sent in this window.")
    else:
        common.chart(charts.channel_chart(view.channels), "channel_chart")
        failures = view.channels[view.channels["failure"]]
        st.dataframe(failures if not failures.empty else view.channels, hide_index=True, key="cio_channels")
    _health(view.health, view.runs)
