"""HTTP plumbing of the stand-in: bytes ↔ :class:`~.http.Request` / :class:`~.http.Response`
(HTTP/1.1 keep-alive), and a TLS variant of the threading server with a trustme certificate.

The TLS handshake runs in the connection's worker thread, so a slow or broken client never
blocks the accept loop.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trustme

from monitors.customerio.standin.http import Request, Response

log = logging.getLogger("monitors.customerio.standin")
Dispatch = Callable[[Request], Response]


class Handler(BaseHTTPRequestHandler):
    """Turns each request into a :class:`Request` for ``dispatch`` and writes the answer."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    dispatch: Dispatch

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        request = Request(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = type(self).dispatch(request)
        except Exception:  # a bug in the stand-in must not kill the connection silently
            log.exception("stand-in handler failed for %s %s", self.command, url.path)
            response = Response.of_json(500, {"errors": [{"detail": "stand-in error", "status": "500"}]})
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet by default; request lines go to the debug log."""
        log.debug("%s " + format, self.address_string(), *args)


def make_handler(dispatch: Dispatch) -> type[Handler]:
    """A handler class bound to ``dispatch``."""
    return type("BoundHandler", (Handler,), {"dispatch": staticmethod(dispatch)})


class QuietServer(ThreadingHTTPServer):
    """Threading server whose connection errors (client went away) are logged, not printed."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log at debug level."""
        log.debug("connection from %s failed", client_address, exc_info=True)


class TLSServer(QuietServer):
    """HTTPS: each accepted socket is wrapped (and handshaken) in its worker thread."""

    def __init__(self, address: tuple[str, int], handler: type[Handler], context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Wrap in TLS, then serve."""
        secure = self.context.wrap_socket(request, server_side=True)
        try:
            super().finish_request(secure, client_address)
        finally:
            with contextlib.suppress(OSError):
                secure.shutdown(socket.SHUT_RDWR)
            secure.close()


def make_tls_server(address: tuple[str, int], handler: type[Handler], ca_path: str) -> TLSServer:
    """A TLS server with a fresh trustme CA (written to ``ca_path``) and a cert for 127.0.0.1/localhost."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca.cert_pem.write_to_path(ca_path)
    return TLSServer(address, handler, context)
