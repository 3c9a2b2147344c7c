"""Slack Block Kit: ``{"text": fallback, "blocks": [...]}`` for incoming webhooks and
``chat.postMessage`` / ``chat.update``. Respects Block Kit limits (header 150 characters,
section text 3000, 10 fields, 10 context elements, 50 blocks)."""

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
    truncate,
    where,
)

Block = dict[str, Any]


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def emoji(message: Message) -> str:
    """The emoji code that leads the header."""
    if message.kind is MessageKind.TEST:
        return ":test_tube:"
    if message.kind is MessageKind.REPORT:
        return ":bar_chart:"
    if message.state is State.RESOLVED:
        return ":white_check_mark:"
    if message.state is State.ACKNOWLEDGED:
        return ":eyes:"
    return {"critical": ":rotating_light:", "warning": ":warning:"}.get(
        message.severity.value, ":information_source:"
    )


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 3000)}}


def _item_block(item: Item) -> Block:
    text = f"*<{item.url}|{escape(truncate(item.title, 200))}>* `{item_label(item)}`\n"
    text += f"{escape(where(item))}\n{escape(item.detail)}"
    return _section(text)


def _evidence(item: Item) -> list[Block]:
    lines = evidence_lines(item)
    if not lines:
        return []
    return [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(line)} for line in lines[:10]]}
    ]


def _body(message: Message) -> list[Block]:
    if message.kind is MessageKind.REPORT and message.body_text:
        return [_section(escape(message.body_text))]
    blocks = [_section(escape(message.summary))]
    if message.journeys:
        lines = "\n".join(f"• {escape(j)}" for j in journey_lines(message))
        blocks.append(_section(f":dart: *Journeys at risk*\n{lines}"))
    if message.facts:
        fields = [
            {"type": "mrkdwn", "text": f"*{escape(f.label)}*\n{escape(f.value)}"} for f in message.facts[:10]
        ]
        blocks.append({"type": "section", "fields": fields})
    return blocks


def render(message: Message) -> dict[str, Any]:
    """The Slack payload (without ``channel``; the bot sink adds it)."""
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(f"{emoji(message)} {headline(message)}", 150),
                "emoji": True,
            },
        }
    ]
    blocks += _body(message)
    if len(message.items) == 1:
        blocks += _evidence(message.items[0])
    if len(message.items) > 1:
        blocks.append({"type": "divider"})
        blocks += [_item_block(item) for item in message.items[:MAX_ITEMS]]
        if len(message.items) > MAX_ITEMS:
            blocks.append(_section(f"… and {len(message.items) - MAX_ITEMS} more in the dashboard"))
    if message.links:
        buttons = [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": truncate(link.text, 75)},
                "url": link.url,
            }
            for link in message.links[:5]
        ]
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer(message))}]})
    return {"text": truncate(headline(message), 3000), "blocks": blocks[:50]}
