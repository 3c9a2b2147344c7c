"""A stored finding as the alerting pipeline sees it: labels, journeys at risk, desired state."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from monitors.alerts.message import JourneyRisk, State
from monitors.models import Severity, Status

SOURCE_LEVEL_KINDS = frozenset({"source_down", "ingest_stalled"})
"""Kinds that describe a whole source (``event`` and ``subject`` empty)."""


@dataclass(frozen=True)
class AlertFinding:
    """One row of the ``findings`` table plus what alerting adds (journeys, raised severity)."""

    fingerprint: str
    kind: str
    source: str
    environment: str
    event: str
    subject: str
    title: str
    severity: Severity
    score: float
    started_at: datetime
    status: Status
    created_at: datetime
    observed: float | None = None
    expected: float | None = None
    ended_at: datetime | None = None
    status_by: str | None = None
    snoozed_until: datetime | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    base_severity: Severity | None = None
    journeys: tuple[JourneyRisk, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AlertFinding:
        """Build from a ``findings`` row (evidence may be JSON text)."""
        evidence = row.get("evidence") or {}
        if isinstance(evidence, str):
            try:
                evidence = json.loads(evidence)
            except ValueError:
                evidence = {"raw": evidence}
        return cls(
            fingerprint=row["fingerprint"],
            kind=row["kind"],
            source=row["source"],
            environment=row["environment"],
            event=row["event"],
            subject=row.get("subject") or "",
            title=row["title"],
            severity=Severity(row["severity"]),
            score=float(row.get("score") or 0.0),
            started_at=row["started_at"],
            status=Status(row["status"]),
            created_at=row.get("created_at") or row["started_at"],
            observed=row.get("observed"),
            expected=row.get("expected"),
            ended_at=row.get("ended_at"),
            status_by=row.get("status_by"),
            snoozed_until=row.get("snoozed_until"),
            evidence=evidence if isinstance(evidence, dict) else {"value": evidence},
        )

    @property
    def state(self) -> State:
        """The state notifications should reflect: expected findings count as resolved."""
        if self.status in (Status.RESOLVED, Status.EXPECTED):
            return State.RESOLVED
        if self.status is Status.ACKNOWLEDGED:
            return State.ACKNOWLEDGED
        return State.FIRING

    @property
    def active(self) -> bool:
        """Open or acknowledged."""
        return self.state is not State.RESOLVED

    def snoozed(self, now: datetime) -> bool:
        """Whether someone snoozed it until after ``now``."""
        return self.snoozed_until is not None and self.snoozed_until > now

    def with_journeys(self, journeys: tuple[JourneyRisk, ...], severity: Severity) -> AlertFinding:
        """A copy naming the journeys at risk, with the (possibly raised) severity."""
        return replace(self, journeys=journeys, severity=severity, base_severity=self.severity)

    def labels(self) -> dict[str, list[str]]:
        """Label values for matchers (routes, silences, inhibition). ``journey`` may hold several."""
        return {
            "kind": [self.kind],
            "severity": [self.severity.value],
            "source": [self.source],
            "environment": [self.environment],
            "event": [self.event],
            "subject": [self.subject],
            "journey": sorted({j.name for j in self.journeys}),
            "fingerprint": [self.fingerprint],
        }
