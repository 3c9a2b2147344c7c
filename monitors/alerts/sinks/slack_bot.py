"""Slack with a bot token: ``chat.postMessage`` for the first message of a thread, replies in its
thread for follow-ups, and ``chat.update`` of the first message when everything in it resolved.

Slack answers HTTP 200 with ``{"ok": false, "error": ...}`` for most failures; ``ratelimited``
and server-side errors are retried, the rest (``channel_not_found``, ``invalid_auth``,
``not_in_channel``, …) are recorded as permanent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from monitors.alerts.config import SlackBotReceiver
from monitors.alerts.message import Message, State
from monitors.alerts.renderers import slack
from monitors.alerts.sinks.base import Delivery, Receipt, post, secret
from monitors.errors import DeliveryError

RETRYABLE = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackBotSink:
    """Posts to ``channel`` with the token from ``token_env``; ``api_url`` is overridable."""

    def __init__(
        self, config: SlackBotReceiver, client: httpx.Client, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = config.name
        self.config = config
        self.client = client
        self.env = env

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        token = secret(self.env, self.config.token_env, self.name)
        response = post(
            self.client,
            f"{self.config.api_url.rstrip('/')}/{method}",
            timeout=self.config.timeout_seconds,
            what=f"slack {self.name} {method}",
            secrets=[token],
            json_body=payload,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"},
        )
        try:
            data: dict[str, Any] = response.json()
        except ValueError:
            raise DeliveryError(f"slack {self.name} {method}: not a JSON answer", retryable=True) from None
        if not data.get("ok"):
            error = str(data.get("error", "unknown_error"))
            raise DeliveryError(
                f"slack {self.name} {method}: {error}"
                + (
                    ""
                    if error in RETRYABLE
                    else f" — check {self.config.token_env} and that the bot is in {self.config.channel}"
                ),
                retryable=error in RETRYABLE,
            )
        return data

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Post (or reply in the thread); flip the thread's first message when it all resolved."""
        root = delivery.thread_receipt or {}
        payload: dict[str, Any] = {
            "channel": root.get("channel", self.config.channel),
            **slack.render(message),
        }
        payload["unfurl_links"] = False
        if root.get("ts") and delivery.closes_thread and delivery.root_message is not None:
            # chat.update first: it is idempotent, so a retry after a failed reply repeats no message
            resolved = slack.render(delivery.root_message.with_state(State.RESOLVED))
            self._call("chat.update", {"channel": root["channel"], "ts": root["ts"], **resolved})
        if root.get("ts"):
            payload["thread_ts"] = root["ts"]
        data = self._call("chat.postMessage", payload)
        if root.get("ts"):
            return {"channel": root["channel"], "ts": root["ts"], "reply_ts": data.get("ts")}
        return {"channel": data.get("channel", self.config.channel), "ts": data.get("ts")}
