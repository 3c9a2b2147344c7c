"""Value objects shared across the product: findings (what every detector produces).

Detectors are pure and return :class:`FindingDraft` objects; the findings store turns them into
stored findings with a lifecycle (open → acknowledged → resolved, or expected).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How urgent a finding is. Ordered: info < warning < critical."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0, 1, 2 for ordering."""
        return ["info", "warning", "critical"].index(self.value)


class Status(StrEnum):
    """Lifecycle of a stored finding."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    EXPECTED = "expected"


def fingerprint(kind: str, source: str, environment: str, event: str, subject: str, started_at: datetime) -> str:
    """Stable id of one episode of one problem: dedup key for stores, alerts and PagerDuty."""
    key = f"{kind}|{source}|{environment}|{event}|{subject}|{int(started_at.timestamp())}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class FindingDraft:
    """A detector's verdict on one episode. ``ended_at`` is None while the episode is ongoing.

    ``subject`` narrows the finding inside an event (a property name, a hop, an attribute);
    empty when the finding is about the whole event. ``evidence`` is JSON-serialisable and holds
    the numbers, the window and up to 5 redacted samples.
    """

    kind: str
    source: str
    environment: str
    event: str
    started_at: datetime
    severity: Severity
    score: float
    title: str
    observed: float | None = None
    expected: float | None = None
    ended_at: datetime | None = None
    subject: str = ""
    last_seen_at: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """See :func:`fingerprint`."""
        return fingerprint(self.kind, self.source, self.environment, self.event, self.subject, self.started_at)
