"""Sources and jobs: each source's lag and last run, rejects by reason with samples, job
history and errors, the worker leader, alert messages that failed for good."""

from __future__ import annotations

from typing import Any

import streamlit as st

from monitors.timeutil import utcnow
from monitors.ui import common, data
from monitors.ui.queries.operations import Operations


def when(label: str) -> Any:
    """A UTC date-time column."""
    return st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm:ss", timezone="UTC")


RUN_COLUMNS = {
    "job": st.column_config.TextColumn("job", pinned=True), "status": st.column_config.TextColumn("status"),
    "started_at": when("started"),
    "finished_at": when("finished"),
    "seconds": st.column_config.NumberColumn("took", format="%.1f s"), "rows": st.column_config.NumberColumn("rows"),
    "worker": st.column_config.TextColumn("worker"), "token": st.column_config.NumberColumn("leader token"),
    "message": st.column_config.TextColumn("message", width="large"),
    "error": st.column_config.TextColumn("error", width="large"),
}  # fmt: skip


def _sources(ops: Operations) -> None:
    frame = ops.sources
    st.subheader("Sources")
    if frame.empty:
        st.info("No source has been ingested yet.")
        return
    st.dataframe(frame, hide_index=True, key="sources_table", column_config={
        "source": st.column_config.TextColumn("source", pinned=True),
        "latest_bucket": when("latest data"),
        "lag_s": st.column_config.NumberColumn("lag", format="%.0f s", help="now − end of the newest bucket"),
        "last_run_at": when("last run"),
        "last_success_at": when("last success"),
        "error": st.column_config.TextColumn("error", width="large")})  # fmt: skip


def _rejects(ops: Operations) -> None:
    frame = ops.rejects
    st.subheader("Rejected lines")
    if frame.empty:
        st.success("No rejected lines.")
        return
    st.dataframe(frame.drop(columns="samples"), hide_index=True, key="rejects_table", column_config={
        "last_seen_at": when("last seen")})  # fmt: skip
    for row in frame.itertuples(index=False):
        with st.expander(f"Samples: {common.md(row.source)} · {common.md(row.reason)} ({row.count})"):
            for sample in row.samples:
                st.code(sample, language=None, wrap_lines=True)


def render() -> None:
    """Draw the page."""
    st.title("Sources and jobs")
    now = utcnow()
    ops = data.operations(data.minute(now) + now.second // 10 * 10)
    if ops.leader:
        st.text(f"worker leader: {ops.leader['holder']} (token {ops.leader['token']}, "
                f"since {ops.leader['since']:%Y-%m-%d %H:%M:%S} UTC)")  # fmt: skip
    elif not ops.last_runs.empty:
        st.text(f"last job ran on: {ops.last_runs.sort_values('started_at').iloc[-1]['worker']}")
    else:
        st.warning("No worker has run yet: start one with `python -m monitors worker`.")
    _sources(ops)
    _rejects(ops)
    st.subheader("Jobs")
    if ops.last_runs.empty:
        st.info("No job runs recorded.")
    else:
        st.dataframe(ops.last_runs, hide_index=True, column_config=RUN_COLUMNS, key="jobs_last")
        st.caption("Errors, partial and missed runs")
        if ops.errors.empty:
            st.success("No failed runs in the recent history.")
        else:
            st.dataframe(ops.errors, hide_index=True, column_config=RUN_COLUMNS, key="jobs_errors")
        with st.expander("Run history"):
            st.dataframe(ops.history, hide_index=True, column_config=RUN_COLUMNS, key="jobs_history")
    st.subheader("Alert messages that failed")
    if ops.failed_alerts.empty:
        st.success("No alert message failed for good.")
    else:
        st.dataframe(ops.failed_alerts, hide_index=True, key="failed_alerts", column_config={
            "title": st.column_config.TextColumn("title", width="large"),
            "last_error": st.column_config.TextColumn("error", width="large")})  # fmt: skip
