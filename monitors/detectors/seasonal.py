"""Seasonal baseline of bucket counts, learned online for many series at once.

Three candidate models predict the next bucket; each series uses the one that has predicted its
own recent history best (``choice``), re-chosen once an hour:

* ``hour_of_day``   — level × a daily profile;
* ``hour_of_week``  — level × a weekly profile (eligible after 7 days of history);
* ``day_and_hour``  — level × a daily profile × a day-of-week factor (eligible after 7 days).

Profiles are kept per hour and linearly interpolated between hour centres, so a 5-minute series
gets a smooth curve from 12 observations per slot and day. Every estimate is a ratio of
exponentially decayed sums (observed / expected), which weights busy hours more than quiet ones
and needs no special case for zeros. Level half-lives are in time (trend and day-to-day level),
profile half-lives in occurrences of the slot. Buckets the caller marks as anomalous are not
learned at all (``learn`` with ``u = 0``), so an incident neither drifts the level nor echoes
one week later through the weekly profile.

All series advance in lock-step: one call per bucket updates every series with a handful of
numpy operations, and a series' numbers never depend on the others in the batch. During a pass
the 14 profile rows the current bucket touches, the levels and the losses live in one working
array (the rows move to the next slots once an hour); :meth:`Seasonal.flush` writes them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

CANDIDATES = ("hour_of_day", "hour_of_week", "day_and_hour")
N_PROFILE = 24 + 168 + 24 + 7
_WEEK_OFFSET = 3 * 86400  # the epoch began on a Thursday; weeks here start on Monday 00:00 UTC
_EPS = 1e-9
_ELIGIBLE_DAYS = np.array([0.0, 7.0, 7.0])
_LEVEL_HALF_LIFE_S = np.array([6 * 3600.0, 12 * 3600.0, 12 * 3600.0])
_MIN_LEVEL_HALF_LIFE_BUCKETS = 4.0
_PROFILE_HALF_LIFE_OCC = np.array([7.0, 7.0, 4.0, 4.0, 7.0, 7.0, 4.0])
_LOSS_HALF_LIFE_S = 3 * 86400.0
_SWITCH_MARGIN = 0.97
_TOUCHED = 14
"""profile rows one bucket touches: 7 observed sums, then their 7 expected sums"""
_SUMS = ("level_x", "level_p", "loss")
_EXPANDED_BYTES = 16 << 20
"""memory for weights and decays expanded to every series (numpy is slow at broadcasting a column)"""

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Timing:
    """Per-bucket slot indices and weights, shared by every series (computed once per run)."""

    idx: I64
    """(T, 14) profile rows touched by each bucket: 7 observed sums (the lower hour slots of
    ``hour_of_day``, ``hour_of_week`` and ``day_and_hour``, their upper slots, the day of week),
    then their 7 expected sums."""
    frac: F64
    """(T,) position between the two neighbouring hour centres."""
    weight: F64
    """(T, 7) interpolation weight of each touched column."""
    decay: F64
    """(T, 14) decay applied to a touched row when the bucket is learned."""
    score: NDArray[np.bool_]
    """(T,) whether model losses are updated at this bucket (every third, by absolute time)."""
    choose: NDArray[np.bool_]
    """(T,) whether models are re-chosen after this bucket (hourly; every 6 h for wide buckets)."""
    moved: NDArray[np.bool_]
    """(T,) whether the bucket touches other profile rows than the one before (always the first)."""
    pattern: I64
    """(T,) which of the distinct interpolation weights (and so decays) the bucket uses."""


def timing(times: I64, width: int) -> Timing:
    """Slot indices, weights and decays for buckets starting at ``times`` (epoch seconds)."""
    mid = times.astype(np.float64) + width / 2.0
    hours = (mid % 86400.0) / 3600.0 - 0.5
    base = np.floor(hours)
    frac = hours - base
    h0 = base.astype(np.int64) % 24
    h1 = (h0 + 1) % 24
    week_pos = (mid + _WEEK_OFFSET) % 604800.0
    w0 = (np.floor(week_pos / 3600.0 - 0.5).astype(np.int64)) % 168
    w1 = (w0 + 1) % 168
    dow = (week_pos // 86400.0).astype(np.int64)
    idx = np.stack([h0, h1, 24 + w0, 24 + w1, 192 + h0, 192 + h1, 216 + dow], axis=1)
    weight = np.stack([1 - frac, frac, 1 - frac, frac, 1 - frac, frac, np.ones_like(frac)], axis=1)
    per_occurrence = np.array([max(3600.0 / width, 0.5)] * 6 + [max(86400.0 / width, 1.0)])
    per_unit = 0.5 ** (1.0 / (_PROFILE_HALF_LIFE_OCC * per_occurrence))
    decay = per_unit[None, :] ** weight
    # lower slots, then upper slots, then the day: each kind of row is one contiguous block
    order = np.array([0, 2, 4, 1, 3, 5, 6])
    idx, weight, decay = idx[:, order], np.ascontiguousarray(weight[:, order]), decay[:, order]
    idx = np.ascontiguousarray(np.concatenate([idx, idx + N_PROFILE], axis=1))
    decay = np.ascontiguousarray(np.concatenate([decay, decay], axis=1))
    every = max(1, 3600 // width) if width < 3600 else max(1, 21600 // width)
    choose = (times // width) % every == 0
    score = (times // width) % 3 == 0
    moved = np.ones(len(times), dtype=bool)
    moved[1:] = (idx[1:] != idx[:-1]).any(axis=1)
    pattern = np.unique(frac, return_inverse=True)[1].reshape(-1)
    return Timing(idx, frac, weight, decay, score, choose, moved, pattern)


def level_decay(width: int) -> F64:
    """Per-bucket decay of each candidate's level sums."""
    half_life = np.maximum(_LEVEL_HALF_LIFE_S / width, _MIN_LEVEL_HALF_LIFE_BUCKETS)
    return np.asarray(0.5 ** (1.0 / half_life), dtype=np.float64)


class Seasonal:
    """The baseline state of ``n`` series and its operations, :meth:`predict` and :meth:`learn`.

    Arrays are feature-major, ``(k, n)``: one contiguous row per quantity, one column per series.
    The levels, the losses and the profile rows in use are worked on in a copy: call
    :meth:`flush` after the last bucket.
    """

    WIDTHS: ClassVar[dict[str, int]] = {
        "level_x": 3,
        "level_p": 3,
        "prof": 2 * N_PROFILE,
        "loss": 3,
        "choice": 1,
    }

    def __init__(self, arrays: dict[str, F64], width: int) -> None:
        self._arrays = arrays
        self.prof = arrays["prof"]
        """observed sums (first N_PROFILE rows) over expected sums (last N_PROFILE rows), per slot"""
        self.choice = arrays["choice"]
        n = self.prof.shape[1]
        # one working array (touched profile rows, level_x, level_p, loss), so that a series that
        # does not learn a bucket is saved and restored with one gather and one scatter
        self._work = np.empty((_TOUCHED + 9, n))
        self._g = self._work[:_TOUCHED]
        self._levels = self._work[_TOUCHED : _TOUCHED + 6]
        self.level_x, self.level_p = self._levels[:3], self._levels[3:]
        self.loss = self._work[_TOUCHED + 6 :]
        for name, view in zip(_SUMS, (self.level_x, self.level_p, self.loss), strict=True):
            view[...] = arrays[name]
        self._cols: I64 | None = None
        self._level_decay = np.repeat(np.concatenate([level_decay(width)] * 2)[:, None], n, axis=1)
        self._expanded: dict[int, tuple[F64, F64]] = {}
        self._loss_rate = 1.0 - 0.5 ** (3 * width / _LOSS_HALF_LIFE_S)
        self._eligible = (_ELIGIBLE_DAYS * 86400.0 / width)[:, None]
        self._all_eligible = False
        self._ratio, self._add = np.empty((7, n)), np.empty((_TOUCHED, n))
        self._shape, self._cand, self._level = np.empty((3, n)), np.empty((3, n)), np.empty((3, n))
        self._hour_c, self._lo, self._seen, self._tmp = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        self._ones = np.ones(n)
        self._set_masks()

    @staticmethod
    def fresh(n: int) -> dict[str, F64]:
        """Arrays for ``n`` series that have seen nothing yet (profiles start flat)."""
        return {
            "level_x": np.zeros((3, n)),
            "level_p": np.full((3, n), _EPS),
            "prof": np.full((2 * N_PROFILE, n), _EPS),
            "loss": np.zeros((3, n)),
            "choice": np.zeros((1, n)),
        }

    def flush(self) -> None:
        """Write the working copy back to the state arrays."""
        if self._cols is not None:
            self.prof[self._cols] = self._g
        for name, view in zip(_SUMS, (self.level_x, self.level_p, self.loss), strict=True):
            self._arrays[name][...] = view

    def _set_masks(self) -> None:
        choice = self.choice[0]
        n = choice.size
        self._is2 = (choice == 2).astype(np.float64)
        self._any2 = bool(self._is2.any())
        pick = np.where(choice == 0, 0, np.where(choice == 1, 1, 2))
        self._one = int(pick[0]) if n and bool((pick == pick[0]).all()) else -1
        """the candidate every series uses, or -1"""
        self._columns, self._current = np.arange(n), choice.astype(np.int64)
        self._pick = pick * n + self._columns  # flat positions in (3, n): each series' chosen candidate
        self._pick_lo = self._current * n + self._columns  # and in (14, n): its lower slot
        self._pick_hi = self._pick_lo + 3 * n

    def predict(self, tm: Timing, k: int, mu: F64, low: F64) -> F64:
        """Expected count of bucket ``k`` for every series (at least ``low``, per series) into
        ``mu``; returns each candidate's prediction (3, n)."""
        if self._cols is None or tm.moved[k]:
            if self._cols is not None:
                self.prof[self._cols] = self._g
            self._cols = tm.idx[k]
            self.prof.take(self._cols, axis=0, out=self._g, mode="clip")
        g = self._g
        ratio = np.divide(g[:7], g[7:], self._ratio)
        shape = _interpolate(ratio[:3], ratio[3:6], float(tm.frac[k]), self._shape)
        self._hour_c[...] = shape[2]
        self._dow_c = ratio[6]
        shape[2] *= self._dow_c
        cand = np.divide(self.level_x, self.level_p, self._cand)
        cand *= shape
        if self._one >= 0:
            np.maximum(cand[self._one], low, out=mu)
        else:
            np.maximum(cand.reshape(-1).take(self._pick, out=mu), low, out=mu)
        return cand

    def rel_var(self, tm: Timing, k: int, out: F64) -> F64:
        """Relative variance of the last prediction (after :meth:`predict`) from the events its
        profile slot was learned from, into ``out``: a ratio learned from ``N`` events is off by
        about ``1/sqrt(N)``. Busy hours learn from thousands of events, a quiet night hour from a
        few hundred, so a night baseline is less certain than one dispersion per series says."""
        g = self._g
        if self._one >= 0:  # the chosen candidate's lower and upper slot
            lo, hi = g[self._one], g[self._one + 3]
        else:
            lo = g.reshape(-1).take(self._pick_lo, out=self._lo)
            hi = g.reshape(-1).take(self._pick_hi, out=self._seen)
        # events behind the chosen candidate's slot (interpolated like the profile)
        seen = _interpolate(lo, hi, float(tm.frac[k]), self._seen)
        r: F64 = np.divide(self._ones, np.maximum(seen, self._ones, out=self._seen), out)
        if self._any2:  # day_and_hour: its day-of-week factor was learned from events too
            day = np.maximum(g[6], self._ones, out=self._tmp)
            r += np.divide(self._is2, day, day)
        return r

    def learn(self, tm: Timing, k: int, skip: I64, x: F64, n_obs: F64) -> None:
        """Learn bucket ``k`` (after :meth:`predict`) from counts ``x``, except series ``skip``."""
        keep = self._work[:, skip] if skip.size else None
        self._levels *= self._level_decay
        self.level_x += x
        self.level_p += self._shape
        level = np.divide(self.level_x, self.level_p, self._level)
        add = self._add
        weight, decay = self._weights(tm, k)
        np.multiply(weight, x, add[:7])
        # expected sums: the level times the prediction's other factors, times the weight (the
        # day-of-week row's is 1)
        np.multiply(level[2], self._hour_c, add[13])
        level[2] *= self._dow_c
        np.multiply(level, weight[:3], add[7:10])
        np.multiply(level, weight[3:6], add[10:13])
        self._g *= decay
        self._g += add
        if tm.score[k]:
            err = np.sqrt(x) - np.sqrt(self._cand)
            err *= err
            err -= self.loss
            err *= self._loss_rate
            self.loss += err
        if keep is not None:
            self._work[:, skip] = keep
        if tm.choose[k]:
            self._rechoose(n_obs)

    def _weights(self, tm: Timing, k: int) -> tuple[F64, F64]:
        """Interpolation weights (7, n) and decays (14, n) of bucket ``k``: expanded to every
        series once per distinct pattern while they fit in _EXPANDED_BYTES, else as columns."""
        pattern = int(tm.pattern[k])
        found = self._expanded.get(pattern)
        if found is not None:
            return found
        weight, decay = tm.weight[k][:, None], tm.decay[k][:, None]
        n = self._g.shape[1]
        if (len(self._expanded) + 1) * 21 * n * 8 > _EXPANDED_BYTES:
            return weight, decay
        found = (np.repeat(weight, n, axis=1), np.repeat(decay, n, axis=1))
        self._expanded[pattern] = found
        return found

    def _rechoose(self, n_obs: F64) -> None:
        if not self._all_eligible:  # n_obs only grows
            self._all_eligible = bool(n_obs.min() >= self._eligible.max()) if n_obs.size else True
        loss = self.loss if self._all_eligible else np.where(n_obs[None, :] < self._eligible, np.inf, self.loss)
        best = loss.argmin(axis=0)
        cols, current = self._columns, self._current
        better = loss[best, cols] < _SWITCH_MARGIN * loss[current, cols]
        if better.any():
            self.choice[0] = np.where(better, best, current)
            self._set_masks()

    def adapt(self, rows: I64, ratio: F64) -> None:
        """Accept a new level for series ``rows``: scale every candidate's level by ``ratio``."""
        self.level_x[:, rows] *= ratio[None, :]


def _interpolate(lo: F64, hi: F64, frac: float, out: F64) -> F64:
    """``lo + frac·(hi − lo)`` into ``out``. Hourly buckets sit on the slots (frac 0): the result is
    then exactly ``lo`` (lo and hi are positive and finite), copied without the arithmetic."""
    if frac == 0.0:
        out[...] = lo
        return out
    np.subtract(hi, lo, out)
    out *= frac
    out += lo
    return out
