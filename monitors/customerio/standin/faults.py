"""Injectable faults of the stand-in, settable at start (``--fault``), from Python, or over HTTP.

Spec strings (``--fault``, repeatable)::

    latency=0.2          add 0.2 s to every response
    hang=3               the next 3 App API requests stall for ``hang_seconds`` (client timeouts)
    hang_seconds=2       how long a hang lasts
    5xx=4                the next 4 App API requests answer 503
    429=6                the next 6 App API requests answer 429 (a storm)
    retry_after=1        Retry-After of storm answers (whole seconds, >= 1)
    revoked              the App API key is rejected (401) until cleared
    drop=0.1             10 % of incoming events are accepted (200) but never recorded
    drop=0.5:checkout    ... only events named ``checkout``
    fail=0.2[:NAME]      a share of incoming events become ``failed_event`` activities
    bounce=0.1           share of campaign messages that bounce instead of being delivered

Shares are applied exactly and evenly (the n-th matching event is hit when ``floor(n*share)``
grows), so tests can predict counts.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field


class FaultSpecError(ValueError):
    """A ``--fault`` string that cannot be parsed."""


@dataclass
class Share:
    """An exact, evenly spread share of matching items (optionally only one event name)."""

    share: float = 0.0
    event: str | None = None
    seen: int = 0

    def hit(self, name: str | None = None) -> bool:
        """Count one item; whether it is in the share."""
        if self.share <= 0 or (self.event is not None and name != self.event):
            return False
        self.seen += 1
        return math.floor(self.seen * self.share + 1e-9) > math.floor((self.seen - 1) * self.share + 1e-9)


@dataclass
class Faults:
    """Current faults. Counters (``hang``, ``errors_5xx``, ``storm_429``) count down per App API request."""

    latency: float = 0.0
    hang: int = 0
    hang_seconds: float = 2.0
    errors_5xx: int = 0
    storm_429: int = 0
    retry_after: int = 1
    revoked: bool = False
    drop: Share = field(default_factory=Share)
    fail: Share = field(default_factory=Share)
    bounce: Share = field(default_factory=Share)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, counter: str) -> bool:
        """Decrement ``counter`` if positive; whether a fault fires for this request."""
        with self._lock:
            value = int(getattr(self, counter))
            if value <= 0:
                return False
            setattr(self, counter, value - 1)
            return True

    def hit(self, which: str, name: str | None = None) -> bool:
        """Whether the share fault ``which`` (drop, fail, bounce) hits this item."""
        with self._lock:
            share: Share = getattr(self, which)
            return share.hit(name)

    def apply(self, spec: str) -> None:
        """Apply one spec string (see the module doc)."""
        key, _, value = spec.strip().partition("=")
        key = key.strip().lower()
        with self._lock:
            try:
                self._apply(key, value.strip())
            except ValueError as exc:
                raise FaultSpecError(f"bad fault {spec!r}: {exc}") from exc

    def _apply(self, key: str, value: str) -> None:
        numbers = {"latency": ("latency", float), "hang": ("hang", int), "hang_seconds": ("hang_seconds", float),
                   "5xx": ("errors_5xx", int), "429": ("storm_429", int), "retry_after": ("retry_after", int)}
        if key in numbers:
            attr, kind = numbers[key]
            number = kind(value)
            if number < 0 or (key == "retry_after" and number < 1):
                raise ValueError("out of range")
            setattr(self, attr, number)
        elif key == "revoked":
            self.revoked = value.lower() not in ("0", "false", "no", "off")
        elif key in ("drop", "fail", "bounce"):
            share, _, event = value.partition(":")
            fraction = float(share)
            if not 0.0 <= fraction <= 1.0:
                raise ValueError("share must be between 0 and 1")
            setattr(self, key, Share(fraction, event or None))
        elif key == "clear":
            self._clear()
        else:
            raise ValueError("unknown fault (latency, hang, hang_seconds, 5xx, 429, retry_after, revoked, "
                             "drop, fail, bounce, clear)")

    def _clear(self) -> None:
        self.latency, self.hang, self.errors_5xx, self.storm_429, self.revoked = 0.0, 0, 0, 0, False
        self.drop, self.fail, self.bounce = Share(), Share(), Share()

    def describe(self) -> dict[str, object]:
        """The current faults as JSON-friendly values."""
        with self._lock:
            return {
                "latency": self.latency, "hang": self.hang, "hang_seconds": self.hang_seconds,
                "5xx": self.errors_5xx, "429": self.storm_429, "retry_after": self.retry_after,
                "revoked": self.revoked,
                **{k: {"share": s.share, "event": s.event} for k, s in
                   (("drop", self.drop), ("fail", self.fail), ("bounce", self.bounce))},
            }
