"""Build messages: from a group plan (alerts), from a prepared body (reports), or a test alert."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import quote

from monitors.alerts.finding import AlertFinding
from monitors.alerts.message import Fact, Item, JourneyRisk, Link, Message, MessageKind, State
from monitors.alerts.planner import Change, GroupPlan, split
from monitors.alerts.renderers.wording import number
from monitors.models import Severity
from monitors.redact import redact_text, redact_value
from monitors.timeutil import iso


def finding_url(dashboard_url: str, fingerprint: str) -> str:
    """The dashboard page of one finding."""
    return f"{dashboard_url}/findings?finding={quote(fingerprint)}"


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 48 else f"{hours // 24}d{hours % 24}h"


def _state_of(change: Change) -> State:
    base = split(change.transition)[0]
    if base == "resolved":
        return State.RESOLVED
    if base == "acknowledged":
        return State.ACKNOWLEDGED
    return State.FIRING


def make_item(
    finding: AlertFinding, change: Change | None, dashboard_url: str, *, repeat: bool, now: datetime
) -> Item:
    """One finding as a message item (evidence redacted)."""
    evidence = redact_value(finding.evidence)
    item = Item(
        fingerprint=finding.fingerprint,
        kind=finding.kind,
        state=_state_of(change) if change else finding.state,
        severity=finding.severity,
        title=redact_text(finding.title, 300),
        source=finding.source,
        environment=finding.environment,
        event=finding.event,
        subject=finding.subject,
        started_at=finding.started_at,
        ended_at=finding.ended_at,
        observed=finding.observed,
        expected=finding.expected,
        score=finding.score,
        status=finding.status.value,
        status_by=finding.status_by,
        transition=change.transition if change else "",
        previous=change.previous if change else None,
        base_severity=finding.base_severity,
        journeys=finding.journeys,
        url=finding_url(dashboard_url, finding.fingerprint),
        evidence=evidence if isinstance(evidence, dict) else {"value": evidence},
    )
    return replace(item, detail=_item_summary(item, repeat, now))


def _overall(items: Sequence[Item]) -> State:
    states = {i.state for i in items}
    for state in (State.FIRING, State.ACKNOWLEDGED, State.RESOLVED):
        if state in states:
            return state
    return State.RESOLVED


def _item_summary(item: Item, repeat: bool, now: datetime) -> str:
    if item.state is State.RESOLVED:
        end = item.ended_at or now
        how = "closed as expected" if item.status == "expected" else "resolved"
        return f"{how.capitalize()} at {iso(end)} after {_duration((end - item.started_at).total_seconds())}."
    if item.state is State.ACKNOWLEDGED:
        return f"Acknowledged by {item.status_by or 'someone'}; still open since {iso(item.started_at)}."
    lead = "Still firing" if repeat else "Firing"
    text = f"{lead} since {iso(item.started_at)}: observed {number(item.observed)}, expected {number(item.expected)}."
    if item.previous and item.previous.startswith("firing:") and not repeat:
        text += f" Escalated from {item.previous.split(':', 1)[1]}."
    if item.raised and item.base_severity is not None:
        text += f" Severity raised from {item.base_severity.value} because journeys are at risk."
    return text


def _group_title(items: Sequence[Item], group: dict[str, str]) -> str:
    if len(items) == 1:
        return items[0].title
    where = ""
    if group.get("source") and group.get("environment"):
        where = f" in {group['source']}/{group['environment']}"
    what = f" ({group['kind']})" if group.get("kind") else ""
    return f"{len(items)} findings{what}{where}"


def _facts(items: Sequence[Item]) -> tuple[Fact, ...]:
    if len(items) != 1:
        counts = Counter(i.state.value for i in items)
        return tuple(Fact(state.capitalize(), str(n)) for state, n in sorted(counts.items()))
    i = items[0]
    facts = [Fact("Source", i.source), Fact("Environment", i.environment)]
    facts += [Fact("Event", i.event)] if i.event else []
    facts += [Fact("Subject", i.subject)] if i.subject else []
    facts += [Fact("Kind", i.kind), Fact("Severity", i.severity.value), Fact("Started", iso(i.started_at))]
    facts += [Fact("Ended", iso(i.ended_at))] if i.ended_at else []
    facts += [Fact("Observed", number(i.observed)), Fact("Expected", number(i.expected))]
    return tuple(facts)


def _journeys(items: Sequence[Item]) -> tuple[JourneyRisk, ...]:
    seen: dict[tuple[str, str, str], JourneyRisk] = {}
    for item in items:
        for j in item.journeys:
            seen.setdefault((j.name, j.role, j.via), j)
    return tuple(seen.values())


def alert_message(plan: GroupPlan, dashboard_url: str, now: datetime) -> Message:
    """The message for a group plan."""
    items = tuple(make_item(c.finding, c, dashboard_url, repeat=plan.repeat, now=now) for c in plan.changes)
    links = [Link("Open in dashboard", items[0].url)] if len(items) == 1 else []
    links.append(Link("Dashboard", dashboard_url))
    summary = items[0].detail
    if len(items) > 1:
        summary = (
            f"{len(items)} findings{' still firing' if plan.repeat else ''}: "
            + "; ".join(f"{i.title} ({i.state.value})" for i in items[:5])
            + ("; …" if len(items) > 5 else "")
        )
    return Message(
        kind=MessageKind.ALERT,
        title=_group_title(items, plan.group),
        state=_overall(items),
        severity=max((i.severity for i in items), key=lambda s: s.rank),
        summary=summary,
        created_at=now,
        route=plan.route.name,
        group=dict(plan.group),
        repeat=plan.repeat,
        facts=_facts(items),
        journeys=_journeys(items),
        links=tuple(links),
        items=items,
    )


def report_message(
    title: str,
    text: str,
    now: datetime,
    *,
    html: str | None = None,
    route: str = "",
    dashboard_url: str = "",
    links: Sequence[Link] = (),
) -> Message:
    """A report (e.g. the weekly latency review) with a prepared text and optional HTML body."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), title)
    all_links = tuple(links) + ((Link("Dashboard", dashboard_url),) if dashboard_url else ())
    return Message(
        kind=MessageKind.REPORT,
        title=title,
        state=State.RESOLVED,
        severity=Severity.INFO,
        summary=first,
        created_at=now,
        route=route,
        links=all_links,
        body_text=text,
        body_html=html,
    )


def make_test_message(route: str, receiver: str, dashboard_url: str, now: datetime) -> Message:
    """A clearly marked test alert for ``alerts test --route NAME``."""
    return Message(
        kind=MessageKind.TEST,
        title=f"Test alert from Event Health Monitor (route {route})",
        state=State.FIRING,
        severity=Severity.INFO,
        summary=(
            f"This is a test sent with `alerts test --route {route}` to receiver {receiver} "
            f"at {iso(now)}. No action needed."
        ),
        created_at=now,
        route=route,
        facts=(Fact("Route", route), Fact("Receiver", receiver)),
        links=(Link("Dashboard", dashboard_url),),
    )
