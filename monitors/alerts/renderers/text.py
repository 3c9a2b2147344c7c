"""Plain text: file/stdout sinks, the text part of emails, logs of dry runs."""

from __future__ import annotations

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


def _item(item: Item) -> list[str]:
    lines = [f"- [{item_label(item)}] {item.title}", f"  {where(item)}", f"  {item.detail}"]
    lines += [f"  {line}" for line in evidence_lines(item)]
    return [*lines, f"  {item.url}"]


def render(message: Message) -> str:
    """The message as plain text (ends with a newline)."""
    lines = [headline(message), "", message.summary]
    if message.kind is MessageKind.REPORT and message.body_text:
        lines[2:] = ["", message.body_text.rstrip()]
    if message.journeys:
        lines += ["", "Journeys at risk:", *(f"- {j}" for j in journey_lines(message))]
    if message.facts:
        lines += ["", *(f"{f.label}: {f.value}" for f in message.facts)]
    if len(message.items) == 1 and evidence_lines(message.items[0]):
        lines += ["", "Evidence:", *(f"  {line}" for line in evidence_lines(message.items[0]))]
    if len(message.items) > 1:
        lines.append("")
        lines.append("Findings:")
        for item in message.items[:MAX_ITEMS]:
            lines += _item(item)
        if len(message.items) > MAX_ITEMS:
            lines.append(f"- … and {len(message.items) - MAX_ITEMS} more in the dashboard")
    if message.links:
        lines += ["", *(f"{link.text}: {link.url}" for link in message.links)]
    lines += ["", f"-- {footer(message)}"]
    return "\n".join(lines) + "\n"
