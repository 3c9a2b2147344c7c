"""Markdown (CommonMark): file sinks and anything that displays Markdown."""

from __future__ import annotations

import re

from monitors.alerts.message import Item, Message, MessageKind
from monitors.alerts.renderers.wording import (
    MAX_ITEMS,
    evidence_lines,
    footer,
    headline,
    item_label,
    journey_lines,
    where,
)

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def escape(text: str) -> str:
    """Escape Markdown punctuation in free text."""
    return _SPECIAL.sub(r"\\\1", text)


def _item(item: Item) -> list[str]:
    lines = [f"- **{item_label(item)}** [{escape(item.title)}]({item.url})"]
    lines.append(f"  {escape(where(item))} — {escape(item.detail)}")
    lines += [f"  - `{line}`" for line in evidence_lines(item)]
    return lines


def render(message: Message) -> str:
    """The message as Markdown (ends with a newline)."""
    lines = [f"## {escape(headline(message))}", "", escape(message.summary)]
    if message.kind is MessageKind.REPORT and message.body_text:
        lines[2:] = ["", message.body_text.rstrip()]
    if message.journeys:
        lines += ["", "**Journeys at risk**", "", *(f"- {escape(j)}" for j in journey_lines(message))]
    if message.facts:
        lines += [
            "",
            "| | |",
            "|---|---|",
            *(f"| {escape(f.label)} | {escape(f.value)} |" for f in message.facts),
        ]
    if len(message.items) == 1 and evidence_lines(message.items[0]):
        lines += ["", "**Evidence**", "", *(f"- `{line}`" for line in evidence_lines(message.items[0]))]
    if len(message.items) > 1:
        lines += ["", "**Findings**", ""]
        for item in message.items[:MAX_ITEMS]:
            lines += _item(item)
        if len(message.items) > MAX_ITEMS:
            lines.append(f"- … and {len(message.items) - MAX_ITEMS} more in the dashboard")
    if message.links:
        lines += ["", " · ".join(f"[{escape(link.text)}]({link.url})" for link in message.links)]
    lines += ["", f"_{escape(footer(message))}_"]
    return "\n".join(lines) + "\n"
