"""Real receivers on 127.0.0.1 for sink tests: an HTTP server that records every request and
answers from a script (Slack, Teams, webhook, PagerDuty), and an SMTP server (aiosmtpd) with
STARTTLS or implicit TLS (trustme certificates) and AUTH."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Request:
    """One request the server received, and the status it answered (None: no answer)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class Reply:
    """A scripted answer."""

    status: int = 200
    body: Any = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: threading.Event | None = None
    """When set, the handler waits for this event and then drops the connection unanswered."""


class HttpReceiver:
    """A threaded HTTP server recording requests. ``script(path, *replies)`` queues answers for a
    path; once the queue is empty, realistic defaults answer (Slack ``ok``, PagerDuty 202, …)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._queues: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._ts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with receiver._lock:
                    receiver.requests.append(req)
                reply = receiver._next(req)
                if reply.hang is not None:
                    reply.hang.wait(30)
                    self.close_connection = True
                    return
                body = reply.body if isinstance(reply.body, str | bytes) else json.dumps(reply.body)
                data = body.encode() if isinstance(body, str) else body
                req.status = reply.status  # recorded before answering: the client may look right after
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return self.base + path

    def script(self, path: str, *replies: Reply) -> None:
        """Queue answers for ``path``."""
        with self._lock:
            self._queues.setdefault(path, []).extend(replies)

    def clear_script(self) -> None:
        """Drop every queued answer (defaults answer again)."""
        with self._lock:
            self._queues.clear()

    def at(self, path: str) -> list[Request]:
        """Requests received on ``path`` (answered or not)."""
        return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> list[Request]:
        """Requests on ``path`` answered with a 2xx."""
        return [r for r in self.at(path) if r.status is not None and r.status < 300]

    def _next(self, req: Request) -> Reply:
        with self._lock:
            queue = self._queues.get(req.path)
            if queue:
                return queue.pop(0)
            return self._default(req)

    def _default(self, req: Request) -> Reply:
        if req.path.endswith("/chat.postMessage"):
            self._ts += 1
            channel = req.json().get("channel", "C0")
            return Reply(200, {"ok": True, "channel": channel, "ts": f"1700000000.{self._ts:06d}"})
        if req.path.endswith("/chat.update"):
            data = req.json()
            return Reply(200, {"ok": True, "channel": data["channel"], "ts": data["ts"]})
        if req.path.endswith("/v2/enqueue"):
            return Reply(
                202,
                {"status": "success", "message": "Event processed", "dedup_key": req.json().get("dedup_key")},
            )
        if req.path.startswith("/teams"):
            return Reply(202, "")
        return Reply(200, "ok")

    def start(self) -> HttpReceiver:
        """Start serving."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A port that was free a moment ago (aiosmtpd needs a fixed port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@dataclass
class SmtpReceiver:
    """An SMTP server with TLS and AUTH; ``messages`` holds the envelopes it accepted."""

    controller: Controller
    inbox: _Inbox
    port: int
    ca_file: str
    user: str
    password: str

    @property
    def messages(self) -> list[Envelope]:
        """Accepted envelopes."""
        return self.inbox.messages

    def stop(self) -> None:
        """Stop the server."""
        self.controller.stop()


def _authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == user.encode()
            and data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check


def start_smtp(
    tmp: Path, *, implicit_tls: bool = False, user: str = "alerts", password: str = "smtp-s3cret"
) -> SmtpReceiver:
    """Start an SMTP server: STARTTLS required before AUTH, or implicit TLS (``implicit_tls``)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = _Inbox()
    port = free_port()
    tls: dict[str, Any] = (
        {"ssl_context": server_ctx, "auth_require_tls": False}
        if implicit_tls
        else {"tls_context": server_ctx, "require_starttls": True}
    )
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator(user, password),
        auth_required=True,
        **tls,
    )
    controller.start()
    return SmtpReceiver(controller, inbox, port, str(ca_file), user, password)
