"""Build alerting value objects without a database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from monitors.alerts.finding import AlertFinding
from monitors.models import Severity, Status, fingerprint
from tests.monitors.alerts.conftest import T0


def make_finding(
    kind: str = "volume_drop",
    *,
    source: str = "web",
    environment: str = "production",
    event: str = "Order Completed",
    subject: str = "",
    severity: str = "warning",
    status: str = "open",
    started_at: datetime = T0,
    created_at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    title: str | None = None,
    status_by: str | None = None,
    ended_at: datetime | None = None,
    snoozed_until: datetime | None = None,
) -> AlertFinding:
    """An :class:`AlertFinding` with sensible defaults."""
    return AlertFinding(
        fingerprint=fingerprint(kind, source, environment, event, subject, started_at),
        kind=kind,
        source=source,
        environment=environment,
        event=event,
        subject=subject,
        title=title or f"{event or source}: {kind}",
        severity=Severity(severity),
        score=5.0,
        started_at=started_at,
        status=Status(status),
        created_at=created_at or started_at,
        observed=10.0,
        expected=100.0,
        ended_at=ended_at,
        status_by=status_by,
        snoozed_until=snoozed_until,
        evidence=evidence or {},
    )
