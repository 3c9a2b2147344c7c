"""Vectorised sketch decoding equals the one-at-a-time decoders of ``monitors.sketch``."""

from __future__ import annotations

import random

import numpy as np
import pytest

from monitors.detectors._semantic_sketch import estimate, hll_entries, latency_entries, registers
from monitors.sketch import HLL, LatencySketch


def test_latency_entries_decode_every_bin_of_every_sketch() -> None:
    rnd = random.Random(1)
    sketches = [LatencySketch.from_values(rnd.expovariate(1 / 30) for _ in range(rnd.randint(0, 60))) for _ in range(50)]
    sketches += [LatencySketch({7: 2**33, -40: 3}), LatencySketch.empty()]  # wide counts, empty
    rows, bins, counts = latency_entries([s.encode() for s in sketches] + [b""])
    for i, sk in enumerate(sketches):
        mine = rows == i
        assert dict(zip(bins[mine].tolist(), counts[mine].tolist(), strict=True)) == sk.bins


@pytest.mark.parametrize("size", [0, 7, 300, 6000], ids=["empty", "tiny", "sparse", "dense"])
def test_hll_entries_and_estimates_match_the_decoder(size: int) -> None:
    hlls = [HLL.from_keys(f"k{size}-{j}-{i}" for i in range(size)) for j in range(3)]
    blobs = [h.encode() for h in hlls] + [None]
    rows, reg, rank = hll_entries(blobs)
    dense = registers(np.arange(len(blobs)), len(blobs), rows, reg, rank)
    for i, h in enumerate(hlls):
        assert {int(r): int(dense[i, r]) for r in np.flatnonzero(dense[i])} == h.registers
        assert estimate(dense[i]) == pytest.approx(h.estimate())
    assert estimate(dense[-1]) == 0.0
