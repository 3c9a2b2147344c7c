"""Latency and user sketches of one input, built in numpy from the narrow per-message rows.

DuckDB hands over, per message, the group index ``g`` (a (series, bucket) of the ``main`` part),
the three latency bins and the user hashes, in record batches of bounded size; this module adds
them up without a Python object per message: latency bins are counted with ``np.unique`` per hop,
HyperLogLog registers are raised with ``np.maximum.at`` on one ``uint8[G, 4096]`` array per kind.
Group-bys in SQL with millions of (series, bucket, bin) or (series, bucket, register) groups
cost several times more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitors.ingest.sqlgen import HLL_KINDS, HOPS
from monitors.sketch import HLL_M, HLL_P

_BIN_OFFSET = 1 << 15  # bins are SMALLINT: shift to 0..65535
_LOW = (1 << (64 - HLL_P)) - 1


_NO_INTS = np.zeros(0, dtype=np.int64)


@dataclass
class GroupSketches:
    """Sketches per group ``g``: HLL registers per kind (``uint8[groups, 4096]``) and latency bins
    as three flat int64 arrays sorted by (``gh``, bin), each (gh, bin) once: ``gh = g * 4 + h``
    for the hop ``HOPS[h]``, the bin index, its count."""

    groups: int
    registers: dict[str, np.ndarray] = field(default_factory=dict)
    lat_gh: np.ndarray = field(default_factory=lambda: _NO_INTS)
    lat_bins: np.ndarray = field(default_factory=lambda: _NO_INTS)
    lat_counts: np.ndarray = field(default_factory=lambda: _NO_INTS)

    @property
    def latency(self) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
        """(bins, counts) per (group, hop), for reading."""
        out = {}
        starts = np.flatnonzero(np.r_[True, self.lat_gh[1:] != self.lat_gh[:-1]]) if self.lat_gh.size else _NO_INTS
        ends = np.r_[starts[1:], self.lat_gh.size]
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            g, h = divmod(int(self.lat_gh[s]), 4)
            out[(g, HOPS[h])] = (self.lat_bins[s:e], self.lat_counts[s:e])
        return out


def _ints(column: pa.ChunkedArray | pa.Array, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """(values with nulls as 0, mask of non-null) of an integer column."""
    valid = pc.is_valid(column).to_numpy(zero_copy_only=False)
    values = pc.fill_null(column, 0).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return values, valid


def ranks(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(register index, rank) of 64-bit hashes: the top 12 bits pick the register; the rank is the
    position of the first 1-bit in the other 52 (``52 - floor(log2(max(1, low)))``, exactly)."""
    idx = (hashes >> np.uint64(64 - HLL_P)).astype(np.intp)
    low = np.maximum(hashes & np.uint64(_LOW), np.uint64(1)).astype(np.float64)  # < 2^52: exact
    _, exponent = np.frexp(low)  # low = m * 2**exponent, 0.5 <= m < 1: exponent = bit length
    return idx, (53 - exponent).astype(np.uint8)


class Accumulator:
    """Adds record batches of (g, l_send, l_deliver, l_e2e, hu, has_uid, hl) into sketches."""

    def __init__(self, groups: int) -> None:
        self.out = GroupSketches(groups)
        self._lat: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.out.registers = {kind: np.zeros((groups, HLL_M), dtype=np.uint8) for kind in HLL_KINDS}

    def add(self, batch: pa.RecordBatch) -> None:
        """One record batch of rows."""
        g = batch.column("g").to_numpy(zero_copy_only=False).astype(np.int64)
        for h, hop in enumerate(HOPS):
            bins, valid = _ints(batch.column(f"l_{hop}"), np.int64)
            keys = g[valid] * 65536 + (bins[valid] + _BIN_OFFSET)
            uniq, counts = np.unique(keys, return_counts=True)
            self._lat[h] = _add_counts(self._lat.get(h), uniq, counts.astype(np.int64))
        hu, hu_ok = _ints(batch.column("hu"), np.uint64)
        hl, hl_ok = _ints(batch.column("hl"), np.uint64)
        has_uid = pc.fill_null(batch.column("has_uid"), False).to_numpy(zero_copy_only=False).astype(bool)
        for kind, hashes, take in (
            ("users", hu, hu_ok), ("u", hu, hu_ok & has_uid), ("a", hu, hu_ok & ~has_uid), ("l", hl, hl_ok),
        ):  # fmt: skip
            if take.any():
                idx, rank = ranks(hashes[take])
                np.maximum.at(self.out.registers[kind], (g[take], idx), rank)

    def add_all(self, batches: Iterable[pa.RecordBatch]) -> GroupSketches:
        """Every batch, then the result."""
        for batch in batches:
            self.add(batch)
        return self.finish()

    def finish(self) -> GroupSketches:
        """The latency sketches per (group, hop) from the counted bins."""
        parts = [(h, *self._lat[h]) for h in range(len(HOPS)) if h in self._lat and self._lat[h][0].size]
        if parts:
            gh = np.concatenate([keys // 65536 * 4 + h for h, keys, _ in parts])
            bins = np.concatenate([keys % 65536 - _BIN_OFFSET for _, keys, _ in parts])
            counts = np.concatenate([c for _, _, c in parts])
            order = np.lexsort((bins, gh))
            self.out.lat_gh, self.out.lat_bins, self.out.lat_counts = gh[order], bins[order], counts[order]
        self._lat = {}
        return self.out


def _add_counts(
    running: tuple[np.ndarray, np.ndarray] | None, keys: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with summed counts: ``running`` plus (``keys``, ``counts``). Merged after
    every record batch, so memory holds one set of distinct (group, bin) keys, not one per batch."""
    if running is None:
        return keys, counts
    all_keys = np.concatenate([running[0], keys])
    uniq, inverse = np.unique(all_keys, return_inverse=True)
    summed = np.zeros(uniq.size, dtype=np.int64)
    np.add.at(summed, inverse, np.concatenate([running[1], counts]))
    return uniq, summed
