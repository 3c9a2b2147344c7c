"""PagerDuty Events API v2 (``POST /v2/enqueue``): one event per finding; ``dedup_key`` is the
fingerprint, so a retried trigger never opens a second incident and resolve closes the right one."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from monitors.alerts.config import PagerDutyReceiver
from monitors.alerts.message import Message, MessageKind
from monitors.alerts.renderers import pagerduty
from monitors.alerts.sinks.base import Delivery, Receipt, post, secret
from monitors.errors import DeliveryError


class PagerDutySink:
    """Sends trigger / acknowledge / resolve events with the routing key from ``routing_key_env``."""

    def __init__(
        self, config: PagerDutyReceiver, client: httpx.Client, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = config.name
        self.config = config
        self.client = client
        self.env = env

    def _events(self, message: Message) -> list[dict[str, object]]:
        if message.kind is MessageKind.REPORT:
            raise DeliveryError(
                f"pagerduty {self.name}: receives alerts only — send reports through an email or Slack route",
                retryable=False,
            )
        events: list[dict[str, object]] = list(pagerduty.render(message))
        if message.is_test:  # a test must not leave an incident open
            events.append({"event_action": "resolve", "dedup_key": events[0]["dedup_key"]})
        return events

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Send every event in order (PagerDuty answers 202)."""
        key = secret(self.env, self.config.routing_key_env, self.name)
        keys = []
        for event in self._events(message):
            post(
                self.client,
                self.config.url,
                timeout=self.config.timeout_seconds,
                what=f"pagerduty {self.name} ({event['event_action']})",
                secrets=[key],
                json_body={"routing_key": key, **event},
                hint=f"check the integration key in {self.config.routing_key_env} (Events API v2)",
            )
            if event["dedup_key"] not in keys:
                keys.append(str(event["dedup_key"]))
        return {"dedup_keys": keys}
