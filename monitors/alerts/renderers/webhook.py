"""The generic webhook's JSON body (documented in docs/alerts.md). Version 1."""

from __future__ import annotations

from typing import Any

from monitors.alerts.message import Item, Message
from monitors.timeutil import iso

VERSION = "1"


def _item(item: Item) -> dict[str, Any]:
    return {
        "fingerprint": item.fingerprint,
        "state": item.state.value,
        "transition": item.transition,
        "previous": item.previous,
        "status": item.status,
        "status_by": item.status_by,
        "kind": item.kind,
        "severity": item.severity.value,
        "detector_severity": (item.base_severity or item.severity).value,
        "title": item.title,
        "detail": item.detail,
        "source": item.source,
        "environment": item.environment,
        "event": item.event,
        "subject": item.subject,
        "started_at": iso(item.started_at),
        "ended_at": iso(item.ended_at) if item.ended_at else None,
        "observed": item.observed,
        "expected": item.expected,
        "score": item.score,
        "journeys": [{"name": j.name, "role": j.role, "via": j.via} for j in item.journeys],
        "url": item.url,
        "evidence": item.evidence,
    }


def render(message: Message) -> dict[str, Any]:
    """The JSON body (the sink adds ``delivery_id``)."""
    return {
        "version": VERSION,
        "type": message.kind.value,
        "state": message.state.value,
        "severity": message.severity.value,
        "title": message.title,
        "summary": message.summary,
        "route": message.route,
        "group": dict(message.group),
        "repeat": message.repeat,
        "created_at": iso(message.created_at),
        "journeys": [{"name": j.name, "role": j.role, "via": j.via} for j in message.journeys],
        "facts": [{"label": f.label, "value": f.value} for f in message.facts],
        "links": [{"text": link.text, "url": link.url} for link in message.links],
        "findings": [_item(i) for i in message.items],
        "body": {"text": message.body_text, "html": message.body_html}
        if message.body_text or message.body_html
        else None,
    }
