"""Where messages go: one module per channel, each a class with one ``send`` method.

:func:`build_sink` makes the sink for a receiver config; the registry key is the receiver's
``type``. Tests and callers may inject an ``httpx.Client`` and an environment mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from monitors.alerts.config import (
    EmailReceiver,
    FileReceiver,
    PagerDutyReceiver,
    ReceiverConfig,
    SlackBotReceiver,
    SlackWebhookReceiver,
    TeamsReceiver,
    WebhookReceiver,
)
from monitors.alerts.sinks.base import Delivery, Receipt, Sink
from monitors.alerts.sinks.email import EmailSink
from monitors.alerts.sinks.file import FileSink
from monitors.alerts.sinks.pagerduty import PagerDutySink
from monitors.alerts.sinks.slack_bot import SlackBotSink
from monitors.alerts.sinks.slack_webhook import SlackWebhookSink
from monitors.alerts.sinks.teams import TeamsSink
from monitors.alerts.sinks.webhook import WebhookSink

SINK_TYPES = ("slack_webhook", "slack_bot", "webhook", "email", "pagerduty", "teams", "file")


def build_sink(
    receiver: ReceiverConfig, *, client: httpx.Client, env: Mapping[str, str] | None = None
) -> Sink:
    """The sink for ``receiver`` (secrets are read from ``env`` / ``os.environ`` at send time)."""
    if isinstance(receiver, SlackWebhookReceiver):
        return SlackWebhookSink(receiver, client, env)
    if isinstance(receiver, SlackBotReceiver):
        return SlackBotSink(receiver, client, env)
    if isinstance(receiver, WebhookReceiver):
        return WebhookSink(receiver, client, env)
    if isinstance(receiver, EmailReceiver):
        return EmailSink(receiver, env)
    if isinstance(receiver, PagerDutyReceiver):
        return PagerDutySink(receiver, client, env)
    if isinstance(receiver, TeamsReceiver):
        return TeamsSink(receiver, client, env)
    if isinstance(receiver, FileReceiver):
        return FileSink(receiver)
    raise TypeError(f"unknown receiver type {type(receiver).__name__}")  # pragma: no cover


__all__ = ["SINK_TYPES", "Delivery", "Receipt", "Sink", "build_sink"]
