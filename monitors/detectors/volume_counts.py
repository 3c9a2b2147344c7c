"""Counts frames as the Store returns them, turned into the ``(T, n)`` matrix the engine reads.

A cold replay maps tens of millions of rows, so the key columns are matched against the few
distinct values of the series being judged (Arrow's ``index_in``; one comparison for a column
holding a single value, the usual source and environment) instead of being factorised whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from monitors.detectors.base import SeriesKey

KEY = ("source", "environment", "event")


def matrix(
    frame: pd.DataFrame, keys: Sequence[SeriesKey], times: np.ndarray, width: int, fill: float
) -> np.ndarray:
    """Counts (T, n) in the order of ``keys``; rows of other series or times are ignored, buckets
    without a row hold ``fill``. The frame has at most one row per series and bucket (the Store's
    key; the backtest sums duplicates before). With a finite ``fill`` the matrix is finite (NaN
    counts are 0, infinite ones the largest float, as ``np.nan_to_num`` makes them)."""
    counts = np.zeros((len(times), len(keys))) if fill == 0.0 else np.full((len(times), len(keys)), fill)
    if frame.empty or not keys:
        return counts
    column = _columns(frame, keys)
    t = frame["bucket_start"].to_numpy(np.int64) - int(times[0])
    t //= width
    keep = t.view(np.uint64) < len(times)  # 0 <= t < T
    keep &= column >= 0
    values = frame["count"].to_numpy(np.float64)
    if fill == fill and not np.isfinite(values).all():  # as np.nan_to_num on the matrix would
        values = np.nan_to_num(values)
    if not keep.all():
        t, column, values = t[keep], column[keep], values[keep]
    counts[t, column] = values
    return counts


def _columns(frame: pd.DataFrame, keys: Sequence[SeriesKey]) -> np.ndarray:
    """Column of each row's series in ``keys`` (-1: not one of them)."""
    parts = [list(dict.fromkeys(key[j] for key in keys)) for j in range(3)]
    sizes = [len(p) + 1 for p in parts]  # position 0: absent
    lookup = np.full(sizes[0] * sizes[1] * sizes[2], -1, dtype=np.int64)
    at = [{value: i + 1 for i, value in enumerate(p)} for p in parts]
    for col, key in enumerate(keys):
        lookup[(at[0][key[0]] * sizes[1] + at[1][key[1]]) * sizes[2] + at[2][key[2]]] = col
    source, environment, event = (_positions(frame[name], p) for name, p in zip(KEY, parts, strict=True))
    if isinstance(source, int) and isinstance(environment, int):
        flat = np.add(event, (source * sizes[1] + environment) * sizes[2], dtype=np.int64)
    else:
        flat = (np.add(source, 0, dtype=np.int64) * sizes[1] + environment) * sizes[2] + event
    return np.broadcast_to(lookup[flat], (len(frame),))


def _positions(column: pd.Series, values: list[str]) -> int | np.ndarray:
    """1 + the position of each row's value in ``values``, 0 where absent (an int when every row
    holds the one value the series have in common, the usual source and environment)."""
    if getattr(column.dtype, "storage", None) != "pyarrow":
        codes, uniques = pd.factorize(column)
        at = {value: i + 1 for i, value in enumerate(values)}
        # code -1 (missing) picks the trailing 0
        positions = np.array([at.get(str(u), 0) for u in uniques] + [0], dtype=np.int64)
        by_row: np.ndarray = positions[codes]
        return by_row
    data = pa.array(column.array)
    first = data[0]
    if len(values) == 1 and first.is_valid and pc.all(pc.equal(data, first), skip_nulls=False).as_py():
        return 1 if first.as_py() == values[0] else 0
    found = pc.index_in(data, value_set=pa.array(values, type=data.type))
    found_at: np.ndarray = np.add(found.fill_null(-1).to_numpy(), 1, dtype=np.int64)
    return found_at
