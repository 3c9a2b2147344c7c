"""Event detail: volume with the expected band and incidents, latency per hop with the SLO,
conformance, violations with redacted samples, and the evidence of its findings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from monitors.ui import charts, common, data
from monitors.ui.charts import Incident
from monitors.ui.queries.event import EventDetail
from monitors.ui.queries.findings import finding_link


def _pick(choices: pd.DataFrame) -> tuple[str, str, str] | None:
    events = sorted(choices["event"].unique())
    cols = st.columns([3, 2, 2])
    event = cols[0].selectbox("Event", events, key="event", bind="query-params")
    if event is None:
        return None
    mine = choices[choices["event"] == event]
    source = cols[1].selectbox("Source", sorted(mine["source"].unique()), key="source", bind="query-params")
    envs = sorted(mine.loc[mine["source"] == source, "environment"].unique())
    environment = cols[2].selectbox("Environment", envs, key="env", bind="query-params")
    if source is None or environment is None:
        return None
    return str(source), str(environment), str(event)


def _incidents(detail: EventDetail) -> list[Incident]:
    return [Incident(f.started_at, f.ended_at, f"{f.severity} {f.kind}: {f.title}") for f in detail.findings]


def _violations(detail: EventDetail, width_label: str) -> None:
    st.subheader("Violations")
    if detail.violation_totals.empty:
        st.success("No tracking-plan violations in this window.")
        return
    common.chart(charts.violations_chart(detail.violations, width_label), "violations_chart")
    st.dataframe(detail.violation_totals, hide_index=True, key="violation_totals", column_config={
        "vtype": st.column_config.TextColumn("type"), "property": st.column_config.TextColumn("property"),
        "count": st.column_config.NumberColumn("events")})  # fmt: skip
    for (vtype, prop), part in detail.samples.groupby(["vtype", "property"], sort=True):
        with st.expander(f"Samples: {common.md(vtype)} {common.md(prop)}".strip()):
            for sample in part["sample"]:
                st.code(sample, language="json", wrap_lines=True)


def _findings(detail: EventDetail) -> None:
    st.subheader("Findings and evidence")
    if not detail.findings:
        st.success("No findings for this event in this window.")
        return
    for f in reversed(detail.findings):
        with st.expander(f"{f.severity} · {f.status} · {common.md(f.kind)} — {common.md(f.title)}"):
            st.text(f"{f.started_at:%Y-%m-%d %H:%M} UTC → {f'{f.ended_at:%Y-%m-%d %H:%M} UTC' if f.ended_at else 'ongoing'}")
            if f.kind == "event_rename":
                st.text(f"renamed: {f.evidence.get('from', '?')} → {f.evidence.get('to', '?')}")
            st.json(f.evidence, expanded=1)
            st.link_button("Open the finding", finding_link(f.fingerprint))


def render() -> None:
    """Draw the page."""
    st.title("Event detail")
    choices = data.series_choices()
    if choices.empty:
        st.info("No events yet.")
        return
    picked = _pick(choices)
    if picked is None:
        st.info("Pick an event.")
        return
    win = common.current_window()
    common.caption_window(win)
    detail = data.event_detail(*picked, data.args_of(win))
    st.subheader("Volume")
    common.chart(charts.volume_chart(detail.counts, detail.band, _incidents(detail), win.width_label,
                                     right_edge=win.end), "volume_chart")  # fmt: skip
    if detail.band.empty:
        st.caption("No expected band yet (the volume detector needs history before it draws one).")
    st.subheader("Latency")
    if detail.latency.empty:
        st.info("No latency data in this window.")
    else:
        common.chart(charts.latency_chart(detail.latency, detail.slo_s, detail.slo_hop), "latency_chart")
    st.subheader("Conformance")
    common.chart(charts.conformance_chart(detail.counts), "conformance_chart")
    _violations(detail, win.width_label)
    _findings(detail)
