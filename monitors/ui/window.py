"""The time window a page shows: a range key from the URL (``?range=24h``) and the clock.

Windows are aligned to their display width so cached loaders hit the same keys on every rerun
within a bucket, and the current (partial) bucket is included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitors.timeutil import from_epoch, parse_duration, to_epoch
from monitors.ui.config import RANGES

WIDTHS = {"1h": 300, "6h": 300, "24h": 300, "3d": 900, "7d": 3600, "30d": 21600, "90d": 86400}
"""Display bucket width per range (a multiple of the stored 5-minute buckets)."""


@dataclass(frozen=True)
class Window:
    """Bucket starts in ``[since, until)`` (epoch seconds), drawn at ``width`` seconds."""

    key: str
    since: int
    until: int
    width: int

    @property
    def start(self) -> datetime:
        """``since`` as a datetime."""
        return from_epoch(self.since)

    @property
    def end(self) -> datetime:
        """``until`` as a datetime."""
        return from_epoch(self.until)

    @property
    def width_label(self) -> str:
        """``5 min``, ``1 h``, ``1 day`` — for axis titles."""
        if self.width % 86400 == 0:
            return f"{self.width // 86400} day" if self.width == 86400 else f"{self.width // 86400} days"
        if self.width % 3600 == 0:
            return f"{self.width // 3600} h"
        return f"{self.width // 60} min"


def window(key: str, now: datetime, stored: int = 300) -> Window:
    """The window of range ``key`` ending with the bucket that contains ``now``."""
    if key not in RANGES:
        raise ValueError(f"unknown range {key!r} (use {', '.join(RANGES)})")
    width = max(WIDTHS[key], stored)
    width -= width % stored
    until = to_epoch(now) - to_epoch(now) % width + width
    return Window(key, until - parse_duration(key), until, width)
