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

import numpy as np
from numpy.typing import NDArray

from monitors.detectors import episodes
from monitors.detectors._volume_judge import WINDOWS, Params
from monitors.detectors._volume_pass import Pass, Recorder, RunResult
from monitors.detectors.dispersion import Dispersion
from monitors.detectors.seasonal import Seasonal

__all__ = ["LAYOUT", "STATE_SIZE", "STATE_VERSION", "Params", "RunResult", "fresh", "pack", "run", "unpack"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]

STATE_VERSION = 1


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
    Thresholds must be > 0.
    """
    n = counts.shape[1]
    if not bool((params.threshold > 0).all()):
        raise ValueError("volume engine: thresholds must be > 0")
    first = np.zeros(n, dtype=np.int64) if first is None else first
    rec = Recorder(times, int(times[-1]) + 1 if record_from is None else record_from, n)
    bucket = Pass(state, params, times, first)
    try:
        for k in range(len(times)):
            bucket.step(k, counts[k], None if observed is None else observed[k], rec)
    finally:
        bucket.flush()
    return rec.result(bucket.book.closed)
