"""The whole product on one machine: SQLite, the Customer.io stand-in, the demo shop sending live
traffic through the official SDKs, the worker and the dashboard — with a few days of history
already ingested. Ctrl-C (or SIGTERM) stops everything.

Order of start-up: history logs → ingest → first detection pass (so the dashboard has data at
once) → stand-in → worker and dashboard processes → the shop (live traffic) and, in the
background, the history replayed to the stand-in so Customer.io has seen it too.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitors.config import Config, parse_config
from monitors.customerio.standin import StandIn, StandInInfo
from monitors.demo import shop
from monitors.demo.run import DemoPlan, demo_end, prepare_store, reset_folder, write_logs
from monitors.detect import run_detection
from monitors.errors import ConfigError
from monitors.ingest.pipeline import IngestOptions, ingest
from monitors.plan import load_plan
from monitors.timeutil import utcnow
from storage import Store

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = {"Order Completed": "email", "Added to Cart": "push", "Checkout Started": "email"}


@dataclass(frozen=True)
class LiveOptions:
    """Where and how the demo runs."""

    db_url: str
    logs: Path
    home: Path
    days: int = 3
    port: int = 8501
    sessions_per_hour: float = 700.0


def demo_config(opts: LiveOptions, info: StandInInfo) -> dict[str, Any]:
    """The config the worker and the dashboard use (written to ``<home>/ehm.yaml``)."""
    return {
        "database": {"url": opts.db_url},
        "sources": [{"name": "shop-backend", "environment": "production", "paths": [str(opts.logs)],
                     "final_line_grace": "1m"}],
        "journeys": [
            {"name": "Cart recovery", "trigger": ["Added to Cart"], "exit": ["Order Completed"], "filter": ["cart_value"]},
            {"name": "Checkout nudge", "trigger": ["Checkout Started"], "exit": ["Order Completed"]},
            {"name": "Post-purchase", "trigger": ["Order Completed"], "properties": ["order_id"]},
        ],
        "customerio": {"workspace": "demo-shop", "base_url": info.base_url, "interval": "1m", "backfill": "7d",
                       "reconcile": {"sources": ["shop-backend"], "settle": "3m", "lookback": "6h", "min_sent": 5}},
        "worker": {"ingest_every": "30s", "customerio_every": "1m", "detect_every": "1m", "alerts_every": "30s",
                   "lease_ttl": "10s"},
        "detectors": {"volume": {"min_history": "2d", "min_history_buckets": 24}},
        "alerts": {"dashboard_url": f"http://localhost:{opts.port}",
                   "receivers": [{"name": "demo-inbox", "type": "file", "path": str(opts.home / "alerts.log")}],
                   "route": {"receiver": "demo-inbox", "group_wait": "10s", "group_interval": "1m"},
                   "report_route": "default"},
        "dashboard": {"latency_slo": "60s", "refresh": "15s"},
    }  # fmt: skip


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def prepare_history(opts: LiveOptions, config: Config) -> tuple[Store, DemoPlan]:
    """Fresh demo database, history logs, ingest, rollups, first detection pass."""
    store = prepare_store(opts.db_url)
    reset_folder(opts.logs)
    plan = DemoPlan(end=demo_end(utcnow()), days=opts.days, sessions_per_hour=opts.sessions_per_hour)
    write_logs(opts.logs, plan)
    ingest(store, [str(opts.logs)], IngestOptions(source="shop-backend", environment="production",
                                                  plan=load_plan(config.plan), final_line_grace=0))  # fmt: skip
    store.rollup_range(0, int(utcnow().timestamp()) + 3600)
    run_detection(store, config, now=utcnow())
    return store, plan


def _spawn(args: list[str], env: dict[str, str], logfile: Path) -> subprocess.Popen[bytes]:
    with logfile.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run(opts: LiveOptions) -> int:
    """Start everything, print where to look, run until Ctrl-C or SIGTERM; stop cleanly."""
    if not _port_free(opts.port):
        raise ConfigError(f"port {opts.port} is in use — stop what uses it or pass --port")
    opts.home.mkdir(parents=True, exist_ok=True)
    standin = StandIn(0, tls=True, campaigns=CAMPAIGNS, faults=["bounce=0.03"])
    info = standin.start()
    stop = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []
    threads: list[threading.Thread] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        raw = demo_config(opts, info)
        config = parse_config(raw, "demo config")
        (opts.home / "ehm.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        print(f"preparing {opts.days} days of history in {opts.logs}/ and {opts.db_url} ...", flush=True)
        store, plan = prepare_history(opts, config)
        store.dispose()
        env = {**os.environ, **info.env(), "EHM_CONFIG": str(opts.home / "ehm.yaml"), "EHM_DATABASE_URL": opts.db_url}
        os.environ.update(info.env())  # the Track SDK in this process trusts the stand-in's CA
        procs.append(_spawn([sys.executable, "-m", "monitors", "worker"], env, opts.home / "worker.log"))
        procs.append(_spawn([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.headless",
                             "true", "--server.port", str(opts.port), "--server.address", "localhost",
                             "--browser.gatherUsageStats", "false"], env, opts.home / "dashboard.log"))  # fmt: skip
        history = shop.history(plan.start, plan.end, plan.sessions_per_hour, plan.seed, plan.incidents())
        threads.append(threading.Thread(target=shop.replay, args=(info, history, stop), daemon=True, name="replay"))
        simulator = shop.Shop(info, opts.logs, sessions_per_hour=opts.sessions_per_hour, faults=standin.faults.apply)
        threads.append(threading.Thread(target=simulator.run, args=(stop,), daemon=True, name="shop"))
        for thread in threads:
            thread.start()
        if not _wait_healthy(opts.port, procs[1]):
            print(f"the dashboard did not start — see {opts.home / 'dashboard.log'}", file=sys.stderr)
            return 1
        _banner(opts, info)
        while not stop.wait(1.0):
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                print(f"a process stopped unexpectedly (exit {dead[0].returncode}); see the logs in {opts.home}/",
                      file=sys.stderr)  # fmt: skip
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        print("\nstopping ...", flush=True)
        _stop(procs)
        for thread in threads:
            thread.join(10)
        standin.stop()
        signal.signal(signal.SIGTERM, previous)
        print("stopped.", flush=True)
    return 0


def _banner(opts: LiveOptions, info: StandInInfo) -> None:
    print(f"""
Event Health Monitor demo is running
  dashboard     http://localhost:{opts.port}
  database      {opts.db_url}
  event log     {opts.logs}/events.jsonl   (the shop appends as it sends)
  Customer.io   stand-in at {info.base_url} (Track over {info.tls_url})
  worker        {opts.home / 'worker.log'}
  alerts        {opts.home / 'alerts.log'}
Incidents come round every 100 minutes: rename at +10 min, staging leak +30, latency +45, drop +60,
Customer.io delivery gap +80. Press Ctrl-C to stop everything.""", flush=True)
