"""The sink interface and the HTTP plumbing every HTTP sink shares.

A sink sends one message and returns a receipt (JSON-ready, secret-free: e.g. Slack's
``channel`` and ``ts``, an email's ``Message-ID``), or raises :class:`DeliveryError` whose
``retryable`` tells the outbox whether to try again: network errors, timeouts, 408, 429 (with
``Retry-After``) and 5xx are retryable; other 4xx are not. Error messages never contain secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from monitors import __version__
from monitors.alerts.message import Message
from monitors.errors import DeliveryError

Receipt = dict[str, Any]
USER_AGENT = f"event-health-monitor/{__version__}"


@dataclass(frozen=True)
class Delivery:
    """Context of one send: the outbox id, and the thread this message continues (if any).

    ``thread_receipt`` is what the sink returned for the thread's first message;
    ``root_message`` that message; ``closes_thread`` says every finding in it is now resolved.
    """

    id: str
    thread_receipt: Receipt | None = None
    root_message: Message | None = None
    closes_thread: bool = False


class Sink(Protocol):
    """Where messages go. One method: send, or raise :class:`DeliveryError`."""

    name: str

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Deliver ``message``; return a receipt."""
        ...


def secret(env: Mapping[str, str] | None, name: str | None, receiver: str) -> str:
    """The value of environment variable ``name``; a retryable error when unset (fix and restart)."""
    value = (env if env is not None else os.environ).get(name or "")
    if not name or not value:
        raise DeliveryError(
            f"receiver {receiver}: environment variable {name or '(none configured)'} is not set — "
            "export it for the worker and restart it",
            retryable=True,
        )
    return value


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``<redacted>``."""
    for value in secrets:
        if value:
            text = text.replace(value, "<redacted>")
    return text


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def check_status(response: httpx.Response, what: str, secrets: Sequence[str], hint: str = "") -> None:
    """Raise :class:`DeliveryError` for a non-2xx response, retryable or not."""
    code = response.status_code
    if code < 300:
        return
    body = scrub(response.text[:300].strip(), secrets)
    detail = f"{what}: HTTP {code}" + (f" {body}" if body else "")
    if code == 429:
        raise DeliveryError(
            detail, retryable=True, retry_after=retry_after(response.headers.get("Retry-After"))
        )
    if code >= 500 or code == 408:
        raise DeliveryError(
            detail, retryable=True, retry_after=retry_after(response.headers.get("Retry-After"))
        )
    raise DeliveryError(detail + (f" — {hint}" if hint else ""), retryable=False)


def post(
    client: httpx.Client,
    url: str,
    *,
    what: str,
    secrets: Sequence[str],
    timeout: float = 10.0,
    json_body: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    hint: str = "",
) -> httpx.Response:
    """POST and classify failures; the URL never appears in errors (it may be a secret)."""
    all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        if content is not None:
            response = client.post(url, content=content, headers=all_headers, timeout=timeout)
        else:
            response = client.post(url, json=json_body, headers=all_headers, timeout=timeout)
    except httpx.UnsupportedProtocol:
        raise DeliveryError(
            f"{what}: the configured URL must start with http:// or https://", retryable=False
        ) from None
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"{what}: timed out ({type(exc).__name__})", retryable=True) from None
    except httpx.TransportError as exc:
        reason = scrub(str(exc), [*secrets, url]) or type(exc).__name__
        raise DeliveryError(f"{what}: network error: {reason}", retryable=True) from None
    except httpx.InvalidURL:
        raise DeliveryError(f"{what}: the configured URL is not valid — check it", retryable=False) from None
    check_status(response, what, [*secrets, url], hint)
    return response


def make_client() -> httpx.Client:
    """The HTTP client sinks share unless one is injected (each request sets its own timeout)."""
    return httpx.Client(timeout=10.0, follow_redirects=False)
