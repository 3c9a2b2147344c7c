"""The demo shop: live D2C traffic sent through the official Customer.io SDKs (Pipelines for
events, Track for profile updates) to the stand-in, while writing the outgoing event log the way
a backend logs what it sends — the log the monitor ingests.

Incidents come round on a schedule (offsets from the start, repeating every ``cycle``): a rename
(``Order Completed`` → ``order_completed``), a staging leak (test users from staging hosts), a
latency regression (events held back before sending), a drop (``Checkout Started`` stops), and a
delivery gap (the stand-in silently drops part of ``Added to Cart``). A few people's
``accepts_sms`` flaps now and then.
"""

from __future__ import annotations

import heapq
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from customerio import analytics
from customerio.track import CustomerIO

from monitors.customerio.standin import StandInInfo
from monitors.demo.generate import Generator, Incidents
from monitors.timeutil import parse_iso, utcnow

log = logging.getLogger(__name__)
WINDOW = 300
"""Traffic is generated five minutes ahead and sent when each message is due."""
HELD_BACK = 240.0
"""Seconds events wait before sending during the latency incident."""


@dataclass(frozen=True)
class Schedule:
    """Incident windows as (start, end) seconds after the shop starts, repeating every ``cycle``."""

    rename: tuple[int, int] = (600, 1500)
    staging_leak: tuple[int, int] = (1800, 2400)
    latency: tuple[int, int] = (2700, 3300)
    drop: tuple[int, int] = (3600, 4500)
    delivery_gap: tuple[int, int] = (4800, 5400)
    cycle: int = 6000

    def active(self, name: str, start: datetime, at: datetime) -> bool:
        """Whether incident ``name`` covers ``at``."""
        lo, hi = getattr(self, name)
        offset = (at - start).total_seconds() % self.cycle
        return bool(lo <= offset < hi)

    def incidents(self, start: datetime, at: datetime) -> Incidents:
        """The generator's incident windows of the cycle containing ``at`` (latency is the shop's)."""
        base = start + timedelta(seconds=(at - start).total_seconds() // self.cycle * self.cycle)

        def span(name: str) -> tuple[datetime, datetime]:
            lo, hi = getattr(self, name)
            return base + timedelta(seconds=lo), base + timedelta(seconds=hi)

        return Incidents(rename=span("rename"), staging_leak=span("staging_leak"), drop=span("drop"))


class EventLog:
    """Appends outgoing messages as JSON lines to ``events.jsonl``; rotates it at UTC midnight."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "events.jsonl"
        self.day = datetime.fromtimestamp(self.path.stat().st_mtime, UTC).date() if self.path.exists() else None
        self._lock = threading.Lock()

    def write(self, message: dict[str, Any], now: datetime) -> None:
        """Append one message (rotating first when the day changed)."""
        with self._lock:
            if self.day is not None and now.date() != self.day and self.path.exists():
                self.path.rename(self.folder / f"events-{self.day:%Y-%m-%d}.jsonl")
            self.day = now.date()
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(message, separators=(",", ":")) + "\n")


@dataclass
class ShopStats:
    """What the shop did."""

    sent: int = 0
    failed: int = 0
    held_back: int = 0


class Shop:
    """Runs until stopped: generate, hold until due, send through the SDKs, log."""

    def __init__(self, info: StandInInfo, logs: Path, *, sessions_per_hour: float = 700.0, seed: int = 101,
                 schedule: Schedule | None = None, clock: Callable[[], datetime] = utcnow,
                 faults: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.info, self.log, self.rate, self.seed = info, EventLog(logs), sessions_per_hour, seed
        self.schedule, self.clock, self.faults = schedule or Schedule(), clock, faults
        self.start = clock()
        self.generated_until = self.start
        self.queue: list[tuple[datetime, int, dict[str, Any]]] = []
        self.seq = 0
        self.stats = ShopStats()
        self.gap_on = False
        self.pipes = analytics.Client(info.credentials.write_key, host=info.base_url, sync_mode=True, max_retries=0)
        self.track = CustomerIO(info.credentials.site_id, info.credentials.track_api_key, host=info.host,
                                port=info.tls_port, retries=0) if info.tls_port else None  # fmt: skip

    def run(self, stop: threading.Event, tick: float = 0.5) -> None:
        """Send traffic until ``stop`` is set."""
        while not stop.is_set():
            now = self.clock()
            self._generate(now)
            self._faults(now)
            for message in self._due(now):
                self._send(message)
            stop.wait(tick)
        if self.track is not None:
            self.track.close()

    def _generate(self, now: datetime) -> None:
        while self.generated_until < now + timedelta(seconds=WINDOW):
            lo = self.generated_until
            hi = lo + timedelta(seconds=WINDOW)
            incidents = self.schedule.incidents(self.start, lo)
            window = int((lo - self.start).total_seconds() // WINDOW)
            gen = Generator(lo, hi, sessions_per_hour=self.rate, seed=self.seed + window, incidents=incidents)
            for message in gen.messages():
                self._enqueue(message)
            if window % 2 == 1:
                self._flap(lo, window)
            self.generated_until = hi

    def _enqueue(self, message: dict[str, Any]) -> None:
        at = parse_iso(message["timestamp"])
        due = parse_iso(message["sentAt"])
        if self.schedule.active("latency", self.start, at):
            due = at + timedelta(seconds=HELD_BACK * random.Random(message["messageId"]).uniform(0.8, 1.2))
            self.stats.held_back += 1
        self.seq += 1
        heapq.heappush(self.queue, (due, self.seq, message))

    def _flap(self, at: datetime, window: int) -> None:
        """One person's ``accepts_sms`` goes back and forth five times (two systems fighting)."""
        uid = f"user_{window % 500:06d}"
        for i in range(5):
            when = at + timedelta(seconds=20 * i + 5)
            message = {"type": "identify", "messageId": f"flap-{window}-{i}", "userId": uid,
                       "traits": {"accepts_sms": i % 2 == 0}, "timestamp": when.isoformat(timespec="milliseconds"),
                       "sentAt": when.isoformat(timespec="milliseconds"), "context": {"library": {"name": "shop"}}}  # fmt: skip
            self.seq += 1
            heapq.heappush(self.queue, (when, self.seq, message))

    def _faults(self, now: datetime) -> None:
        gap = self.schedule.active("delivery_gap", self.start, now)
        if self.faults is not None and gap != self.gap_on:
            self.faults("drop=0.4:Added to Cart" if gap else "drop=0")
            self.gap_on = gap

    def _due(self, now: datetime) -> Iterator[dict[str, Any]]:
        while self.queue and self.queue[0][0] <= now:
            yield heapq.heappop(self.queue)[2]

    def _send(self, message: dict[str, Any]) -> None:
        sent = self.clock()
        message = {**message, "sentAt": sent.isoformat(timespec="milliseconds")}
        try:
            self._deliver(message)
        except Exception as exc:  # the backend logs what it sent even when sending failed
            self.stats.failed += 1
            log.warning("shop: send failed: %s", type(exc).__name__)
        else:
            self.stats.sent += 1
        done = self.clock()
        self.log.write({**message, "receivedAt": done.isoformat(timespec="milliseconds")}, done)

    def _deliver(self, message: dict[str, Any]) -> None:
        when = parse_iso(message["timestamp"])
        if message["type"] == "identify" and self.track is not None:
            self.track.identify(id=message["userId"], **message.get("traits", {}))
            return
        common = {"context": message.get("context"), "timestamp": when, "message_id": message["messageId"],
                  "anonymous_id": message.get("anonymousId")}  # fmt: skip
        if message["type"] == "identify":
            self.pipes.identify(message["userId"], message.get("traits", {}), **common)
        else:
            self.pipes.track(message["userId"], message["event"], message.get("properties", {}), **common)


def replay(info: StandInInfo, messages: Iterator[dict[str, Any]], stop: threading.Event | None = None) -> int:
    """Send history through the Pipelines SDK in batches (event times kept), so the stand-in's
    activities line up with the logs already written; returns how many were queued."""
    client = analytics.Client(info.credentials.write_key, host=info.base_url, gzip=True, upload_size=100,
                              max_queue_size=200000, max_retries=2)  # fmt: skip
    count = 0
    for message in messages:
        if stop is not None and stop.is_set():
            break
        common = {"context": message.get("context"), "timestamp": parse_iso(message["timestamp"]),
                  "message_id": message["messageId"], "anonymous_id": message.get("anonymousId")}  # fmt: skip
        if message["type"] == "identify":
            client.identify(message["userId"], message.get("traits", {}), **common)
        else:
            client.track(message["userId"], message["event"], message.get("properties", {}), **common)
        count += 1
    client.flush()
    client.shutdown()
    return count


def history(start: datetime, end: datetime, sessions_per_hour: float, seed: int, incidents: Incidents) -> Iterator[dict[str, Any]]:
    """The messages of the generated history (the same generator and seed as the written logs)."""
    yield from Generator(start, end, sessions_per_hour=sessions_per_hour, seed=seed, incidents=incidents).messages()


__all__ = ["EventLog", "Schedule", "Shop", "ShopStats", "history", "replay"]
