"""One incident per anomalous episode: open at the first flagged bucket, extend while the series
stays anomalous, resolve after ``resolve_after`` normal buckets in a row.

The book keeps one row of numbers per series (``ep``) and works only on the few rows that are in
an episode or alarming at a bucket, so its cost does not grow with quiet series. Closed episodes
are returned as :class:`Episode` records; open ones are read from the state at the end of a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

# columns of the ``ep`` array
(
    DIR,
    START,
    ONSET,
    LAST,
    NORMAL,
    PEAK,
    PEAK_T,
    PEAK_X,
    PEAK_M,
    SUM_X,
    SUM_M,
    COUNT,
    LAST_END,
    ADAPTED,
    SPAN,
) = range(15)
N_COLS = 15
CONTEXT = 12
SPIKE, DROP, SILENCE = 1.0, -1.0, -2.0
DIRECTIONS = {SPIKE: "spike", DROP: "drop", SILENCE: "silence"}


@dataclass(frozen=True)
class Episode:
    """An incident of one series, as the detector saw it (times are bucket starts, epoch s)."""

    series: int
    direction: str
    started_at: int
    onset_at: int
    last_at: int
    ended_at: int | None
    peak_score: float
    peak_at: int
    peak_observed: float
    peak_expected: float
    observed_total: float
    expected_total: float
    buckets: int
    adapted: bool
    context: tuple[tuple[float, float], ...]

    @property
    def observed(self) -> float:
        """Mean observed count per anomalous bucket."""
        return self.observed_total / max(self.buckets, 1)

    @property
    def expected(self) -> float:
        """Mean expected count per anomalous bucket."""
        return self.expected_total / max(self.buckets, 1)


def fresh(n: int) -> dict[str, F64]:
    """Episode arrays (feature-major: ``(N_COLS, n)`` and ``(2·CONTEXT, n)``) for ``n`` new series."""
    ep = np.zeros((N_COLS, n))
    ep[LAST_END] = -np.inf
    return {"ep": ep, "ctx": np.zeros((2 * CONTEXT, n))}


def record(ep: F64, ctx: F64, i: int, ended_at: int | None) -> Episode:
    """The :class:`Episode` of series ``i``."""
    row = ep[:, i]
    pairs = ctx[:, i].reshape(2, CONTEXT)
    return Episode(
        series=i,
        direction=DIRECTIONS[float(row[DIR])],
        started_at=int(row[START]),
        onset_at=int(row[ONSET]),
        last_at=int(row[LAST]),
        ended_at=ended_at,
        peak_score=float(row[PEAK]),
        peak_at=int(row[PEAK_T]),
        peak_observed=float(row[PEAK_X]),
        peak_expected=float(row[PEAK_M]),
        observed_total=float(row[SUM_X]),
        expected_total=float(row[SUM_M]),
        buckets=int(row[COUNT]),
        adapted=bool(row[ADAPTED]),
        context=tuple(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True)),
    )


@dataclass
class Verdicts:
    """What the tests said about the rows of interest at one bucket (all arrays indexed like ``rows``)."""

    rows: I64
    judged: NDArray[np.bool_]
    up: F64
    """spike score where a spike alarm fired, else 0"""
    down: F64
    """drop score where a drop alarm fired, else 0"""
    silent: NDArray[np.bool_]
    """the drop alarm is a silence"""
    cont_up: NDArray[np.bool_]
    cont_down: NDArray[np.bool_]
    hold_up: NDArray[np.bool_]
    """not anomalous, but not yet back to normal either"""
    hold_down: NDArray[np.bool_]
    span: F64
    """buckets covered by the window that fired (for the onset estimate)"""
    window_observed: F64
    """observed total of that window"""
    window_expected: F64
    """expected total of that window"""


class Book:
    """Episode state machine over the ``ep`` / ``ctx`` arrays."""

    def __init__(self, arrays: dict[str, F64], width: int, resolve_after: F64, adapt_after: F64) -> None:
        self.ep = arrays["ep"]
        self.ctx = arrays["ctx"]
        self.width = width
        self.resolve_after = resolve_after
        self.adapt_after = adapt_after * width
        self.closed: list[Episode] = []

    def step(self, t: int, v: Verdicts, x: F64, mu: F64, ring: tuple[F64, F64, int]) -> tuple[I64, I64, F64]:
        """Advance the rows of ``v`` at bucket ``t``. Returns the series whose bucket is anomalous
        (not to be learned), and the series closed by adaptation with the level ratio to adopt."""
        rows, w = v.rows, self.width
        st = self.ep[:, rows]
        direction = st[DIR]
        in_ep = direction != 0
        alarm_dir = np.where(
            v.up >= v.down, np.where(v.up > 0, SPIKE, 0.0), np.where(v.silent, SILENCE, DROP)
        )
        alarm_dir = np.where(v.judged & ((v.up > 0) | (v.down > 0)), alarm_dir, 0.0)
        cont = v.judged & np.where(direction > 0, v.cont_up, v.cont_down) & in_ep
        hold = v.judged & np.where(direction > 0, v.hold_up, v.hold_down) & in_ep & ~cont
        opposite = in_ep & ~cont & (alarm_dir != 0) & (np.sign(alarm_dir) != np.sign(direction))
        normal = np.where(cont | hold, 0.0, st[NORMAL] + (in_ep & v.judged))
        resolve = in_ep & ((normal >= self.resolve_after[rows]) | opposite)
        adapt = (
            in_ep & v.judged & ~resolve & (direction != SILENCE) & (t - st[START] >= self.adapt_after[rows])
        )
        score = np.where(direction > 0, v.up, v.down)
        xr, mr = x[rows], mu[rows]
        st[NORMAL] = normal
        st[LAST] = np.where(cont, t, st[LAST])
        better = cont & (score > st[PEAK])
        st[PEAK] = np.where(better, score, st[PEAK])
        st[PEAK_T] = np.where(better, t, st[PEAK_T])
        st[PEAK_X] = np.where(better, xr, st[PEAK_X])
        st[PEAK_M] = np.where(better, mr, st[PEAK_M])
        st[SUM_X] += np.where(cont, xr, 0.0)
        st[SUM_M] += np.where(cont, mr, 0.0)
        st[COUNT] += cont
        st[ADAPTED] = np.where(adapt, 1.0, st[ADAPTED])
        ratio = st[SUM_X] / np.maximum(st[SUM_M], 1e-9)
        self.ep[:, rows] = st
        for j in np.flatnonzero(resolve | adapt):
            self._close(int(rows[j]), t if opposite[j] else (t + w if adapt[j] else int(st[LAST, j]) + w))
        opened = (alarm_dir != 0) & (~in_ep | opposite)
        if opened.any():
            peak = np.maximum(v.up, v.down)
            totals = (v.window_observed[opened], v.window_expected[opened])
            self._open(
                rows[opened],
                t,
                alarm_dir[opened],
                peak[opened],
                v.span[opened],
                (xr[opened], mr[opened]),
                ring,
                totals,
            )
        return rows[cont | hold | opened], rows[adapt], np.clip(ratio[adapt], 0.05, 20.0)

    def _close(self, i: int, end: int) -> None:
        self.closed.append(record(self.ep, self.ctx, i, end))
        last = self.ep[LAST, i]
        self.ep[:, i] = 0.0
        self.ep[LAST_END, i] = last

    def _open(
        self,
        idx: I64,
        t: int,
        direction: F64,
        score: F64,
        span: F64,
        bucket: tuple[F64, F64],
        ring: tuple[F64, F64, int],
        totals: tuple[F64, F64],
    ) -> None:
        """Open episodes; their totals start with the whole window that fired (the onset)."""
        x, mu = bucket
        ep, w = self.ep, self.width
        ep[DIR, idx] = direction
        ep[START, idx] = t
        ep[ONSET, idx] = np.maximum(t - (span - 1) * w, ep[LAST_END, idx] + w)
        ep[LAST, idx] = t
        ep[NORMAL, idx] = 0
        ep[PEAK, idx] = score
        ep[PEAK_T, idx] = t
        ep[PEAK_X, idx] = x
        ep[PEAK_M, idx] = mu
        ep[SUM_X, idx] = totals[0]
        ep[SUM_M, idx] = totals[1]
        ep[COUNT, idx] = span
        ep[ADAPTED, idx] = 0
        ep[SPAN, idx] = span
        ring_x, ring_m, pos = ring
        cols = (pos - np.arange(CONTEXT, 0, -1)) % ring_x.shape[0]
        self.ctx[:CONTEXT, idx] = ring_x[np.ix_(cols, idx)]
        self.ctx[CONTEXT:, idx] = ring_m[np.ix_(cols, idx)]
