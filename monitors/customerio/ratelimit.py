"""A sliding-window rate limit: at most ``limit`` requests in any ``window`` seconds.

The client waits on it before each App API request (and records the *completion* time, which is
never earlier than the server saw the request, so the server's window can never see too many);
the stand-in uses the same window to answer ``429``.
"""

from __future__ import annotations

import math
import threading
from collections import deque


class SlidingWindow:
    """At most ``limit`` events in any half-open window of ``window`` seconds. Thread-safe."""

    def __init__(self, limit: int, window: float = 1.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    @classmethod
    def per_second(cls, rate: float) -> SlidingWindow:
        """A window allowing ``rate`` events per second (``2.5`` → 2 per 0.8 s)."""
        limit = max(1, math.floor(rate))
        return cls(limit, limit / rate)

    def _prune(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()

    def wait_time(self, now: float) -> float:
        """Seconds until one more event fits (0 when it fits now)."""
        with self._lock:
            self._prune(now)
            if len(self._times) < self.limit:
                return 0.0
            return self._times[0] + self.window - now

    def record(self, now: float) -> None:
        """Count one event at ``now``."""
        with self._lock:
            self._times.append(now)

    def try_acquire(self, now: float) -> float:
        """Record an event if it fits and return 0; otherwise record nothing and return the wait."""
        with self._lock:
            self._prune(now)
            if len(self._times) < self.limit:
                self._times.append(now)
                return 0.0
            return self._times[0] + self.window - now
