"""Vectorised decoding of many stored sketches at once (formats of :mod:`monitors.sketch`).

A pass reads thousands of latency sketches and HyperLogLogs; decoding them one by one into
dicts costs more than everything else. Here all blobs are joined into one byte buffer and every
field is gathered with numpy index arithmetic:

* :func:`latency_entries` → (row, bin, count) for every bin of every latency sketch;
* :func:`hll_entries` → (row, register, rank) for every register of every HyperLogLog;
* :func:`estimate` → HyperLogLog estimates of dense register arrays (as ``HLL.estimate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from monitors.sketch import HLL_M, hll_estimates

I64 = NDArray[np.int64]


def _buffer(blobs: Sequence[bytes | None]) -> tuple[NDArray[np.uint8], I64, I64]:
    items = [b or b"" for b in blobs]
    lens = np.fromiter((len(b) for b in items), dtype=np.int64, count=len(items))
    buf = np.frombuffer(b"".join(items) + b"\0" * 8, dtype=np.uint8)
    starts = np.cumsum(lens) - lens
    return buf, starts, lens


def _uint(buf: NDArray[np.uint8], at: I64, size: int) -> I64:
    out = np.zeros(len(at), dtype=np.int64)
    for i in range(size):
        out |= buf[at + i].astype(np.int64) << (8 * i)
    return out


def _ranges(first: I64, count: I64) -> tuple[I64, I64]:
    """Owner row and position within the row for ``count[i]`` consecutive items per row."""
    owner = np.repeat(np.arange(len(count), dtype=np.int64), count)
    within = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return owner, within


def latency_entries(blobs: Sequence[bytes | None]) -> tuple[I64, I64, I64]:
    """(row, bin, count) of every bin of every ``LatencySketch`` blob (``L1`` format)."""
    buf, starts, lens = _buffer(blobs)
    rows = np.flatnonzero(lens >= 7)
    s = starts[rows]
    n = _uint(buf, s + 3, 4)
    wide = buf[s + 2] == ord("W")
    owner, within = _ranges(s, n)
    base = s[owner] + 7
    key = _uint(buf, base + 2 * within, 2)
    key = np.where(key >= 32768, key - 65536, key)
    size = np.where(wide[owner], 8, 4).astype(np.int64)
    at = (base + 2 * n[owner] + size * within).astype(np.int64)
    count = _uint(buf, at, 4)
    if wide.any():
        hi = _uint(buf, at + 4, 4)
        count = np.where(wide[owner], count | (hi << 32), count)
    return rows[owner], key, count


def hll_entries(blobs: Sequence[bytes | None]) -> tuple[I64, I64, I64]:
    """(row, register, rank) of every non-zero register of every ``HLL`` blob (sparse or dense)."""
    buf, starts, lens = _buffer(blobs)
    magic = buf[starts + 1]
    sparse = np.flatnonzero((lens >= 6) & (magic == ord("1")))
    dense = np.flatnonzero((lens >= 2 + HLL_M) & (magic == ord("2")))
    s = starts[sparse]
    n = _uint(buf, s + 2, 4)
    owner, within = _ranges(s, n)
    reg = _uint(buf, s[owner] + 6 + 2 * within, 2)
    rank = buf[s[owner] + 6 + 2 * n[owner] + within].astype(np.int64)
    rows = [sparse[owner]]
    regs = [reg]
    ranks = [rank]
    if len(dense):
        block = buf[(starts[dense] + 2)[:, None] + np.arange(HLL_M)[None, :]]
        d_row, d_reg = np.nonzero(block)
        rows.append(dense[d_row])
        regs.append(d_reg.astype(np.int64))
        ranks.append(block[d_row, d_reg].astype(np.int64))
    return np.concatenate(rows), np.concatenate(regs), np.concatenate(ranks)


def registers(groups: I64, n_groups: int, rows: I64, reg: I64, rank: I64) -> NDArray[np.uint8]:
    """Dense registers (n_groups, 4096): the maximum rank per group (``groups[row]``) and register."""
    out = np.zeros(n_groups * HLL_M, dtype=np.uint8)
    if len(rows):
        np.maximum.at(out, groups[rows] * HLL_M + reg, rank.astype(np.uint8))
    return out.reshape(n_groups, HLL_M)


def estimate(dense: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Estimates of register arrays (..., 4096), as ``HLL.estimate`` gives them one at a time."""
    return hll_estimates(dense)


def relative_error() -> float:
    """Standard error of one estimate (1.04 / sqrt(m))."""
    return 1.04 / math.sqrt(HLL_M)
