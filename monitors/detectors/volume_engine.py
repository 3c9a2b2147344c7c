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
DISPERSION_EVERY = 3
"""Dispersion is learned from every third bucket (by absolute time): plenty, and a third of the cost."""
MU_MIN = 0.01
STATE_VERSION = 1


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
    width = params.width
    first = np.zeros(n, dtype=np.int64) if first is None else first
    rec = _Recorder(times, int(times[-1]) + 1 if record_from is None else record_from, n)
    tm = timing(times, width)
    sea = Seasonal(state, width)
    disp = Dispersion(state, width, params.floor)
    book = Book(state, width, params.resolve_after, params.adapt_after)
    ring_x, ring_m, win_x, win_m = state["ring_x"], state["ring_m"], state["win_x"], state["win_m"]
    meta, ep = state["meta"], state["ep"]
    n_obs, e_since, zero_run = meta[META_N_OBS], meta[META_E_SINCE], meta[META_ZERO_RUN]
    lengths = np.array(WINDOWS, dtype=np.float64)[:, None]
    lmax = max(WINDOWS)
    h, abs_, rel = params.threshold, params.min_abs, params.min_rel
    h_win = h + np.array(WINDOW_EXTRA)[:, None]
    offsets = np.array(WINDOWS)
    no_silence = np.zeros(n)
    all_active = int(first.max()) if n else 0
    # from this bucket on every series is past its minimum history (learned values winsorised)
    warm_from = int(np.ceil(np.max(first + np.maximum(params.min_history - n_obs, 0)))) if n else 0
    for k in range(len(times)):
        t = int(times[k])
        act = k >= first
        obs = act if observed is None else act & observed[k]
        mu, cand = sea.predict(tm, k)
        np.maximum(mu, MU_MIN, out=mu)
        x = np.where(obs, counts[k], mu)
        pos = (t // width) % lmax
        old = (pos - offsets) % lmax
        # series not yet (or not now) active keep their windows untouched
        # windows add up buckets winsorised at ±CLIP_SD s.d., so one heavy-tailed outlier cannot
        # make a run of normal buckets look anomalous; the one-bucket window sees the raw count
        reach = CLIP_SD * np.sqrt(disp.a[0] * mu + disp.b[0] * mu * mu)
        xc = np.clip(x, mu - reach, mu + reach)
        if k >= all_active:
            win_x += xc - ring_x[old]
            win_m += mu - ring_m[old]
            ring_x[pos] = xc
            ring_m[pos] = mu
        else:
            win_x += np.where(act, xc - ring_x[old], 0.0)
            win_m += np.where(act, mu - ring_m[old], 0.0)
            ring_x[pos] = np.where(act, xc, ring_x[pos])
            ring_m[pos] = np.where(act, mu, ring_m[pos])
        n_obs += act
        valid = lengths <= np.minimum(n_obs, (t - ep[LAST_END]) / width)
        m_tot = np.maximum(win_m, MU_MIN)
        v = disp.variance_factor(m_tot)
        # judged with the baseline's own uncertainty too: variance V·M + M²·r (r: relative variance
        # of the prediction from the events its profile slot learned from; large in quiet hours)
        vj = v + m_tot * sea.rel_var(tm, k)[None, :]
        totals = win_x.copy()
        totals[0] = x
        dev = totals - m_tot
        z, pearson = _scores(totals, m_tot, vj, dev)
        adev = np.abs(dev)
        ok = valid & (adev >= np.maximum(abs_, rel * m_tot))
        judge = obs & (n_obs >= params.min_history)
        up, dn = ok & (z >= h_win), ok & (z <= -h_win)
        zero = obs & (x == 0)
        e_since[:] = np.where(zero, e_since + mu, np.where(obs, 0.0, e_since))
        zero_run[:] = np.where(zero, zero_run + 1.0, np.where(obs, 0.0, zero_run))
        zsil = _silence(e_since, disp.a[0]) if e_since.any() else no_silence
        sil = (zsil >= h) & (e_since >= abs_)
        in_ep = ep[episodes.DIR] != 0
        rows = np.flatnonzero((judge & ((up | dn).any(axis=0) | sil)) | in_ep)
        anomalous = rows[:0]
        if rows.size:
            span_ok = valid[:, rows] & (lengths <= np.maximum(ep[episodes.SPAN, rows], CONTINUE_SPAN))
            sums = (totals, m_tot, e_since, zero_run)
            verdicts = _verdicts(rows, judge, z, pearson, up, dn, sil, zsil, span_ok, adev, sums, params)
            anomalous, adapt_rows, ratios = book.step(t, verdicts, x, mu, (ring_x, ring_m, pos))
            if adapt_rows.size:
                sea.adapt(adapt_rows, ratios)
        learn = obs & (zsil < PENDING_Z)
        learn[anomalous] = False
        # learned values are winsorised like the windows' (once the baseline is trusted)
        sea.learn(
            tm, k, learn, xc if warm_from <= k else np.where(n_obs >= params.min_history, xc, x), cand, n_obs
        )
        if (t // width) % DISPERSION_EVERY == 0:
            quiet = valid & (learn & (ep[episodes.DIR] == 0))
            disp.learn(dev, m_tot, v, quiet.astype(np.float64))
        if tm.choose[k]:
            disp.solve()
        if k >= rec.start:
            z1 = z_signed(x, m_tot[0], vj[0])
            _record(rec, k - rec.start, act, obs, counts[k], mu, vj[0], z1, anomalous, params)
    return rec.result(book.closed)


def _scores(x: F64, m: F64, v: F64, dev: F64) -> tuple[F64, F64]:
    """Count-aware z of every window, computed exactly only where a cheap Pearson score says it
    could matter (|Pearson| >= 2; the exact score is at most 1.25 × Pearson in the drop tail)."""
    pearson = dev / np.sqrt(v * m)
    idx = np.flatnonzero(np.abs(pearson) >= SCREEN_Z)
    z = np.zeros_like(x)
    if idx.size:
        flat = z.reshape(-1)
        flat[idx] = z_signed(x.reshape(-1)[idx], m.reshape(-1)[idx], v.reshape(-1)[idx])
    return z, pearson


def _silence(e_since: F64, a: F64) -> F64:
    """z of seeing no event while ``e_since`` were expected (quasi-Poisson, dispersion ``a``)."""
    y = e_since / a
    idx = np.flatnonzero(y >= 3.0)
    z = np.zeros_like(y)
    if idx.size:
        z[idx] = z_from_neglog(y[idx])
    return z


def _verdicts(
    rows: I64,
    judge: B,
    z: F64,
    pearson: F64,
    up: B,
    dn: B,
    sil: B,
    zsil: F64,
    span_ok: B,
    adev: F64,
    totals: tuple[F64, F64, F64, F64],
    params: Params,
) -> Verdicts:
    """Alarm scores of the rows of interest, and whether each row's episode is still going:
    continuation looks at windows no longer than the one that opened the episode (at least 3
    buckets), at a lower z and half the change floors."""
    zr = z[:, rows]
    up_z = np.where(up[:, rows], zr, 0.0)
    dn_z = np.where(dn[:, rows], -zr, 0.0)
    silent = sil[rows]
    up_s = up_z.max(axis=0)
    dn_s = np.maximum(dn_z.max(axis=0), np.where(silent, zsil[rows], 0.0))
    win_x, m_tot, e_since, zero_run = totals
    which = np.where(up_s >= dn_s, up_z.argmax(axis=0), dn_z.argmax(axis=0))
    quiet = silent & (dn_s > 0)
    span = np.where(quiet, np.maximum(zero_run[rows], 1.0), np.array(WINDOWS, dtype=np.float64)[which])
    seen = np.where(quiet, 0.0, win_x[which, rows])
    expected = np.where(quiet, e_since[rows], m_tot[which, rows])
    ar = adev[:, rows]
    near = (ar >= 0.5 * params.min_abs[rows]) & (ar >= 0.5 * params.min_rel[rows] * m_tot[:, rows])
    near &= span_ok
    cont_up: B = np.asarray(((zr >= CONTINUE_Z) & near).any(axis=0))
    cont_dn = ((zr <= -CONTINUE_Z) & near).any(axis=0) | (zsil[rows] >= CONTINUE_Z)
    pr = np.where(span_ok, pearson[:, rows], 0.0)
    hold_up: B = np.asarray((pr >= HOLD_Z).any(axis=0))
    hold_dn = (pr <= -HOLD_Z).any(axis=0) | (zsil[rows] >= HOLD_Z)
    return Verdicts(
        rows, judge[rows], up_s, dn_s, quiet, cont_up, cont_dn, hold_up, hold_dn, span, seen, expected
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
