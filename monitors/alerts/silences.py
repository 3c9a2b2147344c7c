"""Silences: time-boxed label matchers that mute new notifications (created from the CLI or the
dashboard, stored by the Store). A silenced finding that was already notified still gets its
resolved notification, so receivers such as PagerDuty never keep a stale incident open."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitors.alerts.config import LABELS
from monitors.alerts.finding import AlertFinding
from monitors.alerts.matchers import Patterns, describe, matches


@dataclass(frozen=True)
class Silence:
    """Mute findings matching ``matchers`` from ``starts_at`` until ``ends_at``."""

    id: int
    matchers: dict[str, Patterns]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Silence:
        """Build from a Store row (``matchers`` already decoded)."""
        return cls(
            id=int(row["id"]),
            matchers=dict(row["matchers"]),
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            created_by=row["created_by"],
            comment=row.get("comment") or "",
            created_at=row["created_at"],
        )

    def active(self, now: datetime) -> bool:
        """In force at ``now`` (half-open ``[starts_at, ends_at)``)."""
        return self.starts_at <= now < self.ends_at

    def mutes(self, finding: AlertFinding, now: datetime) -> bool:
        """Whether it mutes ``finding`` at ``now``."""
        return self.active(now) and matches(self.matchers, finding.labels())

    def describe(self) -> str:
        """``#3 kind=volume_drop until 2026-…`` for people."""
        return f"#{self.id} {describe(self.matchers)}"


def validate_matchers(matchers: Mapping[str, Patterns]) -> dict[str, Patterns]:
    """Reject empty matcher sets (a silence must not mute everything) and unknown labels."""
    if not matchers:
        raise ValueError("a silence needs at least one matcher, e.g. event='Order Completed'")
    unknown = sorted(set(matchers) - set(LABELS))
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; use {', '.join(LABELS)}")
    return dict(matchers)


def silenced(findings: Sequence[AlertFinding], silences: Sequence[Silence], now: datetime) -> dict[str, str]:
    """Fingerprint → reason, for every finding muted by a silence at ``now``."""
    live = [s for s in silences if s.active(now)]
    muted: dict[str, str] = {}
    for finding in findings:
        hit = next((s for s in live if s.mutes(finding, now)), None)
        if hit is not None:
            muted[finding.fingerprint] = f"silenced by {hit.describe()}"
    return muted
