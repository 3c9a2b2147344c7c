"""Microsoft Teams: the body a Teams workflow webhook expects, a ``message`` with one Adaptive
Card (version 1.4) attachment."""

from __future__ import annotations

from typing import Any

from monitors.alerts.message import Item, Message, MessageKind, State
from monitors.alerts.renderers.wording import (
    MAX_ITEMS,
    evidence_lines,
    footer,
    headline,
    item_label,
    journey_lines,
    where,
)

Element = dict[str, Any]


def color(message: Message) -> str:
    """Adaptive Card text colour for the headline."""
    if message.kind is not MessageKind.ALERT or message.state is State.ACKNOWLEDGED:
        return "accent"
    if message.state is State.RESOLVED:
        return "good"
    return "attention" if message.severity.value == "critical" else "warning"


def _text(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _item(item: Item) -> Element:
    items = [
        _text(f"[{item_label(item)}] [{item.title}]({item.url})", weight="Bolder"),
        _text(f"{where(item)} — {item.detail}", isSubtle=True, spacing="None"),
    ]
    items += [
        _text(line, fontType="Monospace", size="Small", spacing="None") for line in evidence_lines(item)
    ]
    return {"type": "Container", "separator": True, "items": items}


def card(message: Message) -> dict[str, Any]:
    """The Adaptive Card alone."""
    body: list[Element] = [_text(headline(message), size="Large", weight="Bolder", color=color(message))]
    if message.kind is MessageKind.REPORT and message.body_text:
        body.append(_text(message.body_text))
    else:
        body.append(_text(message.summary))
    if message.journeys:
        body.append(_text("Journeys at risk", weight="Bolder"))
        body += [_text(f"- {j}", spacing="None") for j in journey_lines(message)]
    if message.facts:
        body.append(
            {"type": "FactSet", "facts": [{"title": f.label, "value": f.value} for f in message.facts]}
        )
    if len(message.items) == 1:
        body += [
            _text(line, fontType="Monospace", size="Small", spacing="None")
            for line in evidence_lines(message.items[0])
        ]
    else:
        body += [_item(i) for i in message.items[:MAX_ITEMS]]
    if len(message.items) > MAX_ITEMS:
        body.append(_text(f"… and {len(message.items) - MAX_ITEMS} more in the dashboard"))
    body.append(_text(footer(message), isSubtle=True, size="Small"))
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
        "actions": [
            {"type": "Action.OpenUrl", "title": link.text, "url": link.url} for link in message.links
        ],
    }


def render(message: Message) -> dict[str, Any]:
    """The workflow webhook body."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card(message),
            }
        ],
    }
