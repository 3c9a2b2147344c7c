"""The one-command demo: a few days of realistic D2C traffic with incidents, ingested into SQLite.

The log is written the way a backend would write its outgoing Customer.io calls: daily rotated
JSON-lines files (older days gzipped), with a few malformed lines mixed in.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitors.demo.generate import Generator, Incidents
from monitors.errors import ConfigError
from storage import Store
from storage.tables import meta

MALFORMED = [
    '{"type": "track", "event": "Added to Cart", "userId": "u1", "timestamp": "2026-',
    "Traceback (most recent call last): worker crashed while writing the event log",
    '{"type": "track", "userId": "user_000001", "timestamp": "%s", "properties": {}}',
]


@dataclass(frozen=True)
class DemoPlan:
    """Where and how much."""

    end: datetime
    days: int = 3
    sessions_per_hour: float = 700.0
    seed: int = 11

    @property
    def start(self) -> datetime:
        """First event time."""
        return self.end - timedelta(days=self.days)

    def incidents(self) -> Incidents:
        """Incidents on the last day, at fixed offsets from the end."""
        e = self.end
        return Incidents(
            rename=(e - timedelta(hours=5), e - timedelta(hours=2)),
            staging_leak=(e - timedelta(hours=20), e - timedelta(hours=17)),
            latency=(e - timedelta(hours=14), e - timedelta(hours=12)),
            drop=(e - timedelta(hours=9), e - timedelta(hours=7, minutes=30)),
            missing_cart_id=(e - timedelta(hours=30), e - timedelta(hours=28)),
        )


def write_logs(folder: Path, plan: DemoPlan) -> list[Path]:
    """Write one file per UTC day (gzip for all but the last) and return them."""
    folder.mkdir(parents=True, exist_ok=True)
    gen = Generator(plan.start, plan.end, sessions_per_hour=plan.sessions_per_hour, seed=plan.seed, incidents=plan.incidents())
    by_day: dict[str, list[str]] = {}
    for msg in gen.messages():
        by_day.setdefault(msg["timestamp"][:10], []).append(json.dumps(msg, separators=(",", ":")))
    days = sorted(by_day)
    paths = []
    for i, day in enumerate(days):
        lines = by_day[day]
        if i == len(days) - 2:  # yesterday's log had a bad deploy writing junk
            lines[len(lines) // 3 : len(lines) // 3] = [MALFORMED[0], MALFORMED[1], MALFORMED[2] % (day + "T12:00:00Z")]
        body = ("\n".join(lines) + "\n").encode()
        if i < len(days) - 1:
            path = folder / f"events-{day}.jsonl.gz"
            with gzip.open(path, "wb") as fh:
                fh.write(body)
        else:
            path = folder / "events.jsonl"
            path.write_bytes(body)
        paths.append(path)
    return paths


def prepare_store(url: str) -> Store:
    """Open the demo database; a non-demo database is never wiped."""
    store = Store.from_url(url)
    database = store.engine.url.database or ""
    if store.dialect != "sqlite":
        raise ConfigError("the demo runs on the embedded SQLite database; pass --db sqlite:///PATH")
    if database and os.path.exists(database):
        store.migrate()
        if store.get_meta("demo") != "1":
            raise ConfigError(f"{database} holds real data; the demo will not overwrite it (pass --db sqlite:///demo.sqlite)")
        store.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(database + suffix).unlink(missing_ok=True)
        store = Store.from_url(url)
    store.migrate()
    with store.writer() as conn, conn.begin():
        conn.execute(meta.insert().values(key="demo", value="1"))
    return store


def reset_folder(folder: Path) -> None:
    """Remove the previous demo logs."""
    shutil.rmtree(folder, ignore_errors=True)


def demo_end(now: datetime) -> datetime:
    """The demo's traffic ends at the last full 5 minutes before ``now``."""
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 5)
