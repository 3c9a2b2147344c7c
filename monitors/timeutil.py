"""UTC time helpers: parsing ISO 8601 and durations, bucket arithmetic. Buckets are half-open."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int) -> int:
    """Parse ``5m``, ``1h``, ``30s``, ``1d`` (or a number of seconds) into seconds."""
    if isinstance(text, int):
        return text
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h, 1d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def format_duration(seconds: int) -> str:
    """The inverse of :func:`parse_duration` for whole units."""
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp; naive input is taken as UTC. Returns an aware UTC datetime."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_epoch(value: datetime) -> int:
    """Whole seconds since the epoch of an aware datetime."""
    return int(value.timestamp())


def from_epoch(seconds: int | float) -> datetime:
    """Aware UTC datetime from epoch seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def iso(value: datetime | int | float) -> str:
    """ISO 8601 UTC with a ``Z`` suffix."""
    if not isinstance(value, datetime):
        value = from_epoch(value)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def floor_epoch(seconds: int, width: int) -> int:
    """Start of the bucket of ``width`` seconds that contains ``seconds``."""
    return seconds - seconds % width


def utcnow() -> datetime:
    """The current time, aware UTC. Only the edges of the program call this; detectors get ``now``."""
    return datetime.now(UTC)


__all__ = [
    "floor_epoch",
    "format_duration",
    "from_epoch",
    "iso",
    "parse_duration",
    "parse_iso",
    "timedelta",
    "to_epoch",
    "utcnow",
]
