"""Findings: filter, open one (``?finding=<fingerprint>``, the link alerts carry), and act on it —
acknowledge, snooze, resolve, mark expected — each recorded with who and when."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from monitors.errors import EHMError
from monitors.timeutil import parse_duration, utcnow
from monitors.ui import common, data
from monitors.ui.app_state import current_user
from monitors.ui.queries.findings import BASELINE, Filters, apply_action, finding_link, finding_with_history
from storage.findings_store import FindingAction, StoredFinding

SEVERITIES = ["critical", "warning", "info"]
STATUSES = ["open", "acknowledged", "resolved", "expected"]
SNOOZES = ["1h", "4h", "24h", "3d", "7d"]
RESULT_KEY = "finding_action_result"
TABLE_COLUMNS = {
    "severity": st.column_config.TextColumn("severity"),
    "status": st.column_config.TextColumn("status"),
    "kind": st.column_config.TextColumn("kind"),
    "event": st.column_config.TextColumn("event"),
    "title": st.column_config.TextColumn("title", width="large"),
    "journeys": st.column_config.TextColumn("journeys at risk"),
    "started_at": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm", timezone="UTC"),
    "ended_at": st.column_config.DatetimeColumn("ended", format="YYYY-MM-DD HH:mm", timezone="UTC"),
    "snoozed_until": st.column_config.DatetimeColumn("snoozed until", format="YYYY-MM-DD HH:mm", timezone="UTC"),
    "link": st.column_config.LinkColumn("link", display_text="open"),
}
ORDER = ["severity", "status", "kind", "event", "title", "journeys", "started_at", "ended_at", "snoozed_until", "link"]


def _filters() -> Filters:
    opts = data.filter_options()
    cols = st.columns(5)
    kinds = cols[0].multiselect("Kind", opts["kinds"], key="f_kind")
    severities = cols[1].multiselect("Severity", SEVERITIES, key="f_severity")
    statuses = cols[2].multiselect("Status", STATUSES, default=["open", "acknowledged"], key="f_status")
    events = cols[3].multiselect("Event", opts["events"], key="f_event")
    journeys = cols[4].multiselect("Journey", opts["journeys"], key="f_journey")
    return Filters(tuple(kinds), tuple(severities), tuple(statuses), tuple(events), tuple(journeys))


def _act(fingerprint: str, action: str) -> None:
    """Button callback: runs before the rerun, so the page then shows the new state."""
    state = st.session_state
    until = None
    if action == "snooze":
        until = utcnow() + timedelta(seconds=parse_duration(str(state.get("snooze_for", "4h"))))
    who = current_user() or str(state.get(common.ACTOR_KEY, ""))
    try:
        found = apply_action(data.store(), fingerprint, action, actor=who, at=utcnow(), note=state.get("action_note") or None,
                             until=until, baseline=state.get("baseline"))  # fmt: skip
    except EHMError as exc:
        state[RESULT_KEY] = ("error", str(exc))
        return
    data.refresh_findings()
    state[RESULT_KEY] = ("ok", f"{action.replace('_', ' ')} recorded: the finding is now {found.status}")


def _history(actions: list[FindingAction]) -> None:
    frame = pd.DataFrame([{"at": a.at, "action": a.action, "by": a.actor, "note": a.note} for a in actions],
                         columns=["at", "action", "by", "note"])  # fmt: skip
    st.dataframe(frame, hide_index=True, key="finding_history", column_config={
        "at": st.column_config.DatetimeColumn("at", format="YYYY-MM-DD HH:mm:ss", timezone="UTC"),
        "action": st.column_config.TextColumn("action"), "by": st.column_config.TextColumn("by"),
        "note": st.column_config.TextColumn("note", width="large")})  # fmt: skip


def _actions(found: StoredFinding) -> None:
    active = found.status in ("open", "acknowledged")
    common.actor(current_user())
    st.text_input("Note (optional)", key="action_note")
    fp = found.fingerprint
    cols = st.columns(4)
    cols[0].button("Acknowledge", key="act_acknowledge", on_click=_act, args=(fp, "acknowledge"),
                   disabled=found.status != "open")  # fmt: skip
    cols[1].button("Resolve", key="act_resolve", on_click=_act, args=(fp, "resolve"), disabled=not active)
    cols[2].selectbox("Snooze for", SNOOZES, index=1, key="snooze_for")
    cols[2].button("Snooze", key="act_snooze", on_click=_act, args=(fp, "snooze"), disabled=not active)
    cols[3].radio("Baseline", list(BASELINE), format_func=lambda k: BASELINE[k], key="baseline")
    cols[3].button("Mark expected", key="act_mark_expected", on_click=_act, args=(fp, "mark_expected"),
                   disabled=found.status == "expected")  # fmt: skip


def _detail(ref: str) -> None:
    loaded = finding_with_history(data.store(), ref)
    st.divider()
    if loaded is None:
        st.warning("No such finding: the link may be for another database.")
        return
    found, actions = loaded
    result = st.session_state.pop(RESULT_KEY, None)
    if result:
        (st.success if result[0] == "ok" else st.error)(result[1])
    st.subheader(common.md(found.title))
    baseline = f" (baseline: {found.baseline})" if found.status == "expected" and found.baseline else ""
    st.text(f"{found.severity} · {found.status}{baseline}{f' by {found.status_by}' if found.status_by else ''} · {found.kind}"
            f" · {found.source}/{found.environment} · {found.event}{f' ({found.subject})' if found.subject else ''}")  # fmt: skip
    ended = f"{found.ended_at:%Y-%m-%d %H:%M} UTC" if found.ended_at else "ongoing"
    st.text(f"started {found.started_at:%Y-%m-%d %H:%M} UTC, {ended}"
            + (f"; snoozed until {found.snoozed_until:%Y-%m-%d %H:%M} UTC" if found.snoozed_until else ""))  # fmt: skip
    st.code(f"{data.config().alerts.dashboard_url}/{finding_link(found.fingerprint)}", language=None)
    st.json(found.evidence, expanded=1)
    _actions(found)
    st.caption("History")
    _history(actions)


def render() -> None:
    """Draw the page."""
    st.title("Findings")
    table = data.findings_table(_filters())
    st.caption(f"{len(table)} findings")
    picked = st.dataframe(table, hide_index=True, column_order=ORDER, column_config=TABLE_COLUMNS,
                          on_select="rerun", selection_mode="single-row", key="findings_table")  # fmt: skip
    rows = picked.selection.rows if picked is not None and hasattr(picked, "selection") else []
    if rows:
        st.query_params["finding"] = str(table.iloc[rows[0]]["fingerprint"])
    ref = st.query_params.get("finding")
    if ref:
        _detail(ref)
    elif not table.empty:
        st.caption("Select a row (or open a finding's link) to see its evidence and act on it.")
