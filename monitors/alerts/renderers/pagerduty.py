"""PagerDuty Events API v2: one event per finding, ``dedup_key`` = the finding's fingerprint,
``trigger`` / ``acknowledge`` / ``resolve`` from its state. The sink adds ``routing_key``."""

from __future__ import annotations

from typing import Any

from monitors.alerts.message import Item, Message, MessageKind, State
from monitors.alerts.renderers.wording import PRODUCT, truncate
from monitors.timeutil import iso

ACTIONS = {State.FIRING: "trigger", State.ACKNOWLEDGED: "acknowledge", State.RESOLVED: "resolve"}
SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}


def _details(item: Item) -> dict[str, Any]:
    details: dict[str, Any] = {
        "fingerprint": item.fingerprint,
        "kind": item.kind,
        "event": item.event,
        "subject": item.subject,
        "environment": item.environment,
        "observed": item.observed,
        "expected": item.expected,
        "score": item.score,
        "started_at": iso(item.started_at),
        "detail": item.detail,
        "evidence": item.evidence,
    }
    if item.journeys:
        details["journeys_at_risk"] = [j.describe() for j in item.journeys]
    return details


def event(item: Item, message: Message, dashboard_url: str | None = None) -> dict[str, Any]:
    """The event for one item (without ``routing_key``)."""
    action = ACTIONS[item.state]
    if action != "trigger":
        return {"event_action": action, "dedup_key": item.fingerprint}
    links = [{"href": item.url, "text": "Open finding in Event Health Monitor"}]
    body: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": item.fingerprint,
        "payload": {
            "summary": truncate(f"[{item.severity.value.upper()}] {item.title}", 1024),
            "source": item.where,
            "severity": SEVERITY[item.severity.value],
            "timestamp": iso(item.started_at),
            "component": item.event or item.source,
            "group": item.source,
            "class": item.kind,
            "custom_details": _details(item),
        },
        "client": PRODUCT,
        "links": links,
    }
    if dashboard_url:
        body["client_url"] = dashboard_url
    return body


def render(message: Message) -> list[dict[str, Any]]:
    """One event per item; a test message becomes a marked ``info`` trigger."""
    dashboard = next((link.url for link in message.links if link.text == "Dashboard"), None)
    if message.kind is MessageKind.TEST:
        return [
            {
                "event_action": "trigger",
                "dedup_key": f"ehm-test-{message.route}-{iso(message.created_at)}",
                "payload": {
                    "summary": truncate(f"[TEST] {message.title}", 1024),
                    "source": PRODUCT,
                    "severity": "info",
                    "timestamp": iso(message.created_at),
                    "class": "test",
                    "custom_details": {"summary": message.summary},
                },
                "client": PRODUCT,
            }
        ]
    return [event(item, message, dashboard) for item in message.items]
