"""Microsoft Teams workflow webhook ("When a Teams webhook request is received")."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from monitors.alerts.config import TeamsReceiver
from monitors.alerts.message import Message
from monitors.alerts.renderers import teams
from monitors.alerts.sinks.base import Delivery, Receipt, post, secret


class TeamsSink:
    """POSTs an Adaptive Card message to the workflow URL read from ``url_env``."""

    def __init__(
        self, config: TeamsReceiver, client: httpx.Client, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = config.name
        self.config = config
        self.client = client
        self.env = env

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Post the card; workflows answer 202 Accepted."""
        url = secret(self.env, self.config.url_env, self.name)
        post(
            self.client,
            url,
            timeout=self.config.timeout_seconds,
            what=f"teams {self.name}",
            secrets=[url],
            json_body=teams.render(message),
            hint=f"check the workflow URL in {self.config.url_env} and that the workflow is on",
        )
        return {}
