"""The streaming sample keeper: the final top 3 per violating combination is always kept, in any
chunk order, while only a few rows per combination are kept at all."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from monitors.ingest.conformance import Evaluator
from monitors.ingest.samples import SampleKeeper
from monitors.ingest.sqlgen import F_CHECKED
from monitors.plan import load_plan

CHECKED = 1 << F_CHECKED


def _chunk(keeper: SampleKeeper, event: str, msg_type: str, hashes: np.ndarray, nkeys: int) -> np.ndarray:
    n = len(hashes)
    cols = [pa.array([event] * n), pa.array([msg_type] * n), pa.array(np.full(n, hash((event, msg_type, nkeys)) % 2**64, np.uint64)),
            pa.array(np.full(n, CHECKED, np.int64)), *[pa.array(np.zeros(n, np.int64))] * keeper.n_codes,
            pa.array(np.full(n, nkeys, np.int32)), pa.array(hashes)]  # fmt: skip
    out = keeper.function()(*cols)
    return np.asarray(out.to_pylist(), dtype=object)


def test_the_largest_three_hashes_are_kept_in_any_order_and_few_others() -> None:
    hashes = np.random.default_rng(1).integers(0, 2**63, 20_000, dtype=np.uint64)
    top3 = set(np.sort(hashes)[-3:].tolist())
    for seed in (1, 2, 3):
        keeper = SampleKeeper(Evaluator(load_plan()))
        order = np.random.default_rng(seed).permutation(len(hashes))
        kept: list[int] = []
        for part in np.array_split(hashes[order], 10):
            got = _chunk(keeper, "Coupon Applied", "track", part, 1)  # an unplanned event: violates
            kept += [int(h) for h in got if h is not None]
        assert top3 <= set(kept)
        assert len(kept) < 60  # about 3 · ln(20000 / 3) ≈ 26 expected


def test_rows_of_conforming_combinations_are_never_kept() -> None:
    keeper = SampleKeeper(Evaluator(load_plan()))
    hashes = np.arange(1, 101, dtype=np.uint64)
    assert all(h is None for h in _chunk(keeper, "$identify", "identify", hashes, 0))  # no traits: conforms
    assert sum(h is not None for h in _chunk(keeper, "$identify", "identify", hashes, 1)) == 3  # one unplanned trait


def test_a_rare_violation_keeps_all_of_its_first_three_rows_in_any_order() -> None:
    """Until a combination has more than three rows, every row is kept (a bug compared new rows
    with the first hash kept instead of the smallest, and kept one of [9, 5, 1])."""
    keeper = SampleKeeper(Evaluator(load_plan()))
    got = _chunk(keeper, "Coupon Applied", "track", np.array([9, 5, 1], dtype=np.uint64), 1)
    assert [int(h) for h in got] == [9, 5, 1]
    got = _chunk(keeper, "Coupon Applied", "track", np.array([3, 0, 7], dtype=np.uint64), 1)
    assert [None if h is None else int(h) for h in got] == [None, None, 7]  # the top three are now 9, 7, 5
