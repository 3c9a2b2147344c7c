"""Profile checks of the identity detector, from the identity HyperLogLogs stored per bucket.

For one source and environment, once per completed UTC day D (windows are whole days):

* **ids never identified** — userIds that sent track events in the last ``window`` days but never
  came with an identify call in the last ``horizon`` days:
  ``|uid(track) ∪ uid($identify)| − |uid($identify)|`` over ``|uid(track)|``;
* **anonymous activity never linked** — anonymousIds active without a userId in the ``window``
  days that ended ``link_within`` days ago, never seen with a userId since:
  ``|anon ∪ linked| − |linked|`` over ``|anon|``.

The detector keeps, per source, one merged register array per day and kind of id (track userIds,
identify userIds, anonymous-only ids, linked anonymous ids) for the days these windows reach, so
a day's sketches are read once. Both rates are HyperLogLog estimates (±1.6 % per set, so the
difference of two large sets is rough): a finding needs the rate to rise ``min_increase`` above
its median on the 7 days before, by 4 × the spread of those days and by 4 × the error propagated
from the sketches.
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitors.detectors._semantic_sketch import estimate, hll_entries, relative_error
from monitors.sketch import HLL_M

DAY = 86400
BASELINE_DAYS = 7
CHECKS = ("never_identified", "never_linked")
CHANNELS = ("track", "identify", "anon", "linked")


@dataclass(frozen=True)
class ProfileSettings:
    """Windows (whole days) and thresholds of the profile checks."""

    window: int
    horizon: int
    link_within: int
    min_increase: float
    min_ids: int

    def keep(self) -> int:
        """Days of registers an evaluation needs (7 baseline days included)."""
        return BASELINE_DAYS + max(self.horizon, self.link_within + self.window)

    def cold(self) -> int:
        """Days read when nothing is kept yet: one (the sketches of many days are costly to read
        in one pass); the first judgement comes once 3 baseline days and the windows are held."""
        return 1


@dataclass
class Days:
    """Merged registers per channel and day: ``regs[c, i]`` is day ``first + i`` (epoch days)."""

    first: int
    regs: NDArray[np.uint8]

    @classmethod
    def empty(cls, first: int) -> Days:
        """No day merged yet; the next one is ``first``."""
        return cls(first, np.zeros((len(CHANNELS), 0, HLL_M), dtype=np.uint8))

    @property
    def until(self) -> int:
        """The first day not merged yet."""
        return int(self.first + self.regs.shape[1])

    def encode(self) -> dict[str, Any]:
        """JSON-ready (the registers compressed, base64)."""
        return {"first": self.first, "days": self.regs.shape[1], "regs": base64.b64encode(zlib.compress(self.regs.tobytes(), 6)).decode()}

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Days:
        """Inverse of :meth:`encode`."""
        raw = zlib.decompress(base64.b64decode(data["regs"]))
        regs = np.frombuffer(raw, dtype=np.uint8).reshape(len(CHANNELS), int(data["days"]), HLL_M).copy()
        return cls(int(data["first"]), regs)

    def merged(self, frame: pd.DataFrame, until: int, keep: int) -> Days:
        """These days plus those of ``frame`` up to day ``until`` (exclusive), the last ``keep`` kept."""
        return merge_days({0: self}, np.zeros(len(frame), dtype=np.int64), frame, until, keep)[0]

    def union(self, channel: str, lo: int, hi: int) -> NDArray[np.uint8]:
        """Registers of days ``[lo, hi)`` of one channel (days not held count as empty)."""
        a, b = max(lo - self.first, 0), max(min(hi - self.first, self.regs.shape[1]), 0)
        c = CHANNELS.index(channel)
        out: NDArray[np.uint8] = self.regs[c, a:b].max(axis=0) if b > a else np.zeros(HLL_M, np.uint8)
        return out


def merge_days(days: dict[int, Days], group: np.ndarray, frame: pd.DataFrame, until: int, keep: int) -> dict[int, Days]:
    """Merge the rows of ``frame`` into the :class:`Days` of their group (``group[i]`` for row
    ``i``), every blob decoded once: track and identify userIds come from the same column."""
    starts = {g: d.until for g, d in days.items()}
    n = {g: max(until - d.until, 0) for g, d in days.items()}
    fresh = {g: np.zeros((len(CHANNELS), n[g], HLL_M), dtype=np.uint8) for g in days}
    if not frame.empty and any(n.values()):
        first = np.array([starts.get(int(g), 0) for g in group], dtype=np.int64) if len(group) else group
        day = frame["bucket_start"].to_numpy(np.int64) // DAY - first
        limit = np.array([n.get(int(g), 0) for g in group], dtype=np.int64) if len(group) else group
        ok = (day >= 0) & (day < limit)
        events = frame["event"].astype(str)
        is_identify = (events == "$identify").to_numpy()
        is_track = ~events.str.startswith("$").to_numpy()
        for column, channels in (("uid_hll", {"track": is_track, "identify": is_identify}),
                                 ("anon_only_hll", {"anon": ok}), ("linked_hll", {"linked": ok})):  # fmt: skip
            rows, reg, rank = hll_entries(_blobs(frame[column], ok))
            for name, mask in channels.items():
                take = mask[rows] & ok[rows]
                _scatter(fresh, CHANNELS.index(name), group[rows[take]], day[rows[take]], reg[take], rank[take])
    out = {}
    for g, d in days.items():
        regs = np.concatenate([d.regs, fresh[g]], axis=1)
        drop = max(regs.shape[1] - keep, 0)
        out[g] = Days(d.first + drop, regs[:, drop:])
    return out


def _blobs(column: pd.Series, ok: np.ndarray) -> list[bytes]:
    values = column.to_numpy(dtype=object)
    if len(values) and not isinstance(values[0], bytes | bytearray | memoryview | type(None)):
        values = np.array([_bytes(v) for v in values], dtype=object)  # decoded HLL objects
    values = np.where(ok, values, b"")
    return [b if b is not None else b"" for b in values.tolist()]


def _scatter(fresh: dict[int, NDArray[np.uint8]], channel: int, group: np.ndarray, day: np.ndarray,
             reg: np.ndarray, rank: np.ndarray) -> None:  # fmt: skip
    for g in np.unique(group).tolist():
        mine = group == g
        target = fresh[int(g)][channel]
        np.maximum.at(target, (day[mine], reg[mine]), rank[mine].astype(np.uint8))


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


def never_identified(d: Days, day: int, s: ProfileSettings) -> Estimate:
    """Share of track userIds of the window without an identify in the horizon, at ``day``."""
    track = d.union("track", day - s.window, day)
    ident = d.union("identify", day - s.horizon, day)
    n_track, n_ident, n_both = estimate(np.stack([track, ident, np.maximum(track, ident)]))
    return _difference(n_both, n_ident, n_track)


def never_linked(d: Days, day: int, s: ProfileSettings) -> Estimate:
    """Share of anonymous ids of the window that ended ``link_within`` ago never linked since."""
    lo, hi = day - s.link_within - s.window, day - s.link_within
    anon = d.union("anon", lo, hi)
    linked = d.union("linked", lo, day)
    n_anon, n_linked, n_both = estimate(np.stack([anon, linked, np.maximum(anon, linked)]))
    return _difference(n_both, n_linked, n_anon)


@dataclass(frozen=True)
class Reading:
    """One check on one day: the rate, its baseline days, the ids behind it and its error."""

    check: str
    day: int
    rate: float
    ids: float
    baseline: list[float]
    noise: float = 0.0

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


def readings(d: Days, day: int, s: ProfileSettings) -> list[Reading]:
    """Both checks at ``day`` (exclusive end) with their baseline days."""
    out = []
    for check, fn in (("never_identified", never_identified), ("never_linked", never_linked)):
        rate, ids, noise = fn(d, day, s)
        base = [fn(d, day - k, s) for k in range(1, BASELINE_DAYS + 1)]
        out.append(Reading(check, day, rate, ids, [r for r, n, _ in base if n >= s.min_ids], noise))
    return out


def advance(episode: dict[str, Any] | None, reading: Reading, s: ProfileSettings) -> tuple[dict[str, Any] | None, int | None]:
    """The episode after one day's reading, and its end (epoch s) when it just ended."""
    at = reading.day * DAY
    if reading.flagged(s):
        if episode is None:
            episode = {"start": at - s.window * DAY, "opened_at": at, "peak": reading.rate}
        episode.update(last=at, rate=reading.rate, median=reading.median, ids=reading.ids, noise=reading.noise,
                       baseline=[round(b, 4) for b in reading.baseline], peak=max(episode["peak"], reading.rate))  # fmt: skip
        return episode, None
    if episode is not None:
        return None, int(episode["last"])
    return None, None
