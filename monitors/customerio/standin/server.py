"""The stand-in server: Track v1/v2, Pipelines and the App API on 127.0.0.1, over plain HTTP and
(``tls=True``) also over HTTPS with a throw-away trustme CA, so the official SDKs work unmodified::

    info = StandIn(port=0, tls=True).start()
    CustomerIO(info.credentials.site_id, info.credentials.track_api_key,
               host=info.host, port=info.tls_port)          # with REQUESTS_CA_BUNDLE=info.ca_path
    analytics.Client(info.credentials.write_key, host=info.base_url)
    AppAPIClient ... base_url=info.base_url, key info.credentials.app_api_key

Checks the documented auth of each API, enforces 10 requests/s on the App API (``429`` +
``Retry-After``), applies :class:`~.faults.Faults`, and offers a local admin API under
``/_standin/`` (``GET stats``, ``POST faults``, ``POST activities``) for tests and the demo.
"""

from __future__ import annotations

import base64
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitors.customerio.ratelimit import SlidingWindow
from monitors.customerio.standin.appapi import AppAPI, app_error
from monitors.customerio.standin.faults import Faults, FaultSpecError
from monitors.customerio.standin.handler import Handler, QuietServer, make_handler, make_tls_server
from monitors.customerio.standin.http import BadRequest, Request, Response, Router
from monitors.customerio.standin.pipelines import PipelinesAPI
from monitors.customerio.standin.track import TrackAPI
from monitors.customerio.standin.workspace import Person, Workspace

PIPELINES_PATHS = {f"/v1/{k}" for k in ("batch", *PipelinesAPI.TYPES)}


@dataclass(frozen=True)
class Credentials:
    """Keys the stand-in accepts (test values, not secrets)."""

    site_id: str = "standin-site"
    track_api_key: str = "standin-track-key"
    app_api_key: str = "standin-app-key"
    write_key: str = "standin-write-key"


@dataclass(frozen=True)
class StandInInfo:
    """Where a started stand-in listens and how to reach it."""

    host: str
    port: int
    tls_port: int | None
    ca_path: str | None
    credentials: Credentials

    @property
    def base_url(self) -> str:
        """Plain-HTTP base URL (App API, Pipelines ``host=``, Track via ``base_url`` override)."""
        return f"http://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str | None:
        """HTTPS base URL when TLS is on (the Track SDK needs it)."""
        return f"https://{self.host}:{self.tls_port}" if self.tls_port else None

    def env(self) -> dict[str, str]:
        """Environment for clients: the App API key, and the CA bundle for requests when TLS is on."""
        env = {"CUSTOMERIO_APP_API_KEY": self.credentials.app_api_key}
        if self.ca_path:
            env["REQUESTS_CA_BUNDLE"] = self.ca_path
        return env

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (printed by ``python -m monitors stand-in``)."""
        return {"base_url": self.base_url, "tls_url": self.tls_url, "host": self.host, "port": self.port,
                "tls_port": self.tls_port, "ca_path": self.ca_path, "credentials": asdict(self.credentials)}


def api_of(path: str) -> str | None:
    """Which API a path belongs to: track, pipelines, app, admin (None: unknown)."""
    if path.startswith("/_standin/"):
        return "admin"
    if path.startswith(("/api/v1/", "/api/v2/", "/unsubscribe/")):
        return "track"
    if path.rstrip("/") in PIPELINES_PATHS:
        return "pipelines"
    return "app" if path.startswith("/v1/") else None


class StandIn:
    """A local Customer.io. ``start()`` binds free ports when ``port=0`` and returns :class:`StandInInfo`."""

    def __init__(self, port: int = 0, *, tls: bool = False, tls_port: int = 0, host: str = "127.0.0.1",
                 credentials: Credentials | None = None, rate_limit: float = 10.0, faults: Iterable[str] = (),
                 campaigns: dict[str, str] | None = None, clock: Callable[[], float] = time.time,
                 name: str = "stand-in") -> None:
        self.host, self.port, self.tls, self.tls_port = host, port, tls, tls_port
        self.credentials = credentials or Credentials()
        self.faults = Faults()
        for spec in faults:
            self.faults.apply(spec)
        self.workspace = Workspace(self.faults, clock, campaigns)
        self.limiter = SlidingWindow.per_second(rate_limit)
        self.router = Router()
        for api in (TrackAPI(self.workspace), PipelinesAPI(self.workspace), AppAPI(self.workspace, name)):
            api.register(self.router)
        self._servers: list[ThreadingHTTPServer] = []
        self._tmp: str | None = None
        self.info: StandInInfo | None = None

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> StandInInfo:
        """Bind and serve in background threads."""
        handler: type[Handler] = make_handler(self.handle)
        plain = QuietServer((self.host, self.port), handler)
        self._servers = [plain]
        tls_port, ca_path = None, None
        if self.tls:
            self._tmp = tempfile.mkdtemp(prefix="ehm-standin-")
            ca_path = str(Path(self._tmp) / "ca.pem")
            secure = make_tls_server((self.host, self.tls_port), handler, ca_path)
            self._servers.append(secure)
            tls_port = secure.server_address[1]
        for server in self._servers:
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.info = StandInInfo(self.host, plain.server_address[1], tls_port, ca_path, self.credentials)
        return self.info

    def stop(self) -> None:
        """Stop serving and remove the generated certificate."""
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Answer one request: faults, auth, App API rate limit, then the route."""
        api = api_of(req.path)
        if api is None:
            return Response.of_json(404, {"errors": [{"detail": "not found", "status": "404"}]})
        if api == "admin":
            return self._admin(req)
        if self.faults.latency:
            time.sleep(self.faults.latency)
        refused = self._app_faults(req) if api == "app" else None
        refused = refused or self._auth(req, api)
        if refused is None and api == "app":
            wait = self.limiter.try_acquire(time.monotonic())
            if wait > 0:
                refused = self._too_many(max(1, math.ceil(wait)))
        response = refused or self._route(req, api)
        self.workspace.count(f"http_{api}_{response.status}")
        return response

    def _route(self, req: Request, api: str) -> Response:
        resolved = self.router.resolve(req.method, req.path)
        if isinstance(resolved, int):
            return app_error(resolved, "not found" if resolved == 404 else "method not allowed")
        handler, req.params = resolved
        try:
            return handler(req)
        except BadRequest as exc:
            if api == "pipelines":
                return Response.of_json(400, {"code": "bad_request", "message": str(exc)})
            if api == "track":
                return Response.of_json(400, {"meta": {"error": str(exc)}})
            return app_error(400, str(exc))

    def _app_faults(self, req: Request) -> Response | None:
        if self.faults.take("hang"):
            time.sleep(self.faults.hang_seconds)
        if self.faults.revoked:
            return app_error(401, "Unauthorized request. Make sure that you provided the right credentials.")
        if self.faults.take("errors_5xx"):
            return app_error(503, "service unavailable (injected)")
        if self.faults.take("storm_429"):
            return self._too_many(self.faults.retry_after)
        return None

    @staticmethod
    def _too_many(retry_after: int) -> Response:
        ref = f"{time.monotonic_ns() % 10**8:08x}"
        return app_error(429, f"rate limited to 10 requests per 1s (reference {ref})",
                         {"Retry-After": str(retry_after)})

    def _auth(self, req: Request, api: str) -> Response | None:
        header, creds = req.header("authorization"), self.credentials
        if api == "app":
            return None if header == f"Bearer {creds.app_api_key}" else app_error(
                401, "Unauthorized request. Make sure that you provided the right credentials.")
        user, password = _basic(header)
        if api == "track":
            ok = (user, password) == (creds.site_id, creds.track_api_key)
            return None if ok else Response(401, b"", {"WWW-Authenticate": 'Basic realm="Track API"'})
        ok = user == creds.write_key or header == f"Bearer {creds.write_key}"
        return None if ok else Response.of_json(401, {"code": "unauthorized", "message": "invalid write key"})

    def _admin(self, req: Request) -> Response:
        if req.method == "GET" and req.path == "/_standin/stats":
            return Response.of_json(200, self.stats())
        try:
            body = req.json()
            if req.method == "POST" and req.path == "/_standin/faults":
                for spec in body.get("faults", []):
                    self.faults.apply(str(spec))
                return Response.of_json(200, self.faults.describe())
            if req.method == "POST" and req.path == "/_standin/activities":
                added = [self.workspace.record(**_activity_args(a)) for a in body.get("activities", [])]
                return Response.of_json(200, {"added": len(added)})
        except (BadRequest, FaultSpecError, TypeError, KeyError, AttributeError) as exc:
            return app_error(400, str(exc))
        return app_error(404, "unknown admin endpoint")

    def stats(self) -> dict[str, Any]:
        """Counters (requests by API and status, events recorded/dropped/failed, activities by type)."""
        return {"activities": len(self.workspace.log), "counters": dict(sorted(self.workspace.stats.items())),
                "faults": self.faults.describe()}

    def inject(self, atype: str, *, name: str | None = None, customer_id: str | None = None,
               timestamp: int | None = None, data: Any = None, **extra: Any) -> dict[str, Any]:
        """Add one activity directly (e.g. ``failed_event``, ``bounced_email``) and return it.

        Unlike API traffic this creates no profile: an unknown ``customer_id`` is only named.
        """
        person = None
        if customer_id:
            person = self.workspace.find("id", customer_id) or Person(customer_id, None, f"inj-{customer_id}")
        return self.workspace.record(atype, person, name=name, data=data, timestamp=timestamp, **extra)


def _activity_args(raw: dict[str, Any]) -> dict[str, Any]:
    return {"atype": raw["type"], "person": None, "name": raw.get("name"), "data": raw.get("data"),
            "timestamp": raw.get("timestamp")}


def _basic(header: str) -> tuple[str | None, str | None]:
    if not header.startswith("Basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, password
