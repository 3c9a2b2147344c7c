"""The alerting pipeline, one call per tick: :func:`dispatch` (the worker and ``alerts dispatch``).

    findings table ──► journeys (raise severity, name journeys at risk)
                   ──► mute: inhibition, silences, snoozes
                   ──► routing tree ──► groups ──► planner (vs the notification log)
                   ──► outbox + log rows (one transaction) ──► delivery (retry, record)

State changes are found by comparing the findings table with the notification log, so the
findings store needs no hooks. :func:`send_report` sends a prepared report through a route
(the weekly latency review; email by default); :func:`send_test` sends a marked test alert.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from monitors.alerts.compose import alert_message, make_test_message, report_message
from monitors.alerts.config import AlertsConfig, EmailReceiver
from monitors.alerts.delivery import DeliveryReport, deliver
from monitors.alerts.finding import AlertFinding
from monitors.alerts.inhibition import inhibited
from monitors.alerts.journeys import annotate_all
from monitors.alerts.message import Link, Message
from monitors.alerts.planner import Change, GroupPlan, LogEntry, notified_open, plan_group
from monitors.alerts.routing import Route, build_tree, find_route, group_hash, routes_for
from monitors.alerts.silences import Silence, silenced
from monitors.alerts.sinks import Delivery, Receipt, Sink, build_sink
from monitors.alerts.sinks.base import make_client
from monitors.config import Config
from monitors.errors import ConfigError
from monitors.timeutil import iso, parse_duration, utcnow
from storage import Store

log = logging.getLogger(__name__)

Members = list[tuple[AlertFinding, bool]]


@dataclass
class DispatchReport:
    """What one tick did."""

    findings: int = 0
    muted: dict[str, str] = field(default_factory=dict)
    enqueued: int = 0
    suppressed: int = 0
    conflicts: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        d = self.delivery
        return (
            f"{self.findings} findings considered, {len(self.muted)} muted, {self.enqueued} messages queued; "
            f"delivered {d.sent}, retrying {d.retrying}, failed {d.failed}, waiting {d.waiting}"
        )


@contextmanager
def open_sinks(
    config: AlertsConfig, *, client: httpx.Client | None = None, env: Mapping[str, str] | None = None
) -> Iterator[dict[str, Sink]]:
    """A sink per receiver sharing one HTTP client (closed afterwards unless injected)."""
    own = client is None
    http = client or make_client()
    try:
        yield {r.name: build_sink(r, client=http, env=env) for r in config.receivers}
    finally:
        if own:
            http.close()


def _mutes(
    findings: Sequence[AlertFinding], config: AlertsConfig, silences: Sequence[Silence], now: datetime
) -> dict[str, str]:
    muted = {
        f.fingerprint: f"snoozed until {iso(f.snoozed_until)}"
        for f in findings
        if f.snoozed(now) and f.snoozed_until
    }
    muted.update(silenced(findings, silences, now))
    holdover = timedelta(seconds=parse_duration(config.inhibit_holdover))
    muted.update(
        inhibited(findings, config.inhibit_rules, renames=config.rename_inhibits, now=now, holdover=holdover)
    )
    return muted


def _groups(
    tree: Route,
    findings: Sequence[AlertFinding],
    muted: Mapping[str, str],
    logs: Mapping[str, Mapping[str, Sequence[LogEntry]]],
) -> dict[tuple[str, str], tuple[Route, dict[str, str], Members]]:
    """Group findings per route. A route that notified a finding keeps getting its later
    transitions even when the finding no longer matches it (e.g. after an escalation)."""
    routes = {r.name: r for r in tree.walk()}
    groups: dict[tuple[str, str], tuple[Route, dict[str, str], Members]] = {}
    for finding in findings:
        member = (finding, finding.fingerprint in muted)
        matched = {r.name: group_hash(r.name, r.group_labels(finding)) for r in routes_for(tree, finding)}
        for route_name, entries in logs.get(finding.fingerprint, {}).items():
            if route_name in routes and route_name not in matched:
                sticky = notified_open(finding, entries)
                if sticky is not None:
                    matched[route_name] = sticky
        for route_name, ghash in matched.items():
            route = routes[route_name]
            groups.setdefault((route_name, ghash), (route, route.group_labels(finding), []))[2].append(member)
    return groups


def _log_entries(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, list[LogEntry]]]:
    """fingerprint → route → log entries."""
    out: dict[str, dict[str, list[LogEntry]]] = defaultdict(dict)
    for r in rows:
        entry = LogEntry(r["transition"], r["at"], r["group_hash"], r["thread_id"], r["outbox_id"])
        out[r["fingerprint"]].setdefault(r["route"], []).append(entry)
    return out


def _outbox_row(route: Route, message: Message, group: str, now: datetime, **thread: Any) -> dict[str, Any]:
    """An outbox row for ``message`` (``thread_id`` / ``closes_thread`` as keywords)."""
    return {
        "route": route.name,
        "receiver": route.receiver,
        "kind": message.kind.value,
        "state": message.state.value,
        "group_hash": group,
        "thread_id": thread.get("thread_id"),
        "closes_thread": bool(thread.get("closes_thread")),
        "message": json.dumps(message.to_dict(), ensure_ascii=False, sort_keys=True),
        "created_at": now,
        "next_attempt_at": now,
    }


def _log_rows(plan: GroupPlan, changes: Sequence[Change], now: datetime) -> list[dict[str, Any]]:
    keys = ("route", "fingerprint", "transition", "group_hash", "at")
    return [
        dict(
            zip(
                keys,
                (plan.route.name, c.finding.fingerprint, c.transition, plan.group_hash, now),
                strict=True,
            )
        )
        for c in changes
    ]


def _enqueue(store: Store, plan: GroupPlan, config: AlertsConfig, now: datetime) -> tuple[int, int, int]:
    """Write one plan: (messages queued, transitions suppressed, conflicts)."""
    queued = suppressed = conflicts = 0
    if plan.suppressed:
        silent = [{**r, "thread_id": plan.thread_id} for r in _log_rows(plan, plan.suppressed, now)]
        ok = store.enqueue_notification(None, silent) is not None
        suppressed, conflicts = (len(silent), 0) if ok else (0, 1)
    if plan.changes:
        message = alert_message(plan, config.dashboard_url, now)
        outbox = _outbox_row(
            plan.route,
            message,
            plan.group_hash,
            now,
            thread_id=plan.thread_id,
            closes_thread=plan.closes_thread,
        )
        if store.enqueue_notification(outbox, _log_rows(plan, plan.changes, now)) is None:
            conflicts += 1
        else:
            queued = 1
    return queued, suppressed, conflicts


def plan_and_enqueue(store: Store, config: Config, now: datetime) -> DispatchReport:
    """Compare findings with the notification log and queue what is due at ``now``."""
    report = DispatchReport()
    tree = build_tree(config.alerts)
    if tree is None:
        return report
    holdover = timedelta(seconds=parse_duration(config.alerts.inhibit_holdover))
    rows = store.alert_candidates(resolved_since=now - holdover)
    findings = annotate_all((AlertFinding.from_row(r) for r in rows), config.journeys)
    silences = [Silence.from_row(r) for r in store.list_silences(now)]
    report.findings = len(findings)
    report.muted = _mutes(findings, config.alerts, silences, now)
    logs = _log_entries(store.alert_log_for([f.fingerprint for f in findings]))
    groups = _groups(tree, findings, report.muted, logs)
    last_sent = store.group_last_sent([gh for _route, gh in groups])
    for (route_name, ghash), (route, labels, members) in sorted(groups.items()):
        group_log = {f.fingerprint: logs.get(f.fingerprint, {}).get(route_name, []) for f, _m in members}
        plan = plan_group(route, labels, ghash, members, group_log, last_sent.get((route_name, ghash)), now)
        if plan is None:
            continue
        queued, suppressed, conflicts = _enqueue(store, plan, config.alerts, now)
        report.enqueued += queued
        report.suppressed += suppressed
        report.conflicts += conflicts
    return report


def dispatch(
    store: Store,
    config: Config,
    now: datetime | None = None,
    *,
    sinks: Mapping[str, Sink] | None = None,
    client: httpx.Client | None = None,
    env: Mapping[str, str] | None = None,
) -> DispatchReport:
    """One tick: queue what is due, then deliver the outbox. ``now`` defaults to the clock."""
    now = now or utcnow()
    report = plan_and_enqueue(store, config, now)
    if sinks is not None:
        report.delivery = deliver(store, sinks, config.alerts.delivery, now)
    else:
        with open_sinks(config.alerts, client=client, env=env) as built:
            report.delivery = deliver(store, built, config.alerts.delivery, now)
    log.info("alerts dispatch: %s", report.summary())
    return report


def report_route(config: AlertsConfig, name: str | None = None) -> Route:
    """The route reports go through: ``name``, else ``alerts.report_route``, else the first email route."""
    tree = build_tree(config)
    wanted = name or config.report_route
    if wanted:
        return find_route(tree, wanted)
    for route in tree.walk() if tree else []:
        if isinstance(config.receiver(route.receiver), EmailReceiver):
            return route
    raise ConfigError("no route for reports: set alerts.report_route or add a route with an email receiver")


def send_report(
    store: Store,
    config: Config,
    title: str,
    text: str,
    *,
    html: str | None = None,
    route: str | None = None,
    links: Sequence[Link] = (),
    now: datetime | None = None,
    sinks: Mapping[str, Sink] | None = None,
) -> int:
    """Queue a report (title + text/HTML body) for a route and try to deliver it now; returns the outbox id.

    Reports go through the outbox like alerts, so a receiver outage delays them, never drops them.
    """
    now = now or utcnow()
    target = report_route(config.alerts, route)
    message = report_message(
        title, text, now, html=html, route=target.name, dashboard_url=config.alerts.dashboard_url, links=links
    )
    outbox = _outbox_row(target, message, "report", now)
    outbox_id = store.enqueue_notification(outbox, [])
    if outbox_id is None:  # pragma: no cover - no log rows, so no conflict is possible
        raise RuntimeError("could not queue the report")
    if sinks is not None:
        deliver(store, sinks, config.alerts.delivery, now)
    else:
        with open_sinks(config.alerts) as built:
            deliver(store, built, config.alerts.delivery, now)
    return outbox_id


def send_test(
    config: Config,
    route: str,
    *,
    now: datetime | None = None,
    sinks: Mapping[str, Sink] | None = None,
    client: httpx.Client | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Message, Receipt]:
    """Send a clearly marked test alert straight through ``route``'s receiver (no outbox)."""
    now = now or utcnow()
    target = find_route(build_tree(config.alerts), route)
    message = make_test_message(target.name, target.receiver, config.alerts.dashboard_url, now)
    delivery = Delivery(id=f"test-{int(now.timestamp())}")
    if sinks is not None:
        return message, sinks[target.receiver].send(message, delivery)
    with open_sinks(config.alerts, client=client, env=env) as built:
        return message, built[target.receiver].send(message, delivery)
