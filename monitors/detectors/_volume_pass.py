"""One run of the volume engine over buckets: predict, add to the windows, judge, learn, bucket by
bucket, with every buffer allocated once.

At a thousand series a numpy call costs more in overhead than in arithmetic, so the common case
is a fixed handful of calls per bucket on full-shape operands (numpy buffers broadcast ones), and
the judgement's exact scores and verdicts run only where they can matter (:mod:`._volume_judge`).
Ring, window sums and counters are worked on in stacked copies; :meth:`Pass.flush` writes them
back to the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from monitors.detectors import episodes
from monitors.detectors._volume_judge import (
    CLIP_SD,
    DISPERSION_EVERY,
    F64,
    I64,
    LENGTHS,
    LMAX,
    MU_MIN,
    NONE,
    WINDOWS,
    B,
    Judge,
    Params,
    Windows,
)
from monitors.detectors.countstats import band, z_signed
from monitors.detectors.dispersion import Dispersion
from monitors.detectors.episodes import LAST_END, Book, Episode
from monitors.detectors.seasonal import Seasonal, timing

META_N_OBS, META_E_SINCE, META_NEXT, META_ZERO_RUN = 0, 1, 2, 3
_COUNTERS = (META_N_OBS, META_E_SINCE, META_ZERO_RUN)


@dataclass
class RunResult:
    """Closed episodes and, for buckets at or after ``record_from``, the per-bucket numbers."""

    closed: list[Episode]
    times: I64
    observed: F64
    expected: F64
    lower: F64
    upper: F64
    score: F64
    anomalous: B
    extra: dict[str, float] = field(default_factory=dict)


class Recorder:
    """The per-bucket numbers of the buckets at or after ``record_from``."""

    def __init__(self, times: I64, record_from: int, n: int) -> None:
        self.start = int(np.searchsorted(times, record_from))
        size = len(times) - self.start
        self.times = times[self.start :]
        self.arrays = {
            k: np.full((size, n), np.nan) for k in ("observed", "expected", "lower", "upper", "score")
        }
        self.anomalous = np.zeros((size, n), dtype=bool)

    def result(self, closed: list[Episode]) -> RunResult:
        """Everything recorded, with the episodes closed during the run."""
        a = self.arrays
        return RunResult(
            closed, self.times, a["observed"], a["expected"], a["lower"], a["upper"], a["score"], self.anomalous
        )


class Pass:
    """The buckets of one run over ``state`` (advanced in place; call :meth:`flush` at the end)."""

    def __init__(self, state: dict[str, F64], params: Params, times: I64, first: I64) -> None:
        n, w, width = len(first), len(WINDOWS), params.width
        self.n, self.params, self.first, self.state = n, params, first, state
        self.tm = timing(times, width)
        self.sea = Seasonal(state, width)
        self.disp = Dispersion(state, width, params.floor)
        self.a0, self.b0 = self.disp.a[0], self.disp.b[0]
        self.book = Book(state, width, params.resolve_after, params.adapt_after)
        self.ep, self.ep_dir = state["ep"], state["ep"][episodes.DIR]
        self.book_open = bool(self.ep_dir.any())
        self.times = times.tolist()
        self.pos = ((times // width) % LMAX).tolist()
        self.learn_disp = ((times // width) % DISPERSION_EVERY == 0).tolist()
        self._stack_state(state, n, w)
        self._buffers(n, w)
        self._starts(params, first)
        self.judge = Judge(params, Windows(self.totals, self.m_tot, self.vj, self.dev))

    def _stack_state(self, state: dict[str, F64], n: int, w: int) -> None:
        # clipped counts and expectations, stacked: ring of the last LMAX buckets, window sums
        self.ring = np.stack([state["ring_x"], state["ring_m"]])
        self.ring_rows = self.ring.reshape(2 * LMAX, n)
        self.ring_at = [self.ring[:, pos] for pos in range(LMAX)]
        # window sums: row 0 holds this bucket's count, then the clipped counts' sums of windows
        # 3, 12, 48 and 1 (so that rows 0-3 are the totals judged, with the count itself as the
        # one-bucket total), then the expectations' sums of windows 1, 3, 12, 48
        self.sums = np.empty((1 + 2 * w, n))
        self.sums[1:w], self.sums[w], self.sums[w + 1 :] = state["win_x"][1:], state["win_x"][0], state["win_m"]
        self.win, self.totals, self.win_m = self.sums[1:].reshape(2, w, n), self.sums[:w], self.sums[w + 1 :]
        olds = (np.arange(LMAX)[:, None] - np.array(WINDOWS)) % LMAX
        x_order = [*range(1, w), 0]
        self.olds = [np.concatenate([o[x_order], o + LMAX]) for o in olds]  # ring rows, per position
        self.xmo = np.ones((3, n))
        """this bucket's clipped count, its expectation, and ones (the increment of a zero run)"""
        self.xc, self.mu, self.xm, self.mu1 = self.xmo[0], self.xmo[1], self.xmo[:2], self.xmo[1:]
        self.xm_w = self.xm[:, None, :]
        self.meta = np.stack([state["meta"][i] for i in _COUNTERS])
        self.n_obs, self.e_since, self.zero_run = self.meta
        self.runs = self.meta[1:]
        """e_since and zero_run: grown by mu and 1 at a zero bucket, else reset"""

    def _buffers(self, n: int, w: int) -> None:
        self.all_true = np.ones(n, dtype=bool)
        self.r1, self.r2 = np.empty(n), np.empty(n)
        self.zero, self.runs_new = np.empty(n, dtype=bool), np.empty((2, n))
        self.d = np.empty((2 * w, n))
        self.m_tot, self.v, self.vj, self.dev, self.rv, self.upd = (np.empty((w, n)) for _ in range(6))
        self.rv0, self.rv_tail, self.count = self.rv[0], self.rv[1:], self.totals[0]
        self.runs_clear = False
        """every e_since and zero_run is 0 (no zero run going on)"""
        # constants as full-shape operands: a Python scalar costs numpy a conversion per call
        self.c_mu_min, self.c_mu_min4 = np.full(n, MU_MIN), np.full((w, n), MU_MIN)
        self.c_clip, self.c_one, self.c_zero = np.full(n, CLIP_SD), np.ones(n), np.zeros(n)

    def _starts(self, params: Params, first: I64) -> None:
        n = len(first)
        self.all_active = int(first.max()) if n else 0
        # from this bucket on every series is past its minimum history (learned values winsorised)
        gap = np.maximum(params.min_history - self.n_obs, 0)
        self.warm_from = int(np.ceil(np.max(first + gap))) if n else 0
        # before this bucket no series is judged (conservative: a bucket early)
        self.judge_from = int(np.floor(np.min(first + gap))) - 2 if n else 0
        self.n_ok = False
        """every series has seen LMAX buckets (n_obs only grows)"""
        self.le_max = float(self.ep[LAST_END].max()) if n else -np.inf

    def flush(self) -> None:
        """Write the working copies back to ``state``."""
        self.sea.flush()
        self.disp.flush()
        w, state = len(WINDOWS), self.state
        state["ring_x"][...], state["ring_m"][...] = self.ring
        state["win_x"][1:], state["win_x"][0], state["win_m"][...] = self.sums[1:w], self.sums[w], self.win_m
        for row, i in zip(self.meta, _COUNTERS, strict=True):
            state["meta"][i] = row

    def step(self, k: int, raw: F64, seen: B | None, rec: Recorder) -> None:
        """Judge and learn bucket ``k`` (counts ``raw``; ``seen``: which have a value)."""
        full = k >= self.all_active
        act = self.all_true if full else k >= self.first
        obs = act if seen is None else act & seen
        obs_all = full and seen is None
        mu = self.mu
        self.sea.predict(self.tm, k, mu, self.c_mu_min)
        x = raw if obs_all else np.where(obs, raw, mu)
        xc = self._clip(x, mu)
        self._windows(k, act, full)
        valid = self._valid(k)
        self._expected(k, x)
        # nothing can alarm before judge_from (no series is judged) unless an episode is open
        alarm = self.judge.alarms(valid) if k >= self.judge_from or self.book_open else NONE
        self._zeros(x, obs, obs_all)
        pending, silent = (NONE, NONE) if self.runs_clear else self.judge.silence(self.e_since, self.a0)
        hot = np.concatenate([alarm, silent]) if silent.size else alarm
        if hot.size:
            hot = hot[obs[hot] & (self.n_obs[hot] >= self.params.min_history[hot])]
        anomalous = NONE
        busy = hot.size > 0 or self.book_open
        if busy:
            anomalous = self._episodes(k, self._rows(hot), obs, x, valid)
        if not obs_all:
            learn = obs.copy()
            learn[pending] = False
            learn[anomalous] = False
            skip = (~learn).nonzero()[0]
        elif anomalous.size:
            skip = np.union1d(pending, anomalous)
        else:
            skip = pending  # sorted and unique, like nonzero's
        self._learn(k, obs, skip, x, xc, busy, valid)
        if k >= rec.start:
            z1 = z_signed(x, self.m_tot[0], self.vj[0])
            _record(rec, k - rec.start, (act, obs), (raw, mu, self.vj[0], z1), anomalous, self.params)

    def _clip(self, x: F64, mu: F64) -> F64:
        """Counts winsorised at ±CLIP_SD s.d. of one bucket, into ``xc``: windows add these up, so
        one heavy-tailed outlier cannot make a run of normal buckets look anomalous (the
        one-bucket window sees the raw count)."""
        reach = np.multiply(self.a0, mu, self.r1)
        quad = np.multiply(self.b0, mu, self.r2)
        quad *= mu
        reach += quad
        np.sqrt(reach, reach)
        reach *= self.c_clip
        lo, hi = np.subtract(mu, reach, self.r2), np.add(mu, reach, self.r1)
        xc = self.xc
        clipped: F64 = np.minimum(np.maximum(x, lo, out=xc), hi, out=xc)  # np.clip without its wrapper
        return clipped

    def _windows(self, k: int, act: B, full: bool) -> None:
        """Add the bucket to the window sums and the ring; series not yet active keep theirs."""
        pos = self.pos[k]
        old = self.ring_rows.take(self.olds[pos], axis=0, out=self.d, mode="clip").reshape(self.win.shape)
        if full:
            self.win += np.subtract(self.xm_w, old, old)
            self.ring_at[pos][...] = self.xm
            self.n_obs += self.c_one
        else:
            self.win += np.where(act, self.xm_w - old, 0.0)
            self.ring_at[pos][...] = np.where(act, self.xm, self.ring_at[pos])
            self.n_obs += act

    def _valid(self, k: int) -> B | None:
        """Windows long enough to judge: covered by the series' history and past its last episode
        (``None``: every window of every series, the common case)."""
        if not self.n_ok:
            self.n_ok = bool(self.n_obs.min() >= LMAX) if self.n else True
        since_episode = (self.times[k] - self.le_max) / self.params.width
        if self.n_ok and since_episode >= LMAX:
            return None
        since = (self.times[k] - self.ep[LAST_END]) / self.params.width
        valid: B = np.minimum(self.n_obs, since) >= LENGTHS
        return valid

    def _expected(self, k: int, x: F64) -> None:
        """Expected window totals, the variance the judgement uses (V·M + M²·r, r: relative variance
        of the prediction from the events its profile slot learned from; large in quiet hours),
        and the deviations (the one-bucket window sees ``x``)."""
        m_tot = np.maximum(self.win_m, self.c_mu_min4, out=self.m_tot)
        v = self.disp.variance_factor(m_tot, self.v)
        self.sea.rel_var(self.tm, k, self.rv0)
        self.rv_tail[...] = self.rv0
        np.add(v, np.multiply(m_tot, self.rv, self.vj), self.vj)
        self.count[...] = x
        np.subtract(self.totals, m_tot, self.dev)

    def _zeros(self, x: F64, obs: B, obs_all: bool) -> None:
        """Expected events since the last one, and the run of zero buckets."""
        zero = np.equal(x, self.c_zero, self.zero)
        if obs_all and not np.count_nonzero(zero):
            if not self.runs_clear:
                self.runs.fill(0.0)
                self.runs_clear = True
            return
        self.runs_clear = False
        if obs_all:
            self.runs[...] = np.where(zero, np.add(self.runs, self.mu1, self.runs_new), 0.0)
            return
        zero &= obs
        mu, e_since, zero_run = self.mu, self.e_since, self.zero_run
        e_since[:] = np.where(zero, e_since + mu, np.where(obs, 0.0, e_since))
        zero_run[:] = np.where(zero, zero_run + 1.0, np.where(obs, 0.0, zero_run))

    def _rows(self, hot: I64) -> I64:
        mask = self.ep_dir != 0
        mask[hot] = True
        return np.flatnonzero(mask)

    def _episodes(self, k: int, rows: I64, obs: B, x: F64, valid: B | None) -> I64:
        """Verdicts of the series of interest, then the episode book; returns the anomalous ones."""
        judged = obs[rows] & (self.n_obs[rows] >= self.params.min_history[rows])
        runs = (self.e_since, self.zero_run, self.a0)
        verdicts = self.judge.verdicts(rows, judged, valid, runs, self.ep[episodes.SPAN, rows])
        ring = (self.ring[0], self.ring[1], self.pos[k])
        anomalous, adapt_rows, ratios = self.book.step(self.times[k], verdicts, x, self.mu, ring)
        if adapt_rows.size:
            self.sea.adapt(adapt_rows, ratios)
        self.le_max = float(self.ep[LAST_END].max())
        self.book_open = bool(self.ep_dir.any())
        return anomalous

    def _learn(self, k: int, obs: B, skip: I64, x: F64, xc: F64, busy: bool, valid: B | None) -> None:
        """Learn the bucket (series in ``skip`` not): learned values are winsorised like the
        windows' once the baseline is trusted; dispersion from windows free of anomalies."""
        value = xc if self.warm_from <= k else np.where(self.n_obs >= self.params.min_history, xc, x)
        self.sea.learn(self.tm, k, skip, value, self.n_obs)
        if self.learn_disp[k]:
            self.disp.learn(self.dev, self.m_tot, self.v, self._quiet(obs, skip, busy, valid))
        if self.tm.choose[k]:
            self.disp.solve()

    def _quiet(self, obs: B, skip: I64, busy: bool, valid: B | None) -> F64:
        """1 where the window's bucket is learned, the series is in no episode and the window valid."""
        upd = self.upd
        if valid is None and not busy and obs is self.all_true:  # the common case
            upd.fill(1.0)
            upd[:, skip] = 0.0
            return upd
        learn = obs.copy()
        learn[skip] = False
        quiet = learn & (self.ep_dir == 0)
        upd[...] = quiet if valid is None else valid & quiet
        return upd


def _record(
    rec: Recorder, r: int, masks: tuple[B, B], numbers: tuple[F64, F64, F64, F64], anomalous: I64, params: Params
) -> None:
    act, obs = masks
    raw, mu, v1, z1 = numbers
    a = rec.arrays
    lower, upper = band(mu, v1, params.threshold, params.min_abs, params.min_rel)
    a["observed"][r] = np.where(obs, raw, np.nan)
    a["expected"][r] = np.where(act, mu, np.nan)
    a["lower"][r] = np.where(act, lower, np.nan)
    a["upper"][r] = np.where(act, upper, np.nan)
    a["score"][r] = np.where(obs, z1, np.nan)
    rec.anomalous[r, anomalous] = True
