"""Profile checks of the identity detector, from the identity HyperLogLogs stored per bucket.

For one source and environment, evaluated at most every ``interval`` at time ``e``:

* **ids never identified** — userIds that sent track events in ``[e - window, e)`` but never came
  with an identify call in ``[e - horizon, e)``: ``|uid(track) ∪ uid($identify)| − |uid($identify)|``
  over ``|uid(track)|``;
* **anonymous activity never linked** — anonymousIds active without a userId in the window that
  ended ``link_within`` ago, never seen with a userId since: ``|anon ∪ linked| − |linked|`` over
  ``|anon|``.

Both are HyperLogLog estimates (±1.6 % of each set, so differences of large sets are rough): a
finding needs the rate to rise ``min_increase`` above its median of the same time on the 7 days
before, by 4 × the spread of those days and by 4 × the error propagated from the sketches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitors.detectors._semantic import factorize
from monitors.detectors._semantic_sketch import estimate, hll_entries, registers, relative_error

HOUR = 3600
DAY = 86400
DAYS = 7
CHECKS = ("never_identified", "never_linked")


@dataclass(frozen=True)
class ProfileSettings:
    """Windows (seconds) and thresholds of the profile checks."""

    window: int
    horizon: int
    link_within: int
    interval: int
    min_increase: float
    min_ids: int

    def reach(self) -> int:
        """Seconds of history an evaluation needs (7 baseline days included)."""
        return DAYS * DAY + max(self.horizon, self.link_within + self.window)


@dataclass(frozen=True)
class Reading:
    """One check at one time: the rate now, its baseline days, and the number of ids."""

    check: str
    at: int
    rate: float
    ids: float
    baseline: list[float]
    noise: float = 0.0
    """standard error of ``rate`` from the sketches' own error"""

    @property
    def median(self) -> float:
        """Median of the baseline days (0 without any)."""
        return float(np.median(self.baseline)) if self.baseline else 0.0

    def flagged(self, s: ProfileSettings) -> bool:
        """Whether the rate rose enough above its baseline."""
        if self.ids < s.min_ids or len(self.baseline) < 3:
            return False
        spread = 1.4826 * float(np.median(np.abs(np.array(self.baseline) - self.median)))
        return self.rate - self.median >= max(s.min_increase, 4 * spread, 4 * self.noise)


class _Hours:
    """Hourly dense registers of one source/environment for track uids, identify uids, anonymous
    ids without a user and linked anonymous ids."""

    def __init__(self, frame: pd.DataFrame, start: int, end: int) -> None:
        self.start = start
        n = max((end - start) // HOUR, 1)
        t = frame["bucket_start"].to_numpy(np.int64)
        frame = frame[(t >= start) & (t < end)]
        hour = (frame["bucket_start"].to_numpy(np.int64) - start) // HOUR
        events = frame["event"].to_numpy()
        is_identify = events == "$identify"
        is_track = np.array([not str(e).startswith("$") for e in events], dtype=bool)
        self.track = self._dense(frame["uid_hll"], hour, is_track, n)
        self.identify = self._dense(frame["uid_hll"], hour, is_identify, n)
        everything = np.ones(len(frame), dtype=bool)
        self.anon = self._dense(frame["anon_only_hll"], hour, everything, n)
        self.linked = self._dense(frame["linked_hll"], hour, everything, n)

    @staticmethod
    def _dense(blobs: pd.Series, hour: np.ndarray, mask: np.ndarray, n: int) -> NDArray[np.uint8]:
        values = [_bytes(b) if m else b"" for b, m in zip(blobs.tolist(), mask.tolist(), strict=True)]
        rows, reg, rank = hll_entries(values)
        return registers(hour, n, rows, reg, rank)

    def union(self, which: NDArray[np.uint8], lo: int, hi: int) -> NDArray[np.uint8]:
        """Registers of ``[lo, hi)`` (epoch s, clipped to the hours held)."""
        a = max((lo - self.start) // HOUR, 0)
        b = max(min((hi - self.start) // HOUR, len(which)), a)
        out: NDArray[np.uint8] = which[a:b].max(axis=0) if b > a else np.zeros(which.shape[1], np.uint8)
        return out


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    encode = getattr(value, "encode", None)  # a decoded monitors.sketch.HLL
    return bytes(encode()) if callable(encode) else b""


Estimate = tuple[float, float, float]
"""(rate, ids in the denominator, standard error of the rate)"""


def _difference(n_union: float, n_other: float, n_total: float) -> Estimate:
    """``(|A ∪ B| − |B|) / |A|`` with the error propagated from both estimates."""
    if n_total <= 0:
        return 0.0, 0.0, 0.0
    noise = relative_error() * math.hypot(n_union, n_other) / n_total
    return max(n_union - n_other, 0.0) / n_total, float(n_total), float(noise)


def _never_identified(h: _Hours, e: int, s: ProfileSettings) -> Estimate:
    track = h.union(h.track, e - s.window, e)
    ident = h.union(h.identify, e - s.horizon, e)
    n_track, n_ident, n_both = estimate(np.stack([track, ident, np.maximum(track, ident)]))
    return _difference(n_both, n_ident, n_track)


def _never_linked(h: _Hours, e: int, s: ProfileSettings) -> Estimate:
    lo, hi = e - s.link_within - s.window, e - s.link_within
    anon = h.union(h.anon, lo, hi)
    linked = h.union(h.linked, lo, e)
    n_anon, n_linked, n_both = estimate(np.stack([anon, linked, np.maximum(anon, linked)]))
    return _difference(n_both, n_linked, n_anon)


def readings(frame: pd.DataFrame, at: int, s: ProfileSettings) -> dict[tuple[str, str], list[Reading]]:
    """Per (source, environment): both checks at ``at``, with their 7 baseline days."""
    out: dict[tuple[str, str], list[Reading]] = {}
    if frame.empty:
        return out
    codes, groups = factorize(frame, ["source", "environment"])
    start = at - s.reach()
    for g, (source, environment) in enumerate(groups):
        part = frame[codes == g]
        if not (part["event"] == "$identify").any():
            continue
        hours = _Hours(part, start, at)
        found = []
        for check, fn in (("never_identified", _never_identified), ("never_linked", _never_linked)):
            rate, ids, noise = fn(hours, at, s)
            base = [fn(hours, at - k * DAY, s) for k in range(1, DAYS + 1)]
            found.append(Reading(check, at, rate, ids, [r for r, n, _ in base if n >= s.min_ids], noise))
        out[(source, environment)] = found
    return out


def advance(episode: dict[str, Any] | None, reading: Reading, s: ProfileSettings) -> tuple[dict[str, Any] | None, int | None]:
    """The episode after one reading, and its end time when it just ended."""
    if reading.flagged(s):
        if episode is None:
            episode = {"start": reading.at - s.window, "opened_at": reading.at, "peak": reading.rate}
        episode.update(last=reading.at, rate=reading.rate, median=reading.median, ids=reading.ids, noise=reading.noise,
                       baseline=[round(b, 4) for b in reading.baseline], peak=max(episode["peak"], reading.rate))  # fmt: skip
        return episode, None
    if episode is not None and reading.at - episode["last"] >= 2 * s.interval:
        return None, int(episode["last"])
    return episode, None
