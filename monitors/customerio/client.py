"""App API client (httpx): ``GET /v1/activities`` with pacing, retries and clear auth errors.

* Pacing: a client-side sliding window (10 requests/s by default), so a well-behaved run never
  sees ``429``; when one comes anyway, ``Retry-After`` is honoured. ``429`` without
  ``Retry-After`` means a daily quota: the run stops (no loop).
* 5xx, timeouts and connection errors are retried with exponential backoff and jitter.
* ``401`` / ``403`` raise :class:`~monitors.errors.AuthError` at once, naming the env variable.
* The key comes only from the environment variable named in config and is never logged.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from monitors import __version__
from monitors.customerio.config import CustomerIOConfig
from monitors.customerio.ratelimit import SlidingWindow
from monitors.errors import AuthError, CustomerIOError
from monitors.redact import redact_text

ACTIVITIES_PATH = "/v1/activities"


@dataclass
class Page:
    """One page of ``/v1/activities``: activities newest first, and the cursor of the next page."""

    activities: list[dict[str, Any]]
    next: str | None


@dataclass
class ClientStats:
    """What the client did: HTTP attempts, ``429`` answers, retries and seconds spent waiting."""

    requests: int = 0
    rate_limited: int = 0
    retries: int = 0
    waited: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


def key_rejected_message(key_env: str, status: int | None = None, path: str = ACTIVITIES_PATH) -> str:
    """The health message shown in ``status`` and the dashboard when the App API key is refused."""
    where = f" (HTTP {status} from {path})" if status else ""
    return f"App API key rejected{where} — check {key_env}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_detail(response: httpx.Response) -> str:
    """The App API error details, redacted (they may quote identifiers such as emails)."""
    try:
        errors = response.json().get("errors") or []
        detail = "; ".join(str(e.get("detail", "")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        detail = response.text
    return redact_text(detail, 300)


class AppAPIClient:
    """Reads the App API. Construct with an ``httpx.Client`` (tests may pass a MockTransport one)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        key_env: str = "CUSTOMERIO_APP_API_KEY",
        rate_limit: float = 10.0,
        max_retries: int = 5,
        max_rate_limited: int = 30,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.http = http
        self.key_env = key_env
        self.window = SlidingWindow.per_second(rate_limit)
        self.max_retries = max_retries
        self.max_rate_limited = max_rate_limited
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self.stats = ClientStats()

    @classmethod
    def from_config(
        cls,
        config: CustomerIOConfig,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: Any = True,
        **kwargs: Any,
    ) -> AppAPIClient:
        """Build from the config section; the key is read from ``config.app_api_key_env``."""
        env = os.environ if environ is None else environ
        key = (env.get(config.app_api_key_env) or "").strip()
        if not key:
            raise AuthError(f"App API key missing — set {config.app_api_key_env}")
        http = httpx.Client(
            base_url=config.api_url,
            headers={"Authorization": f"Bearer {key}", "User-Agent": f"event-health-monitor/{__version__}"},
            timeout=config.timeout,
            transport=transport,
            verify=verify,
        )
        return cls(http, key_env=config.app_api_key_env, rate_limit=config.rate_limit,
                   max_retries=config.max_retries, **kwargs)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def list_activities(
        self, *, type: str | None = None, name: str | None = None, start: str | None = None, limit: int = 100
    ) -> Page:
        """One page of ``GET /v1/activities``; ``start`` is the previous page's ``next``."""
        params: dict[str, str | int] = {"limit": limit}
        for key, value in (("type", type), ("name", name), ("start", start)):
            if value:
                params[key] = value
        body = self.get_json(ACTIVITIES_PATH, params)
        activities = body.get("activities")
        if not isinstance(activities, list):
            raise CustomerIOError(f"customerio: {ACTIVITIES_PATH} answered without an activities list")
        return Page([a for a in activities if isinstance(a, dict)], body.get("next") or None)

    def get_json(self, path: str, params: Mapping[str, str | int]) -> dict[str, Any]:
        """GET ``path`` with pacing and retries; the decoded JSON object."""
        failures = rate_limited = 0
        while True:
            self._pace()
            try:
                response = self.http.get(path, params=dict(params))
            except httpx.TransportError as exc:
                failures = self._backoff(failures, f"{type(exc).__name__} on {path}")
                continue
            finally:
                self.stats.requests += 1
            self.window.record(self.clock())
            self.stats.statuses[response.status_code] = self.stats.statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                return self._decode(response, path)
            if response.status_code in (401, 403):
                raise AuthError(key_rejected_message(self.key_env, response.status_code, path))
            if response.status_code == 429:
                rate_limited = self._rate_limited(response, rate_limited, path)
            elif response.status_code >= 500:
                failures = self._backoff(failures, f"HTTP {response.status_code} from {path}")
            else:
                raise CustomerIOError(
                    f"customerio: HTTP {response.status_code} from {path}: {_error_detail(response)}"
                )

    def _decode(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise CustomerIOError(f"customerio: {path} answered 200 with invalid JSON") from exc
        if not isinstance(body, dict):
            raise CustomerIOError(f"customerio: {path} answered 200 with a non-object body")
        return body

    def _pace(self) -> None:
        while (wait := self.window.wait_time(self.clock())) > 0:
            self._wait(wait)

    def _wait(self, seconds: float) -> None:
        self.stats.waited += seconds
        self.sleep(seconds)

    def _backoff(self, failures: int, what: str) -> int:
        if failures >= self.max_retries:
            raise CustomerIOError(f"customerio: {what}, {failures + 1} attempts — Customer.io may be down; "
                                  "the next run retries")
        delay = min(self.backoff_cap, self.backoff_base * 2**failures)
        self.stats.retries += 1
        self._wait(delay / 2 + self.jitter() * delay / 2)
        return failures + 1

    def _rate_limited(self, response: httpx.Response, count: int, path: str) -> int:
        self.stats.rate_limited += 1
        wait = _retry_after(response.headers.get("Retry-After"))
        if wait is None:
            raise CustomerIOError(f"customerio: {path} answered 429 without Retry-After (daily quota reached?) "
                                  "— collection resumes on the next run")
        if count >= self.max_rate_limited:
            raise CustomerIOError(f"customerio: {path} answered 429 {count + 1} times in a row — "
                                  "another client may share this App API key")
        self.stats.retries += 1
        self._wait(max(wait, 0.001))
        return count + 1
