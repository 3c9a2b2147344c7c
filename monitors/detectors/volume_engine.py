"""The volume detector's numeric core: a causal, online pass over bucket counts of many series.

At every bucket, for every series at once: predict the count (:mod:`.seasonal`), add it to the
running totals of the last 1, 3, 12 and 48 buckets, score each window's observed total against
its expected total with count-aware z-scores (:mod:`.countstats`) and the series' own learned
dispersion (:mod:`.dispersion`), check silence (expected events since the last one), apply the
change floors, advance the incident state machine (:mod:`.episodes`), and learn the bucket
unless it was anomalous. A bucket is judged only from data up to that bucket, so a run over
history gives exactly what running live bucket by bucket gives; the whole state is a handful of
float64 arrays that :func:`pack` / :func:`unpack` turn into one row per series, losslessly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from monitors.detectors import episodes
from monitors.detectors.countstats import band, z_from_neglog, z_signed
from monitors.detectors.dispersion import Dispersion
from monitors.detectors.episodes import LAST_END, Book, Episode, Verdicts
from monitors.detectors.seasonal import Seasonal, timing

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
STATE_VERSION = 1
LMAX = max(WINDOWS)
LENGTHS = np.array(WINDOWS, dtype=np.float64)[:, None]
_NONE = np.zeros(0, dtype=np.int64)
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


def _layout() -> dict[str, int]:
    w, lmax = len(WINDOWS), max(WINDOWS)
    layout = dict(Seasonal.WIDTHS)
    layout.update({name: w for name in Dispersion.WIDTHS})
    layout.update(
        ring_x=lmax, ring_m=lmax, win_x=w, win_m=w, meta=4, ep=episodes.N_COLS, ctx=2 * episodes.CONTEXT
    )
    return layout


LAYOUT = _layout()
"""Rows of each state array (every array is ``(rows, n)``: one column per series)."""
STATE_SIZE = sum(LAYOUT.values())
META_N_OBS, META_E_SINCE, META_NEXT, META_ZERO_RUN = 0, 1, 2, 3


def fresh(n: int) -> dict[str, F64]:
    """State of ``n`` series that have seen nothing yet."""
    state = Seasonal.fresh(n) | Dispersion.fresh(n, len(WINDOWS)) | episodes.fresh(n)
    for name in ("ring_x", "ring_m", "win_x", "win_m", "meta"):
        state[name] = np.zeros((LAYOUT[name], n))
    return state


def pack(state: dict[str, F64]) -> F64:
    """All arrays stacked: an ``(n, STATE_SIZE)`` matrix, one row per series (lossless)."""
    return np.ascontiguousarray(np.concatenate([state[name] for name in LAYOUT], axis=0).T)


def unpack(rows: F64) -> dict[str, F64]:
    """The inverse of :func:`pack` (contiguous arrays)."""
    cols = np.ascontiguousarray(rows.T)
    state, at = {}, 0
    for name, size in LAYOUT.items():
        state[name] = np.ascontiguousarray(cols[at : at + size])
        at += size
    return state


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


class _Recorder:
    def __init__(self, times: I64, record_from: int, n: int) -> None:
        self.start = int(np.searchsorted(times, record_from))
        size = len(times) - self.start
        self.times = times[self.start :]
        self.arrays = {
            k: np.full((size, n), np.nan) for k in ("observed", "expected", "lower", "upper", "score")
        }
        self.anomalous = np.zeros((size, n), dtype=bool)

    def result(self, closed: list[Episode]) -> RunResult:
        a = self.arrays
        return RunResult(
            closed,
            self.times,
            a["observed"],
            a["expected"],
            a["lower"],
            a["upper"],
            a["score"],
            self.anomalous,
        )


def run(
    state: dict[str, F64],
    params: Params,
    times: I64,
    counts: F64,
    *,
    first: I64 | None = None,
    observed: B | None = None,
    record_from: int | None = None,
) -> RunResult:
    """Advance ``state`` over buckets ``times`` (T,) with ``counts`` (T, n), in place.

    ``first[i]`` is the index of series i's first bucket (earlier buckets are ignored);
    ``observed`` (T, n) marks buckets that have a value (all, for counts: missing means 0).
    """
    n = counts.shape[1]
    if not bool((params.threshold > 0).all()):
        raise ValueError("volume engine: thresholds must be > 0")
    first = np.zeros(n, dtype=np.int64) if first is None else first
    rec = _Recorder(times, int(times[-1]) + 1 if record_from is None else record_from, n)
    bucket = _Pass(state, params, times, first)
    try:
        for k in range(len(times)):
            bucket.step(k, counts[k], None if observed is None else observed[k], rec)
    finally:
        bucket.flush()
    return rec.result(bucket.book.closed)


class _Pass:
    """The buckets of one run, judged and learned one at a time, with every buffer allocated once.

    The common case costs a fixed handful of numpy calls per bucket (their overhead, not the
    arithmetic, is most of the cost at a thousand series): exact scores are computed only where a
    cheap screen says they could matter (a few entries), the verdict and episode machinery only
    runs for series that alarm or are in an episode, and operands have the full shape (numpy
    buffers broadcast ones). Ring, window sums and counters are worked on in stacked copies;
    :meth:`flush` writes them back."""

    def __init__(self, state: dict[str, F64], params: Params, times: I64, first: I64) -> None:
        n, w, width = len(first), len(WINDOWS), params.width
        self.n, self.params, self.first, self.state = n, params, first, state
        self.threshold, self.min_abs, self.min_rel = params.threshold, params.min_abs, params.min_rel
        self.min_history = params.min_history
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
        self._thresholds(params, first)
        self._buffers(n, w)

    def _stack_state(self, state: dict[str, F64], n: int, w: int) -> None:
        # clipped counts and expectations, stacked: ring of the last LMAX buckets, window sums
        self.ring = np.stack([state["ring_x"], state["ring_m"]])
        ring_rows = self.ring.reshape(2 * LMAX, n)
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
        self.ring_rows = ring_rows
        self.xmo = np.ones((3, n))
        """this bucket's clipped count, its expectation, and ones (the increment of a zero run)"""
        self.xc, self.mu, self.xm, self.mu1 = self.xmo[0], self.xmo[1], self.xmo[:2], self.xmo[1:]
        self.xm_w = self.xm[:, None, :]
        self.meta = np.stack([state["meta"][i] for i in (META_N_OBS, META_E_SINCE, META_ZERO_RUN)])
        self.n_obs, self.e_since, self.zero_run = self.meta
        self.runs = self.meta[1:]
        """e_since and zero_run: grown by mu and 1 at a zero bucket, else reset"""

    def _thresholds(self, params: Params, first: I64) -> None:
        n = len(first)
        self.all_active = int(first.max()) if n else 0
        # from this bucket on every series is past its minimum history (learned values winsorised)
        gap = np.maximum(params.min_history - self.n_obs, 0)
        self.warm_from = int(np.ceil(np.max(first + gap))) if n else 0
        # before this bucket no series is judged (conservative: a bucket early)
        self.judge_from = int(np.floor(np.min(first + gap))) - 2 if n else 0
        self.h_win = params.threshold + np.array(WINDOW_EXTRA)[:, None]
        self.h_low = -self.h_win
        self.h_min = float(self.h_win.min()) if n else np.inf
        self.alarm_screen = max(SCREEN_Z, self.h_min / Z_OVER_PEARSON)
        self.pend_lo, self.pend_hi = (float(b[0]) for b in _z_bounds(np.array([PENDING_Z])))
        self.loud_lo, self.loud_hi = _z_bounds(params.threshold)
        self.y_base = min(self.pend_lo, float(self.loud_lo.min())) if n else np.inf
        self.n_ok = False
        """every series has seen LMAX buckets (n_obs only grows)"""
        self.le_max = float(self.ep[LAST_END].max()) if n else -np.inf

    def _buffers(self, n: int, w: int) -> None:
        self.all_true = np.ones(n, dtype=bool)
        self.r1, self.r2, self.y = np.empty(n), np.empty(n), np.empty(n)
        self.zero, self.y_hit, self.runs_new = np.empty(n, dtype=bool), np.empty(n, dtype=bool), np.empty((2, n))
        self.d = np.empty((2 * w, n))
        self.m_tot, self.v, self.vj, self.dev, self.pearson, self.a4, self.rv, self.upd = (
            np.empty((w, n)) for _ in range(8)
        )
        self.rv0, self.rv_tail, self.count = self.rv[0], self.rv[1:], self.totals[0]
        self.runs_clear = False
        """every e_since and zero_run is 0 (no zero run going on)"""
        self.screen = np.empty((w, n), dtype=bool)
        self.screen_flat = self.screen.reshape(-1)
        self.flat = {
            name: getattr(self, name).reshape(-1) for name in ("totals", "m_tot", "vj", "dev", "h_win", "h_low")
        }

    def flush(self) -> None:
        """Write the working copies back to ``state``."""
        self.sea.flush()
        self.disp.flush()
        w = len(WINDOWS)
        for i, kind in enumerate("xm"):
            self.state[f"ring_{kind}"][...] = self.ring[i]
        self.state["win_x"][1:], self.state["win_x"][0], self.state["win_m"][...] = self.sums[1:w], self.sums[w], self.win_m
        for row, i in zip(self.meta, (META_N_OBS, META_E_SINCE, META_ZERO_RUN), strict=True):
            self.state["meta"][i] = row

    def step(self, k: int, raw: F64, seen: B | None, rec: _Recorder) -> None:
        """Judge and learn bucket ``k`` (counts ``raw``; ``seen``: which have a value)."""
        full = k >= self.all_active
        act = self.all_true if full else k >= self.first
        obs = act if seen is None else act & seen
        obs_all = full and seen is None
        mu = self.mu
        self.sea.predict(self.tm, k, mu, MU_MIN)
        x = raw if obs_all else np.where(obs, raw, mu)
        xc = self._clip(x, mu)
        self._windows(k, act, full)
        valid = self._valid(k)
        m_tot, vj, dev = self._expected(k, x)
        # nothing can alarm before judge_from (no series is judged) unless an episode is open
        screened = k >= self.judge_from or self.book_open
        alarm = self._alarms(self._screen(dev, m_tot, vj), valid) if screened else _NONE
        self._zeros(x, obs, obs_all)
        pending, silent = self._silence()
        hot = np.concatenate([alarm, silent]) if silent.size else alarm
        if hot.size:
            hot = hot[obs[hot] & (self.n_obs[hot] >= self.min_history[hot])]
        anomalous = _NONE
        busy = hot.size > 0 or self.book_open
        if busy:
            anomalous = self._episodes(k, self._rows(hot), (obs, x, self._z_all(), self._zsil_all(), valid))
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
            z1 = z_signed(x, m_tot[0], vj[0])
            _record(rec, k - rec.start, act, obs, raw, mu, vj[0], z1, anomalous, self.params)

    def _clip(self, x: F64, mu: F64) -> F64:
        """Counts winsorised at ±CLIP_SD s.d. of one bucket, into ``xc``: windows add these up, so
        one heavy-tailed outlier cannot make a run of normal buckets look anomalous (the
        one-bucket window sees the raw count)."""
        reach = np.multiply(self.a0, mu, self.r1)
        quad = np.multiply(self.b0, mu, self.r2)
        quad *= mu
        reach += quad
        np.sqrt(reach, reach)
        reach *= CLIP_SD
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
            self.n_obs += 1.0
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

    def _expected(self, k: int, x: F64) -> tuple[F64, F64, F64]:
        """Expected window totals, the variance the judgement uses (V·M + M²·r, r: relative variance
        of the prediction from the events its profile slot learned from; large in quiet hours),
        and the deviations (the one-bucket window sees ``x``)."""
        m_tot = np.maximum(self.win_m, MU_MIN, out=self.m_tot)
        v = self.disp.variance_factor(m_tot, self.v)
        self.sea.rel_var(self.tm, k, self.rv0)
        self.rv_tail[...] = self.rv0
        vj = np.multiply(m_tot, self.rv, self.vj)
        np.add(v, vj, vj)
        self.count[...] = x
        return m_tot, vj, np.subtract(self.totals, m_tot, self.dev)

    def _screen(self, dev: F64, m_tot: F64, vj: F64) -> I64:
        """Pearson scores of every window, and the flat positions of those that could alarm."""
        pearson = np.multiply(vj, m_tot, self.pearson)
        np.sqrt(pearson, pearson)
        np.divide(dev, pearson, pearson)
        np.greater_equal(np.abs(pearson, self.a4), self.alarm_screen, self.screen)
        idx: I64 = self.screen_flat.nonzero()[0]
        return idx

    def _z(self, idx: I64) -> F64:
        """Count-aware z of the windows at flat positions ``idx``."""
        f = self.flat
        return z_signed(f["totals"].take(idx), f["m_tot"].take(idx), f["vj"].take(idx))

    def _z_all(self) -> F64:
        """z of every window: computed exactly where it could matter (|Pearson| >= 2; the exact
        score is at most 1.25 × Pearson), 0 elsewhere."""
        z = np.zeros((len(WINDOWS), self.n))
        idx = np.greater_equal(self.a4, SCREEN_Z, self.screen).reshape(-1).nonzero()[0]
        z.reshape(-1)[idx] = self._z(idx)
        return z

    def _zeros(self, x: F64, obs: B, obs_all: bool) -> None:
        """Expected events since the last one, and the run of zero buckets."""
        zero = np.equal(x, 0, self.zero)
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

    def _silence(self) -> tuple[I64, I64]:
        """Series whose zeros are not learned while their silence is pending (silence z >= 2), and
        series silent enough to alarm (silence z >= threshold, and enough events missed). The z of
        seeing no event while ``e_since`` were expected grows with y = e_since / a, so it is only
        computed for y near a threshold (:func:`_z_bounds`)."""
        if self.runs_clear:
            return _NONE, _NONE
        y = np.divide(self.e_since, self.a0, self.y)
        cand = np.greater_equal(y, self.y_base, self.y_hit).nonzero()[0]
        if not cand.size:
            return _NONE, _NONE
        yc = y.take(cand)
        pend = self._over(yc, self.pend_lo, self.pend_hi, lambda z, _: ~(z < PENDING_Z))
        loud = self.e_since.take(cand) >= self.min_abs.take(cand)
        if loud.any():
            at = loud.nonzero()[0]
            lo, hi, thr = (a.take(cand.take(at)) for a in (self.loud_lo, self.loud_hi, self.threshold))
            loud[at] = self._over(yc.take(at), lo, hi, lambda z, near: z >= thr[near])
        return cand[pend], cand[loud]

    @staticmethod
    def _over(yc: F64, lo: F64 | float, hi: F64 | float, check: Callable[[F64, B], B]) -> B:
        """Whether each silence crosses a threshold: sure above ``hi``, sure not below ``lo``, and
        ``check(z, near)`` on the exact z in between."""
        over: B = yc >= hi
        if not over.all():
            near = ~over & (yc >= lo)
            if near.any():
                over[near] = check(_silence_z(yc[near]), near)
        return over

    def _zsil_all(self) -> F64:
        """Silence z of every series (0 where y < 3, as :func:`_silence_z`)."""
        zsil = np.zeros(self.n)
        if not self.runs_clear:
            sidx = np.greater_equal(self.y, 3.0, self.y_hit).nonzero()[0]
            zsil[sidx] = z_from_neglog(self.y.take(sidx))
        return zsil

    def _alarms(self, idx: I64, valid: B | None) -> I64:
        """Series where some window among ``idx`` crosses its change floors and its threshold (the
        floors first: they leave few windows, often none, whose z is then needed)."""
        if not idx.size:
            return _NONE
        cols, f = idx % self.n, self.flat
        change = self.min_rel.take(cols)
        change *= f["m_tot"].take(idx)
        big = np.abs(f["dev"].take(idx)) >= np.maximum(self.min_abs.take(cols), change)
        if valid is not None:
            big &= valid.reshape(-1).take(idx)
        at = big.nonzero()[0]
        if not at.size:
            return _NONE
        idx = idx.take(at)
        zs = self._z(idx)
        hit = (zs >= f["h_win"].take(idx)) | (zs <= f["h_low"].take(idx))
        alarm: I64 = cols.take(at)[hit]
        return alarm

    def _rows(self, hot: I64) -> I64:
        mask = self.ep_dir != 0
        mask[hot] = True
        return np.flatnonzero(mask)

    def _episodes(self, k: int, rows: I64, arrays: tuple[B, F64, F64, F64, B | None]) -> I64:
        """Verdicts of the series of interest, then the episode book; returns the anomalous ones."""
        obs, x, z, zsil, valid = arrays
        p, n_obs, ep = self.params, self.n_obs, self.ep
        ar = np.abs(self.dev[:, rows])
        mr = self.m_tot[:, rows]
        valid_r = np.ones(ar.shape, dtype=bool) if valid is None else valid[:, rows]
        zr = z[:, rows]
        big = valid_r & (ar >= np.maximum(p.min_abs[rows], p.min_rel[rows] * mr))
        scores = _Rows(
            judge=obs[rows] & (n_obs[rows] >= p.min_history[rows]),
            z=zr,
            pearson=self.pearson[:, rows],
            up=big & (zr >= self.h_win[:, rows]),
            down=big & (zr <= self.h_low[:, rows]),
            silent=(zsil[rows] >= p.threshold[rows]) & (self.e_since[rows] >= p.min_abs[rows]),
            zsil=zsil[rows],
            span_ok=valid_r & (np.maximum(ep[episodes.SPAN, rows], CONTINUE_SPAN) >= LENGTHS),
            adev=ar,
            totals=self.totals[:, rows],
            m_tot=mr,
            e_since=self.e_since[rows],
            zero_run=self.zero_run[rows],
        )
        verdicts = _verdicts(rows, scores, p.min_abs[rows], p.min_rel[rows])
        ring = (self.ring[0], self.ring[1], self.pos[k])
        anomalous, adapt_rows, ratios = self.book.step(self.times[k], verdicts, x, self.mu, ring)
        if adapt_rows.size:
            self.sea.adapt(adapt_rows, ratios)
        self.le_max = float(ep[LAST_END].max())
        self.book_open = bool(self.ep_dir.any())
        return anomalous

    def _learn(self, k: int, obs: B, skip: I64, x: F64, xc: F64, busy: bool, valid: B | None) -> None:
        """Learn the bucket (series in ``skip`` not): learned values are winsorised like the
        windows' once the baseline is trusted; dispersion from windows free of anomalies."""
        value = xc if self.warm_from <= k else np.where(self.n_obs >= self.min_history, xc, x)
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


def _silence_z(y: F64) -> F64:
    """Silence z as the judgement uses it: z_from_neglog(y) from y = 3 on, 0 below."""
    z = np.zeros_like(y)
    at = (y >= 3.0).nonzero()[0]
    z[at] = z_from_neglog(y[at])
    return z


def _z_bounds(targets: F64) -> tuple[F64, F64]:
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
class _Rows:
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


def _verdicts(rows: I64, s: _Rows, min_abs: F64, min_rel: F64) -> Verdicts:
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


def _record(
    rec: _Recorder,
    r: int,
    act: B,
    obs: B,
    raw: F64,
    mu: F64,
    v1: F64,
    z1: F64,
    anomalous: I64,
    params: Params,
) -> None:
    a = rec.arrays
    lower, upper = band(mu, v1, params.threshold, params.min_abs, params.min_rel)
    a["observed"][r] = np.where(obs, raw, np.nan)
    a["expected"][r] = np.where(act, mu, np.nan)
    a["lower"][r] = np.where(act, lower, np.nan)
    a["upper"][r] = np.where(act, upper, np.nan)
    a["score"][r] = np.where(obs, z1, np.nan)
    rec.anomalous[r, anomalous] = True
