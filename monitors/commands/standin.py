"""``stand-in``: run a local Customer.io (Track v1/v2, Pipelines, App API) until interrupted.

Prints one JSON line with the base URLs, the CA certificate path (``--tls``) and the accepted
credentials, then serves. Faults can be set at start (``--fault``, repeatable) or later with
``POST /_standin/faults {"faults": ["429=5"]}``; counters are at ``GET /_standin/stats``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
from typing import Any

from monitors.customerio.standin import FaultSpecError, StandIn
from monitors.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the command."""
    parser = sub.add_parser("stand-in", help="run a local Customer.io stand-in for tests and the demo")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="plain-HTTP port (default: a free one)")
    parser.add_argument("--tls", action="store_true", help="also serve HTTPS (the Track SDK needs it)")
    parser.add_argument("--tls-port", type=int, default=0, help="HTTPS port (default: a free one)")
    parser.add_argument("--ca-out", metavar="FILE", help="copy the generated CA certificate here")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="e.g. latency=0.2, 5xx=3, 429=10, revoked, drop=0.1[:EVENT], fail=0.05, bounce=0.1")
    parser.add_argument("--campaign", action="append", default=[], metavar="EVENT=CHANNEL",
                        help="an event that sends a message on CHANNEL (email, push, twilio, …)")
    parser.add_argument("--rate-limit", type=float, default=10.0, help="App API requests/s (default: 10)")
    parser.set_defaults(func=run)


def _campaigns(specs: list[str]) -> dict[str, str]:
    out = {}
    for spec in specs:
        event, sep, channel = spec.partition("=")
        if not sep or not event or not channel:
            raise ConfigError(f"--campaign {spec!r}: use EVENT=CHANNEL, e.g. order_completed=email")
        out[event] = channel
    return out


def run(args: argparse.Namespace) -> int:
    """Start, print the connection details, serve until Ctrl-C or SIGTERM."""
    try:
        standin = StandIn(args.port, tls=args.tls, tls_port=args.tls_port, host=args.host, faults=args.fault,
                          campaigns=_campaigns(args.campaign), rate_limit=args.rate_limit)
    except FaultSpecError as exc:
        raise ConfigError(f"{exc} — see `python -m monitors stand-in --help`") from exc
    try:
        info = standin.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc} — pick another --port") from exc
    details: dict[str, Any] = info.to_dict()
    if args.ca_out and info.ca_path:
        shutil.copyfile(info.ca_path, args.ca_out)
        details["ca_path"] = args.ca_out
    print(json.dumps(details), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
        print("stand-in stopped", file=sys.stderr)
    return 0
