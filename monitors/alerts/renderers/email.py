"""Email: a subject line, a plain-text part and an HTML part (inline styles only)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from monitors.alerts.message import Item, Message, MessageKind, State
from monitors.alerts.renderers import text
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

_COLORS = {"critical": "#b42318", "warning": "#b54708", "info": "#175cd3"}


@dataclass(frozen=True)
class EmailContent:
    """What an email says: subject, text part, HTML part."""

    subject: str
    text: str
    html: str


def _color(message: Message) -> str:
    if message.kind is MessageKind.ALERT and message.state is State.RESOLVED:
        return "#067647"
    return _COLORS.get(message.severity.value, "#175cd3")


def _item(item: Item) -> str:
    evidence = "".join(f"<li><code>{escape(line)}</code></li>" for line in evidence_lines(item))
    return (
        '<li style="margin-bottom:12px">'
        f'<strong>{escape(item_label(item))}</strong> <a href="{escape(item.url)}">{escape(item.title)}</a><br>'
        f'<span style="color:#475467">{escape(where(item))}</span><br>{escape(item.detail)}'
        + (f"<ul>{evidence}</ul>" if evidence else "")
        + "</li>"
    )


def _body(message: Message) -> str:
    if message.kind is MessageKind.REPORT:
        if message.body_html:
            return message.body_html
        return f'<pre style="font-family:monospace">{escape(message.body_text or "")}</pre>'
    parts = [f"<p>{escape(message.summary)}</p>"]
    if message.journeys:
        lis = "".join(f"<li>{escape(j)}</li>" for j in journey_lines(message))
        parts.append(f"<p><strong>Journeys at risk</strong></p><ul>{lis}</ul>")
    if message.facts:
        rows = "".join(
            f'<tr><th align="left" style="padding-right:16px">{escape(f.label)}</th><td>{escape(f.value)}</td></tr>'
            for f in message.facts
        )
        parts.append(f"<table>{rows}</table>")
    if len(message.items) == 1 and evidence_lines(message.items[0]):
        lis = "".join(f"<li><code>{escape(line)}</code></li>" for line in evidence_lines(message.items[0]))
        parts.append(f"<p><strong>Evidence</strong></p><ul>{lis}</ul>")
    if len(message.items) > 1:
        lis = "".join(_item(i) for i in message.items[:MAX_ITEMS])
        more = len(message.items) - MAX_ITEMS
        lis += f"<li>… and {more} more in the dashboard</li>" if more > 0 else ""
        parts.append(f"<h3>Findings</h3><ul>{lis}</ul>")
    return "\n".join(parts)


def html(message: Message) -> str:
    """The HTML part."""
    links = " · ".join(f'<a href="{escape(link.url)}">{escape(link.text)}</a>' for link in message.links)
    return (
        '<!DOCTYPE html>\n<html><body style="font-family:Arial,Helvetica,sans-serif;color:#101828">\n'
        f'<h2 style="color:{_color(message)}">{escape(headline(message))}</h2>\n'
        f"{_body(message)}\n"
        + (f"<p>{links}</p>\n" if links else "")
        + f'<p style="color:#667085;font-size:12px">{escape(footer(message))}</p>\n</body></html>\n'
    )


def render(message: Message) -> EmailContent:
    """Subject, text and HTML of the email."""
    subject = truncate(headline(message).replace("\n", " "), 200)
    return EmailContent(subject=subject, text=text.render(message), html=html(message))
