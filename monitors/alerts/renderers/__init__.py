"""How messages look: one renderer per format, each a pure function of a :class:`Message`.

``RENDERERS`` maps a format name to a function returning text (``text``, ``markdown``,
``json``) — the formats file sinks and the contract tests use. Channel-specific renderers
(:mod:`.slack`, :mod:`.teams`, :mod:`.email`, :mod:`.pagerduty`, :mod:`.webhook`) return the
structures their sinks send; :func:`as_text` serialises any of them for saved expected files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from monitors.alerts.message import Message
from monitors.alerts.renderers import email, markdown, pagerduty, slack, teams, text, webhook


def _json(message: Message) -> str:
    return json.dumps(webhook.render(message), indent=2, ensure_ascii=False) + "\n"


RENDERERS: dict[str, Callable[[Message], str]] = {
    "text": text.render,
    "markdown": markdown.render,
    "json": _json,
}
"""Text formats for file sinks."""

CHANNELS: dict[str, Callable[[Message], Any]] = {
    "text": text.render,
    "markdown": markdown.render,
    "slack": slack.render,
    "teams": teams.render,
    "email": email.render,
    "pagerduty": pagerduty.render,
    "webhook": webhook.render,
}
"""Every renderer, by name (contract tests run against all of them)."""


def as_text(rendered: Any) -> str:
    """A rendered value as text: strings as they are, email as its three parts, the rest as JSON."""
    if isinstance(rendered, str):
        return rendered
    if isinstance(rendered, email.EmailContent):
        parts = asdict(rendered)
        return f"Subject: {parts['subject']}\n\n--- text ---\n{parts['text']}\n--- html ---\n{parts['html']}"
    return json.dumps(rendered, indent=2, ensure_ascii=False) + "\n"


__all__ = ["CHANNELS", "RENDERERS", "as_text"]
