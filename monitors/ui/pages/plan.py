"""Tracking plan: planned vs seen events and properties, coverage, near-duplicate names."""

from __future__ import annotations

import streamlit as st

from monitors.ui import common, data

STATUS = st.column_config.TextColumn("status")


def render() -> None:
    """Draw the page."""
    st.title("Tracking plan")
    win = common.current_window()
    common.caption_window(win)
    view = data.plan_view(data.args_of(win))
    st.caption(f"plan: {common.md(view.name)}")
    cov = view.coverage
    cols = st.columns(4)
    cols[0].metric("Planned events seen", f"{cov['planned_events_seen']:.0%}")
    cols[1].metric("Seen events planned", f"{cov['seen_events_planned']:.0%}")
    cols[2].metric("Planned properties seen", f"{cov['planned_properties_seen']:.0%}")
    cols[3].metric("Traffic on planned events", f"{cov['traffic_planned']:.1%}")
    st.subheader("Events")
    st.dataframe(view.events, hide_index=True, key="plan_events", column_config={
        "event": st.column_config.TextColumn("event", pinned=True), "status": STATUS,
        "count": st.column_config.NumberColumn("events", format="compact")})  # fmt: skip
    st.subheader("Near-duplicate names")
    if view.near_duplicates.empty:
        st.success("No near-duplicate event names.")
    else:
        st.dataframe(view.near_duplicates, hide_index=True, key="plan_duplicates", column_config={
            "a": st.column_config.TextColumn("name"), "b": st.column_config.TextColumn("looks like"),
            "reason": st.column_config.TextColumn("why")})  # fmt: skip
    st.subheader("Properties")
    only = st.segmented_control("Show", ["problems", "all"], default="problems", key="plan_props_filter")
    props = view.properties if only == "all" else view.properties[view.properties["status"] != "ok"]
    st.dataframe(props, hide_index=True, key="plan_properties", column_config={
        "event": st.column_config.TextColumn("event", pinned=True), "property": st.column_config.TextColumn("property"),
        "status": STATUS, "count": st.column_config.NumberColumn("events", format="compact")})  # fmt: skip
