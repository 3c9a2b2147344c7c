"""The numpy sketch accumulator: exact HyperLogLog ranks and latency counts, whatever the batching."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from monitors.ingest.sketches import Accumulator, ranks
from monitors.sketch import HLL_P


def test_ranks_are_exact_at_the_edges_of_every_bit_length() -> None:
    low = [0, 1, 2, 3, (1 << 51) - 1, 1 << 51, (1 << 52) - 1] + [(1 << k) - 1 for k in range(2, 53)] + [1 << k for k in range(52)]
    tops = [0, 1, (1 << HLL_P) - 1]
    hashes = np.array([(t << 52) | w for t in tops for w in low], dtype=np.uint64)
    idx, rank = ranks(hashes)
    assert idx.tolist() == [t for t in tops for _ in low]
    # SQL engines compute 52 - floor(log2(greatest(1, low))): the same as 53 - bit_length(max(1, low)).
    assert rank.tolist() == [53 - max(1, w).bit_length() for _ in tops for w in low]


def _batch(g: list[int], send: list[int | None], hu: list[int | None], has_uid: list[bool],
           hl: list[int | None]) -> pa.RecordBatch:  # fmt: skip
    n = len(g)
    return pa.record_batch({
        "g": pa.array(g, pa.int32()), "l_send": pa.array(send, pa.int16()), "l_deliver": pa.array([None] * n, pa.int16()),
        "l_e2e": pa.array([5] * n, pa.int16()), "hu": pa.array(hu, pa.uint64()),
        "has_uid": pa.array(has_uid, pa.bool_()), "hl": pa.array(hl, pa.uint64()),
    })  # fmt: skip


def test_accumulator_counts_bins_and_registers_across_batches() -> None:
    h1, h2 = (7 << 52) | 1, (9 << 52) | (1 << 40)
    rows = dict(g=[0, 0, 1, 1], send=[3, 3, None, -32768], hu=[h1, h2, h1, None],
                has_uid=[True, False, False, True], hl=[h1, None, None, None])  # fmt: skip
    one = Accumulator(2).add_all([_batch(**rows)])
    halves = [_batch(**{k: v[:2] for k, v in rows.items()}), _batch(**{k: v[2:] for k, v in rows.items()})]  # type: ignore[arg-type]
    two = Accumulator(2).add_all(halves)
    for got in (one, two):
        assert {k: (b.tolist(), c.tolist()) for k, (b, c) in got.latency.items()} == {
            (0, "send"): ([3], [2]), (1, "send"): ([-32768], [1]), (0, "e2e"): ([5], [2]), (1, "e2e"): ([5], [2]),
        }  # fmt: skip
        regs = got.registers
        assert (regs["users"][0, 7], regs["users"][0, 9], regs["users"][1, 7]) == (52, 12, 52)
        assert np.count_nonzero(regs["users"]) == 3
        assert (regs["u"][0, 7], regs["a"][0, 9], regs["a"][1, 7]) == (52, 12, 52)
        assert np.count_nonzero(regs["u"]) == 1 and np.count_nonzero(regs["a"]) == 2
        assert regs["l"][0, 7] == 52 and np.count_nonzero(regs["l"]) == 1
