"""Merge many stored latency sketches at once and read percentiles from them, vectorised.

:class:`monitors.sketch.LatencySketch` merges one sketch at a time through dicts; a page that
summarises a week of 200 events merges tens of thousands. Here every blob is parsed with numpy,
bins are summed per group with one ``bincount``, and quantiles are read from the per-group
cumulative counts — the same rank rule as ``LatencySketch.quantiles`` (lower nearest rank on
the sorted values), so results are identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from monitors.sketch import GAMMA, ZERO_BIN, bin_index

OFFSET = 32768  # bin index + OFFSET ≥ 0 (indices are int16)
SPAN = 65536


def _parse(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    if not blob:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    n = int.from_bytes(blob[3:7], "little")
    keys = np.frombuffer(blob, dtype=np.int16, count=n, offset=7)
    wide = blob[2:3] == b"W"
    counts = np.frombuffer(blob, dtype=np.int64 if wide else np.uint32, count=n, offset=7 + 2 * n)
    return keys.astype(np.int64), counts.astype(np.int64)


def merged_bins(groups: Sequence[int] | np.ndarray, blobs: Sequence[bytes]) -> pd.DataFrame:
    """Sum the bins of ``blobs`` per group id: columns ``group``, ``bin``, ``count`` sorted by both."""
    parsed = [_parse(bytes(b)) for b in blobs]
    sizes = np.fromiter((len(k) for k, _ in parsed), dtype=np.int64, count=len(parsed))
    if not len(parsed) or not sizes.sum():
        return pd.DataFrame({"group": np.empty(0, np.int64), "bin": np.empty(0, np.int64),
                             "count": np.empty(0, np.int64)})  # fmt: skip
    keys = np.concatenate([k for k, _ in parsed])
    counts = np.concatenate([c for _, c in parsed])
    owner = np.repeat(np.asarray(groups, dtype=np.int64), sizes)
    combined = owner * SPAN + keys + OFFSET
    uniq, inverse = np.unique(combined, return_inverse=True)
    summed = np.bincount(inverse, weights=counts).astype(np.int64)
    return pd.DataFrame({"group": uniq // SPAN, "bin": uniq % SPAN - OFFSET, "count": summed})


def bin_values(bins: np.ndarray) -> np.ndarray:
    """Representative seconds of each bin (as ``monitors.sketch.bin_value``)."""
    values = 2.0 * np.power(GAMMA, bins.astype(np.float64)) / (GAMMA + 1.0)
    return np.where(bins == ZERO_BIN, 0.0, values)


def quantiles(merged: pd.DataFrame, qs: Sequence[float] = (0.5, 0.95, 0.99),
              above: float | None = None) -> pd.DataFrame:  # fmt: skip
    """Per group: ``n`` values, one column per quantile (``p50``…), and ``share_above`` when
    ``above`` (seconds) is given. Input: the output of :func:`merged_bins`."""
    names = [f"p{round(q * 100):d}" for q in qs]
    if merged.empty:
        cols: dict[str, list[float]] = {"group": [], "n": [], **{n: [] for n in names}}
        if above is not None:
            cols["share_above"] = []
        return pd.DataFrame(cols).astype({"group": "int64", "n": "int64"})
    group = merged["group"].to_numpy()
    count = merged["count"].to_numpy()
    bins = merged["bin"].to_numpy()
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    totals = np.add.reduceat(count, starts)
    cum = np.cumsum(count)
    before = np.r_[0, cum[starts[1:] - 1]] if len(starts) > 1 else np.zeros(1, np.int64)
    ends = np.r_[starts[1:], len(group)]
    out: dict[str, np.ndarray] = {"group": group[starts], "n": totals}
    for name, q in zip(names, qs, strict=True):
        rank = np.minimum(totals - 1, np.maximum(0, np.floor(q * (totals - 1)).astype(np.int64)))
        target = before + rank + 1  # first position whose cumulative count reaches rank + 1
        pos = np.searchsorted(cum, target, side="left")
        pos = np.clip(pos, starts, ends - 1)
        out[name] = bin_values(bins[pos])
    if above is not None:
        edge = bin_index(above)
        over = np.add.reduceat(np.where(bins > edge, count, 0), starts)
        out["share_above"] = over / totals
    return pd.DataFrame(out)


def quantile_table(rows: pd.DataFrame, by: Sequence[str], qs: Sequence[float] = (0.5, 0.95, 0.99),
                   above: float | dict[str, float] | None = None) -> pd.DataFrame:  # fmt: skip
    """Merge sketch rows (a ``bins`` column plus the ``by`` columns) per ``by`` group and return
    ``by`` + ``n`` + quantile columns (+ ``share_above`` of ``above`` seconds, or of a per-event
    threshold when ``above`` maps event names to seconds)."""
    by = list(by)
    if rows.empty:
        empty = pd.DataFrame(columns=[*by, "n", *[f"p{round(q * 100):d}" for q in qs]])
        return empty.assign(share_above=pd.Series(dtype="float64")) if above is not None else empty
    keys = rows[by].drop_duplicates().reset_index(drop=True)
    ids = rows[by].merge(keys.reset_index(names="_gid"), on=by, how="left")["_gid"].to_numpy()
    merged = merged_bins(ids, rows["bins"].tolist())
    if isinstance(above, dict):
        table = quantiles(merged, qs)
        table["share_above"] = _share_above_each(merged, keys, above)
    else:
        table = quantiles(merged, qs, above)
    return keys.join(table.set_index("group"), how="inner").reset_index(drop=True)


def _share_above_each(merged: pd.DataFrame, keys: pd.DataFrame, above: dict[str, float]) -> np.ndarray:
    limits = keys["event"].map(above).to_numpy(dtype=np.float64)
    edges = np.array([bin_index(x) for x in limits], dtype=np.int64)
    over = merged["bin"].to_numpy() > edges[merged["group"].to_numpy()]
    frame = merged.assign(over=np.where(over, merged["count"], 0))
    sums = frame.groupby("group")[["over", "count"]].sum()
    return np.asarray(sums["over"] / sums["count"], dtype=np.float64)
