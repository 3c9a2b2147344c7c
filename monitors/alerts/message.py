"""What to say: a format-neutral alert message. Renderers decide how it looks, sinks where it goes.

A :class:`Message` holds one or more :class:`Item` (one per finding and state change), the
journeys at risk, facts, links to the dashboard and redacted evidence. Reports (e.g. the weekly
latency review) and test alerts are messages too, with ``kind`` ``report`` or ``test`` and a
prepared text / HTML body. Messages round-trip through JSON (:meth:`Message.to_dict`,
:meth:`Message.from_dict`) so the outbox can keep them; they never hold secrets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from monitors.models import Severity
from monitors.timeutil import iso, parse_iso


class State(StrEnum):
    """Where a finding is in its lifecycle, as far as notifications go."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class MessageKind(StrEnum):
    """An alert about findings, a report with a prepared body, or a clearly marked test."""

    ALERT = "alert"
    REPORT = "report"
    TEST = "test"


@dataclass(frozen=True)
class JourneyRisk:
    """A journey put at risk by a finding: ``role`` is trigger, exit, filter, property or source."""

    name: str
    role: str
    via: str

    def describe(self) -> str:
        """``Cart recovery (exit: Order Completed)``."""
        return f"{self.name} ({self.role}: {self.via})"


@dataclass(frozen=True)
class Fact:
    """A labelled value shown as a key/value pair."""

    label: str
    value: str


@dataclass(frozen=True)
class Link:
    """A link shown as a button or a hyperlink."""

    text: str
    url: str


@dataclass(frozen=True)
class Item:
    """One finding in a message, with the state change being notified.

    ``transition`` is the notification-log key (``firing:critical``, ``acknowledged``,
    ``resolved``, ``repeat:2``); ``previous`` the state notified before, if any; ``detail`` one
    sentence about the state (since when, observed vs expected, who acknowledged).
    """

    fingerprint: str
    kind: str
    state: State
    severity: Severity
    title: str
    source: str
    environment: str
    event: str
    subject: str
    started_at: datetime
    ended_at: datetime | None = None
    observed: float | None = None
    expected: float | None = None
    score: float | None = None
    status: str = "open"
    status_by: str | None = None
    transition: str = ""
    previous: str | None = None
    base_severity: Severity | None = None
    journeys: tuple[JourneyRisk, ...] = ()
    url: str = ""
    detail: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``source/environment``."""
        return f"{self.source}/{self.environment}"

    @property
    def raised(self) -> bool:
        """Whether journeys raised the severity above the detector's."""
        return self.base_severity is not None and self.base_severity.rank < self.severity.rank


@dataclass(frozen=True)
class Message:
    """One notification: title, state, severity, summary, facts, journeys, links, items.

    ``body_text`` / ``body_html`` carry the prepared content of reports. ``repeat`` marks a
    reminder for findings that are still firing (``repeat_interval``).
    """

    kind: MessageKind
    title: str
    state: State
    severity: Severity
    summary: str
    created_at: datetime
    route: str = ""
    group: dict[str, str] = field(default_factory=dict)
    repeat: bool = False
    facts: tuple[Fact, ...] = ()
    journeys: tuple[JourneyRisk, ...] = ()
    links: tuple[Link, ...] = ()
    items: tuple[Item, ...] = ()
    body_text: str | None = None
    body_html: str | None = None

    @property
    def is_test(self) -> bool:
        """A test alert (``alerts test``)."""
        return self.kind is MessageKind.TEST

    def with_state(self, state: State) -> Message:
        """A copy where the message and every item have ``state`` (e.g. a Slack root flipped to resolved)."""
        items = tuple(replace(i, state=state) for i in self.items)
        summary = f"Now {state.value} (details in the thread). Was: {self.summary}"
        return replace(self, state=state, items=items, summary=summary)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (datetimes as ISO 8601 UTC)."""
        data: dict[str, Any] = _jsonable(asdict(self))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=MessageKind(data["kind"]),
            title=data["title"],
            state=State(data["state"]),
            severity=Severity(data["severity"]),
            summary=data["summary"],
            created_at=parse_iso(data["created_at"]),
            route=data.get("route", ""),
            group=dict(data.get("group") or {}),
            repeat=bool(data.get("repeat")),
            facts=tuple(Fact(**f) for f in data.get("facts", [])),
            journeys=tuple(JourneyRisk(**j) for j in data.get("journeys", [])),
            links=tuple(Link(**k) for k in data.get("links", [])),
            items=tuple(_item(i) for i in data.get("items", [])),
            body_text=data.get("body_text"),
            body_html=data.get("body_html"),
        )


def _item(data: dict[str, Any]) -> Item:
    values = dict(data)
    values["state"] = State(values["state"])
    values["severity"] = Severity(values["severity"])
    if values.get("base_severity") is not None:
        values["base_severity"] = Severity(values["base_severity"])
    values["started_at"] = parse_iso(values["started_at"])
    values["ended_at"] = parse_iso(values["ended_at"]) if values.get("ended_at") else None
    values["journeys"] = tuple(JourneyRisk(**j) for j in values.get("journeys", []))
    return Item(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


__all__ = ["Fact", "Item", "JourneyRisk", "Link", "Message", "MessageKind", "State"]
