"""Slack incoming webhook: simplest setup; cannot update or thread messages (use ``slack_bot``)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from monitors.alerts.config import SlackWebhookReceiver
from monitors.alerts.message import Message
from monitors.alerts.renderers import slack
from monitors.alerts.sinks.base import Delivery, Receipt, post, secret


class SlackWebhookSink:
    """POSTs Block Kit JSON to the webhook URL read from ``url_env``."""

    def __init__(
        self, config: SlackWebhookReceiver, client: httpx.Client, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = config.name
        self.config = config
        self.client = client
        self.env = env

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Post the message; Slack answers ``ok`` with HTTP 200."""
        url = secret(self.env, self.config.url_env, self.name)
        post(
            self.client,
            url,
            timeout=self.config.timeout_seconds,
            what=f"slack webhook {self.name}",
            secrets=[url],
            json_body=slack.render(message),
            hint=f"check the webhook URL in {self.config.url_env} and that its channel still exists",
        )
        return {}
