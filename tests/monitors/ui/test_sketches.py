"""Vectorised sketch merging gives exactly what LatencySketch gives."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from monitors.sketch import LatencySketch
from monitors.ui.sketches import quantile_table


def test_quantile_table_equals_merging_sketches_one_by_one() -> None:
    rnd = random.Random(5)
    rows, merged = [], {}
    for g in range(30):
        for b in range(12):
            values = [rnd.expovariate(1 / (0.2 + g)) for _ in range(rnd.randint(0, 25))] + ([0.0] if b % 5 == 0 else [])
            sketch = LatencySketch.from_values(values)
            rows.append({"event": f"e{g}", "bucket_start": b, "bins": sketch.encode()})
            merged.setdefault(f"e{g}", LatencySketch.empty()).merge(sketch)
    table = quantile_table(pd.DataFrame(rows), ["event"], above={f"e{g}": 1.5 for g in range(30)})
    assert len(table) == 30
    for row in table.itertuples(index=False):
        ref = merged[row.event]
        assert [row.p50, row.p95, row.p99] == pytest.approx(ref.quantiles([0.5, 0.95, 0.99]), rel=1e-12)
        assert row.n == ref.count and row.share_above == pytest.approx(ref.share_above(1.5), abs=1e-12)


def test_groups_without_values_are_left_out_and_empty_input_keeps_columns() -> None:
    rows = pd.DataFrame({"event": ["a", "b"], "bins": [LatencySketch.from_values([2.0]).encode(), b""]})
    table = quantile_table(rows, ["event"], (0.95,), above=1.0)
    assert table.values.tolist() == [["a", 1, pytest.approx(2.0, rel=0.01), 1.0]]
    empty = quantile_table(rows.iloc[:0], ["event"], above=1.0)
    assert list(empty.columns) == ["event", "n", "p50", "p95", "p99", "share_above"]
