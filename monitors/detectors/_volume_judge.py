"""How the volume engine judges a bucket: window alarms, silences, and the verdicts of the series
under judgement, with a run's thresholds prepared once.

Exact scores cost a dozen numpy calls each time, so they are computed only where they can change
an outcome: a window whose Pearson score is below threshold / :data:`Z_OVER_PEARSON` cannot
alarm, and a silence's z grows with y = e_since / a, so crossing a threshold is read off y except
within 1e-7 of the crossing (:func:`z_bounds`). Series that alarm or are in an episode get every
score, exactly as computed for all series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitors.detectors.countstats import z_from_neglog, z_signed
from monitors.detectors.episodes import Verdicts

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

WINDOWS = (1, 3, 12, 48)
PENDING_Z = 2.0
"""Zeros in a run that is already this unlikely are not learned while the run lasts, so a slowly
detected silence of a quiet event does not drag its own baseline down before it is flagged."""
HOLD_Z = 1.5
"""In an episode, a bucket still leaning this far the episode's way is not yet "back to normal"."""
CONTINUE_SPAN = 3
"""Continuation looks at windows up to the one that opened the episode, and at least this long."""
CONTINUE_Z = 2.5
WINDOW_EXTRA = (1.5, 0.3, 0.0, 0.0)
"""Added to the threshold per window: one bucket alone must be more surprising than a run of
them, because heavy-tailed noise makes lone outliers far more common than Gaussian tails say."""
CLIP_SD = 4.0
SCREEN_Z = 2.0
Z_OVER_PEARSON = 1.25
"""|z| / |Pearson| of a window never exceeds this: at most 1 in the spike tail, and at most
3·(16/9)/(8/3)^1.5 = 1.2247 in the drop tail (Wilson–Hilferty against Pearson: the ratio is
monotone in 1/y and peaks at x = 0, m/v = (8/3)³), so a window whose Pearson score is below
threshold / Z_OVER_PEARSON cannot alarm and its exact z is not needed to know it."""
DISPERSION_EVERY = 3
"""Dispersion is learned from every third bucket (by absolute time): plenty, and a third of the cost."""
MU_MIN = 0.01
LMAX = max(WINDOWS)
LENGTHS = np.array(WINDOWS, dtype=np.float64)[:, None]
NONE = np.zeros(0, dtype=np.int64)
_EMPTY = np.zeros(0)


@dataclass(frozen=True)
class Params:
    """Per-series settings as arrays (one value per series)."""

    width: int
    threshold: F64
    min_abs: F64
    min_rel: F64
    resolve_after: F64
    min_history: F64
    """in buckets"""
    adapt_after: F64
    """in buckets; ``inf`` = never"""
    floor: F64
    """Poisson floor of the dispersion: 1 for counts, tiny for rates"""


@dataclass(frozen=True)
class Windows:
    """A bucket's window arrays, ``(len(WINDOWS), n)`` buffers the pass refills every bucket."""

    totals: F64
    """observed totals (the one-bucket window holds the raw count)"""
    m_tot: F64
    vj: F64
    """variance factor the judgement uses (dispersion and the baseline's own uncertainty)"""
    dev: F64


class Judge:
    """Alarms, silences and verdicts over the window buffers ``win`` of ``n`` series."""

    def __init__(self, params: Params, win: Windows) -> None:
        n = params.threshold.size
        self.params, self.win = params, win
        self.h_win = params.threshold + np.array(WINDOW_EXTRA)[:, None]
        self.h_low = -self.h_win
        h_min = float(self.h_win.min()) if n else np.inf
        # windows that could alarm have dev² >= screen² · vj · m (a hair wider than |Pearson| >=
        # screen, so no rounding can drop one); the exact z and the floors decide
        self.alarm_screen = np.full((len(WINDOWS), n), (max(SCREEN_Z, h_min / Z_OVER_PEARSON) * (1 - 1e-9)) ** 2)
        self.pend_lo, self.pend_hi = (float(b[0]) for b in z_bounds(np.array([PENDING_Z])))
        self.loud_lo, self.loud_hi = z_bounds(params.threshold)
        self.y_base = min(self.pend_lo, float(self.loud_lo.min())) if n else np.inf
        self.sq, self.var = np.empty((len(WINDOWS), n)), np.empty((len(WINDOWS), n))
        self.screen = np.empty((len(WINDOWS), n), dtype=bool)
        self.screen_flat = self.screen.reshape(-1)
        self.y, self.y_hit = np.empty(n), np.empty(n, dtype=bool)
        flat = (win.totals, win.m_tot, win.vj, win.dev, self.h_win, self.h_low)
        self.totals_f, self.m_f, self.vj_f, self.dev_f, self.h_win_f, self.h_low_f = (a.reshape(-1) for a in flat)

    def alarms(self, valid: B | None) -> I64:
        """Series where some window crosses its change floors and its threshold (the floors first:
        they leave few windows, often none, whose z is then needed)."""
        w, p = self.win, self.params
        var = np.multiply(w.vj, w.m_tot, self.var)
        var *= self.alarm_screen
        np.greater_equal(np.multiply(w.dev, w.dev, self.sq), var, self.screen)
        idx = self.screen_flat.nonzero()[0]
        if not idx.size:
            return NONE
        cols = idx % p.threshold.size
        change = p.min_rel.take(cols)
        change *= self.m_f.take(idx)
        big = np.abs(self.dev_f.take(idx)) >= np.maximum(p.min_abs.take(cols), change)
        if valid is not None:
            big &= valid.reshape(-1).take(idx)
        at = big.nonzero()[0]
        if not at.size:
            return NONE
        idx = idx.take(at)
        zs = self._z(idx)
        hit = (zs >= self.h_win_f.take(idx)) | (zs <= self.h_low_f.take(idx))
        alarm: I64 = cols.take(at)[hit]
        return alarm

    def _z(self, idx: I64) -> F64:
        """Count-aware z of the windows at flat positions ``idx``."""
        return z_signed(self.totals_f.take(idx), self.m_f.take(idx), self.vj_f.take(idx))

    def silence(self, e_since: F64, a: F64) -> tuple[I64, I64]:
        """Series whose zeros are not learned while their silence is pending (silence z >= 2), and
        series silent enough to alarm (silence z >= threshold, and enough events missed)."""
        y = np.divide(e_since, a, self.y)
        cand = np.greater_equal(y, self.y_base, self.y_hit).nonzero()[0]
        if not cand.size:
            return NONE, NONE
        yc = y.take(cand)
        pend = _over(yc, self.pend_lo, self.pend_hi, lambda z, _: ~(z < PENDING_Z))
        p = self.params
        loud = e_since.take(cand) >= p.min_abs.take(cand)
        if loud.any():
            at = loud.nonzero()[0]
            lo, hi, thr = (a.take(cand.take(at)) for a in (self.loud_lo, self.loud_hi, p.threshold))
            loud[at] = _over(yc.take(at), lo, hi, lambda z, near: z >= thr[near])
        return cand[pend], cand[loud]

    def verdicts(
        self, rows: I64, judge: B, valid: B | None, runs: tuple[F64, F64, F64], span: F64
    ) -> Verdicts:
        """Every score of the series ``rows`` and their verdicts (the window buffers hold the
        bucket); ``runs``: e_since, zero_run and the dispersion ``a`` of the one-bucket window;
        ``span``: length of the window that opened each row's episode."""
        a = runs[2]
        p, w = self.params, self.win
        dev, mr, vj, totals = w.dev[:, rows], w.m_tot[:, rows], w.vj[:, rows], w.totals[:, rows]
        ar = np.abs(dev)
        valid_r = np.ones(ar.shape, dtype=bool) if valid is None else valid[:, rows]
        pearson = dev / np.sqrt(vj * mr)
        zr = np.zeros(ar.shape)
        at = np.abs(pearson) >= SCREEN_Z  # elsewhere z is 0 (the exact score is at most 1.25 × Pearson)
        zr[at] = z_signed(totals[at], mr[at], vj[at])
        e_since = runs[0][rows]
        zsil = silence_z(e_since / a[rows])
        big = valid_r & (ar >= np.maximum(p.min_abs[rows], p.min_rel[rows] * mr))
        scores = Rows(
            judge=judge,
            z=zr,
            pearson=pearson,
            up=big & (zr >= self.h_win[:, rows]),
            down=big & (zr <= self.h_low[:, rows]),
            silent=(zsil >= p.threshold[rows]) & (e_since >= p.min_abs[rows]),
            zsil=zsil,
            span_ok=valid_r & (np.maximum(span, CONTINUE_SPAN) >= LENGTHS),
            adev=ar,
            totals=totals,
            m_tot=mr,
            e_since=e_since,
            zero_run=runs[1][rows],
        )
        return verdicts(rows, scores, p.min_abs[rows], p.min_rel[rows])


def _over(yc: F64, lo: F64 | float, hi: F64 | float, check: Callable[[F64, B], B]) -> B:
    """Whether each silence crosses a threshold: sure above ``hi``, sure not below ``lo``, and
    ``check(z, near)`` on the exact z in between."""
    over: B = yc >= hi
    if not over.all():
        near = ~over & (yc >= lo)
        if near.any():
            over[near] = check(silence_z(yc[near]), near)
    return over


def silence_z(y: F64) -> F64:
    """Silence z as the judgement uses it: z_from_neglog(y) from y = 3 on, 0 below."""
    z = np.zeros_like(y)
    at = (y >= 3.0).nonzero()[0]
    z[at] = z_from_neglog(y[at])
    return z


def z_bounds(targets: F64) -> tuple[F64, F64]:
    """For silence z thresholds ``targets`` (> 0): y below ``lo`` gives a silence z below the
    threshold, y at or above ``hi`` one at or above it. z_from_neglog increases with y (checked
    on a dense grid and float by float around thresholds); the bounds sit 1e-7 (relative) either
    side of the crossing, far beyond rounding, and y in between is computed exactly."""
    lo, hi = np.full(targets.shape, 3.0), np.maximum(4.0 * targets * targets, 16.0)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        up = z_from_neglog(mid) >= targets
        lo, hi = np.where(up, lo, mid), np.where(up, mid, hi)
    at_three = z_from_neglog(np.full(targets.shape, 3.0)) >= targets  # z is 0 below y = 3
    return np.where(at_three, 3.0, lo * (1 - 1e-7)), np.where(at_three, 3.0, hi * (1 + 1e-7))


@dataclass(frozen=True)
class Rows:
    """Scores of the rows of interest (columns of the window arrays: one per row)."""

    judge: B
    z: F64
    pearson: F64
    up: B
    down: B
    silent: B
    zsil: F64
    span_ok: B
    adev: F64
    totals: F64
    m_tot: F64
    e_since: F64
    zero_run: F64


def verdicts(rows: I64, s: Rows, min_abs: F64, min_rel: F64) -> Verdicts:
    """Alarm scores of the rows of interest, and whether each row's episode is still going:
    continuation looks at windows no longer than the one that opened the episode (at least 3
    buckets), at a lower z and half the change floors."""
    zr = s.z
    up_z = np.where(s.up, zr, 0.0)
    dn_z = np.where(s.down, -zr, 0.0)
    silent = s.silent
    up_s = up_z.max(axis=0)
    dn_s = np.maximum(dn_z.max(axis=0), np.where(silent, s.zsil, 0.0))
    which = np.where(up_s >= dn_s, up_z.argmax(axis=0), dn_z.argmax(axis=0))
    at = np.arange(len(rows))
    quiet = silent & (dn_s > 0)
    span = np.where(quiet, np.maximum(s.zero_run, 1.0), np.array(WINDOWS, dtype=np.float64)[which])
    seen = np.where(quiet, 0.0, s.totals[which, at])
    expected = np.where(quiet, s.e_since, s.m_tot[which, at])
    ar = s.adev
    near = (ar >= 0.5 * min_abs) & (ar >= 0.5 * min_rel * s.m_tot)
    near &= s.span_ok
    cont_up: B = np.asarray(((zr >= CONTINUE_Z) & near).any(axis=0))
    cont_dn = ((zr <= -CONTINUE_Z) & near).any(axis=0) | (s.zsil >= CONTINUE_Z)
    pr = np.where(s.span_ok, s.pearson, 0.0)
    hold_up: B = np.asarray((pr >= HOLD_Z).any(axis=0))
    hold_dn = (pr <= -HOLD_Z).any(axis=0) | (s.zsil >= HOLD_Z)
    return Verdicts(
        rows, s.judge, up_s, dn_s, quiet, cont_up, cont_dn, hold_up, hold_dn, span, seen, expected
    )
