"""Generic webhook: the JSON body of :mod:`monitors.alerts.renderers.webhook`, signed.

Headers: ``X-EHM-Timestamp`` (Unix seconds), ``X-EHM-Signature`` (``sha256=`` + hex
HMAC-SHA256 of ``timestamp + "." + body`` with the shared secret), ``X-EHM-Delivery`` (the
outbox id: the same on retries, so receivers can drop duplicates) and ``X-EHM-Type``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping

import httpx

from monitors.alerts.config import WebhookReceiver
from monitors.alerts.message import Message
from monitors.alerts.renderers import webhook
from monitors.alerts.sinks.base import Delivery, Receipt, post, secret


def sign(key: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` over ``timestamp + "." + body``."""
    mac = hmac.new(key.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    key: str, timestamp: str, signature: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute, compare in constant time, reject stale timestamps."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(key, timestamp, body), signature)


class WebhookSink:
    """POSTs the documented JSON body to the URL in ``url_env``, signed with ``secret_env``."""

    def __init__(
        self, config: WebhookReceiver, client: httpx.Client, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = config.name
        self.config = config
        self.client = client
        self.env = env

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Sign and post; any 2xx is success."""
        url = secret(self.env, self.config.url_env, self.name)
        payload = {**webhook.render(message), "delivery_id": delivery.id}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-EHM-Timestamp": timestamp,
            "X-EHM-Delivery": delivery.id,
            "X-EHM-Type": message.kind.value,
        }
        secrets = [url]
        if self.config.secret_env:
            key = secret(self.env, self.config.secret_env, self.name)
            headers["X-EHM-Signature"] = sign(key, timestamp, body)
            secrets.append(key)
        post(
            self.client,
            url,
            timeout=self.config.timeout_seconds,
            what=f"webhook {self.name}",
            secrets=secrets,
            content=body,
            headers=headers,
        )
        return {}
