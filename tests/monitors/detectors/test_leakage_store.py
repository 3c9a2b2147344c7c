"""Leakage on the real Store: a few test sessions on a source that never sends test data are a
finding within the hour; the same sessions on a source whose baseline carries a QA trickle, or
one stray session, are not."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitors.config import Config
from monitors.detect import run_detection
from storage import Store
from tests.monitors.ingest.helpers import run_ingest

START = datetime(2024, 1, 1, tzinfo=UTC)
ONSET = START + timedelta(days=3, hours=14)
PER_HOUR = 200
"""customer messages an hour (a small app: 2 test sessions are 6 % of an hour)"""


def _message(rnd: random.Random, at: datetime, event: str, user: str, build: str, email: str) -> dict[str, Any]:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {"type": "track", "event": event, "userId": user, "anonymousId": f"a-{user}",
            "messageId": f"{rnd.getrandbits(64):016x}", "timestamp": stamp, "sentAt": stamp, "receivedAt": stamp,
            "properties": {"product_id": f"sku_{rnd.randrange(50)}"},
            "context": {"app": {"name": "Shop", "version": build, "build": build.replace(".", "")}, "traits": {"email": email}}}  # fmt: skip


def _session(rnd: random.Random, at: datetime, user: str, build: str, email: str) -> list[dict[str, Any]]:
    """Six messages a minute apart, two of each event (no one event holds enough to stand out)."""
    events = ["Product Viewed", "Product Viewed", "Added to Cart", "Added to Cart", "Checkout Started", "Checkout Started"]
    return [_message(rnd, at + timedelta(minutes=i), e, user, build, email) for i, e in enumerate(events)]


def _test_session(rnd: random.Random, at: datetime) -> list[dict[str, Any]]:
    q = rnd.randrange(40)
    return _session(rnd, at, f"test_user_{q}", "4.13.0-debug", f"qa+{q}@example.com")


def _traffic(*, trickle: bool, sessions: list[datetime], end: datetime) -> list[dict[str, Any]]:
    """Customers at ``PER_HOUR`` messages an hour; with ``trickle`` a QA session on a debug build
    every 2 hours since the start; test sessions at ``sessions``."""
    rnd = random.Random(7)
    out: list[dict[str, Any]] = []
    at = START
    while at < end:
        n = rnd.randrange(10**6)
        out += _session(rnd, at, f"user_{n:06d}", "4.12.0", f"customer{n}@gmail.com")
        at += timedelta(seconds=rnd.expovariate(PER_HOUR / 6 / 3600))
    if trickle:
        sessions = [*sessions, *(START + timedelta(hours=2 * h, minutes=17) for h in range(int((end - START).total_seconds()) // 7200))]
    for when in sessions:
        out += _test_session(rnd, when)
    return sorted((m for m in out if m["timestamp"] < end.isoformat().replace("+00:00", "Z")), key=lambda m: m["timestamp"])


def _leaks(store: Store, tmp_path: Path, *, trickle: bool, sessions: list[datetime]) -> list[Any]:
    now = ONSET + timedelta(minutes=55)
    path = tmp_path / "ios.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in _traffic(trickle=trickle, sessions=sessions, end=now)))
    run_ingest(store, path, source="ios")
    config = Config()
    run_detection(store, config, now=ONSET - timedelta(minutes=30), only=["leakage"])
    run_detection(store, config, now=now, only=["leakage"])
    return [f for f in store.list_findings() if f.kind == "staging_leak"]


TWO_SESSIONS = [ONSET + timedelta(minutes=5), ONSET + timedelta(minutes=35)]


def test_two_test_sessions_on_a_source_without_test_data_are_found_within_the_hour(store: Store, tmp_path: Path) -> None:
    (leak,) = _leaks(store, tmp_path, trickle=False, sessions=TWO_SESSIONS)
    assert (leak.source, leak.event, leak.started_at) == ("ios", "*", ONSET + timedelta(minutes=5))
    assert leak.evidence["elevated"] == ["dev_build", "test_email"]
    assert leak.evidence["signals"] == {"dev_build": 12, "test_email": 12, "test_user_id": 12}


@pytest.mark.parametrize(
    ("trickle", "sessions"),
    [(True, TWO_SESSIONS), (False, TWO_SESSIONS[:1])],
    ids=["same-sessions-on-a-qa-trickle", "one-stray-session"],
)
def test_test_sessions_the_baseline_explains_are_not_found(
    store: Store, tmp_path: Path, trickle: bool, sessions: list[datetime]
) -> None:
    assert _leaks(store, tmp_path, trickle=trickle, sessions=sessions) == []
