"""Bucket metrics as records: percentiles keep the sketch's 1 % accuracy when printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitors.report import metric_records
from storage import Store
from tests.monitors.ingest.helpers import run_ingest, track, write_lines


@pytest.mark.parametrize("deliver_ms", [1.05, 2.05, 22.33, 69.92], ids=["1ms", "2ms", "22ms", "70ms"])
def test_small_latency_percentiles_stay_within_one_percent(store: Store, tmp_path: Path, deliver_ms: float) -> None:
    sent = "2026-11-02T10:00:01.000000+00:00"
    received = f"2026-11-02T10:00:01.{round(deliver_ms * 1000):06d}+00:00"
    run_ingest(store, write_lines(tmp_path / "l.jsonl", [track(sent=sent, received=received)]))
    (rec,) = metric_records(store)
    assert rec["deliver_p50_s"] == pytest.approx(deliver_ms / 1000, rel=0.01)
