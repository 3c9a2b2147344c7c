"""Transport-free request/response values and a tiny router for the stand-in's handlers.

Handlers take a :class:`Request` and return a :class:`Response`; the HTTP server in
:mod:`.server` only converts bytes to these and back, so handlers are testable without sockets.
Path parameters are percent-decoded *after* routing (ids may contain an encoded ``/``).
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


class BadRequest(Exception):
    """Raised by handlers for malformed input; becomes a 400 in the API's own error shape."""


@dataclass
class Request:
    """One HTTP request as the handlers see it. ``headers`` keys are lower-case."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: tuple[str, ...] = ()

    def header(self, name: str) -> str:
        """A header value ('' when absent)."""
        return self.headers.get(name.lower(), "")

    def raw_body(self) -> bytes:
        """The body, gunzipped when ``Content-Encoding: gzip``."""
        if self.header("content-encoding").lower() == "gzip" and self.body:
            try:
                return gzip.decompress(self.body)
            except (OSError, EOFError) as exc:
                raise BadRequest("body is not valid gzip") from exc
        return self.body

    def json(self) -> Any:
        """The decoded JSON body (``{}`` when empty); :class:`BadRequest` when invalid."""
        raw = self.raw_body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest("body is not valid JSON") from exc


@dataclass
class Response:
    """Status, body bytes and extra headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        """A JSON response."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})


Handler = Callable[[Request], Response]


class Router:
    """Method + path-regex routing; ``{name}`` segments match one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and ``pattern`` (e.g. ``/api/v1/customers/{id}``)."""
        regex = "^" + re.sub(r"\{[a-z_]+\}", "([^/]+)", pattern) + "/?$"
        self._routes.append((method.upper(), re.compile(regex), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, tuple[str, ...]] | int:
        """The handler and decoded path parameters, or 404 / 405."""
        allowed = False
        for route_method, regex, handler in self._routes:
            match = regex.match(path)
            if match:
                if route_method == method.upper():
                    return handler, tuple(unquote(g) for g in match.groups())
                allowed = True
        return 405 if allowed else 404
