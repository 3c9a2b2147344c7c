"""Fixtures for alerting tests: real receivers on 127.0.0.1, findings written into the
``findings`` table through its table object, configs built from dicts, a fixed clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from monitors.config import Config, parse_config
from monitors.models import fingerprint
from storage import Store
from storage.tables_findings import findings
from tests.monitors.alerts.receivers import HttpReceiver, SmtpReceiver, start_smtp

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)

JOURNEYS: list[dict[str, Any]] = [
    {
        "name": "Cart recovery",
        "trigger": ["Added to Cart"],
        "exit": ["Order Completed"],
        "filter": ["cart_value"],
    },
    {"name": "Post-purchase", "trigger": ["Order Completed"], "properties": ["order_id"]},
]


def at(seconds: float = 0, minutes: float = 0, hours: float = 0) -> datetime:
    """``T0`` plus an offset."""
    return T0 + timedelta(seconds=seconds, minutes=minutes, hours=hours)


def add_finding(
    store: Store,
    *,
    kind: str = "volume_drop",
    source: str = "web",
    environment: str = "production",
    event: str = "Order Completed",
    subject: str = "",
    severity: str = "warning",
    status: str = "open",
    started_at: datetime = T0,
    created_at: datetime | None = None,
    title: str | None = None,
    observed: float | None = 12.0,
    expected: float | None = 120.0,
    score: float = 6.5,
    evidence: dict[str, Any] | None = None,
) -> str:
    """Insert a finding row; returns its fingerprint."""
    fp = fingerprint(kind, source, environment, event, subject, started_at)
    created = created_at or started_at
    row = {
        "fingerprint": fp,
        "kind": kind,
        "source": source,
        "environment": environment,
        "event": event,
        "subject": subject,
        "title": title or f"{event or source}: {kind.replace('_', ' ')}",
        "severity": severity,
        "score": score,
        "observed": observed,
        "expected": expected,
        "started_at": started_at,
        "status": status,
        "evidence": json.dumps(evidence if evidence is not None else {"window": "45m", "drop_pct": 90}),
        "created_at": created,
        "updated_at": created,
    }
    with store.engine.begin() as conn:
        conn.execute(insert(findings).values(**row))
    return fp


def set_finding(store: Store, fp: str, **values: Any) -> None:
    """Update a finding (e.g. ``status="resolved", ended_at=...``)."""
    if "evidence" in values:
        values["evidence"] = json.dumps(values["evidence"])
    values.setdefault("updated_at", T0)
    with store.engine.begin() as conn:
        conn.execute(update(findings).where(findings.c.fingerprint == fp).values(**values))


def resolve(store: Store, fp: str, ended: datetime) -> None:
    """Mark a finding resolved at ``ended``."""
    set_finding(store, fp, status="resolved", ended_at=ended)


def make_config(
    receivers: list[dict[str, Any]],
    route: dict[str, Any],
    *,
    journeys: list[dict[str, Any]] | None = None,
    **alerts: Any,
) -> Config:
    """A config with these receivers, this routing tree and the standard journeys."""
    return parse_config(
        {
            "journeys": JOURNEYS if journeys is None else journeys,
            "alerts": {
                "dashboard_url": "http://dash.test:8501",
                "receivers": receivers,
                "route": route,
                **alerts,
            },
        }
    )


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """A migrated SQLite store (for tests that need only one backend)."""
    st = Store.from_url(sqlite_url)
    st.migrate()
    try:
        yield st
    finally:
        st.dispose()


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """An HTTP server on 127.0.0.1 recording requests."""
    receiver = HttpReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    """A client for sinks (no proxies from the environment)."""
    with httpx.Client(trust_env=False) as client:
        yield client


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpReceiver]:
    """An SMTP server requiring STARTTLS then AUTH."""
    server = start_smtp(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_ssl(tmp_path: Path) -> Iterator[SmtpReceiver]:
    """An SMTP server with implicit TLS and AUTH."""
    server = start_smtp(tmp_path, implicit_tls=True)
    try:
        yield server
    finally:
        server.stop()
