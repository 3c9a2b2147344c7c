"""Bucket metrics as records: percentiles keep the sketch's 1 % accuracy when printed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitors.report import metric_records
from storage import Store
from tests.monitors.ingest.helpers import T0, run_ingest, track, write_lines


# 12,092.128 s falls near the edge of its bin, where the bin's value is 0.99967 % off: 6 significant
# digits (11,971.2) took it past 1 %
@pytest.mark.parametrize("latency_s", [0.00105, 0.00205, 0.02233, 0.06992, 12092.128], ids=["1ms", "2ms", "22ms", "70ms", "3h"])
def test_printed_percentiles_stay_within_one_percent(store: Store, tmp_path: Path, latency_s: float) -> None:
    sent = datetime.fromisoformat(T0) + timedelta(seconds=latency_s)
    run_ingest(store, write_lines(tmp_path / "l.jsonl", [track(sent=sent.isoformat())]))
    (rec,) = metric_records(store)
    assert rec["send_p50_s"] == pytest.approx(latency_s, rel=0.01)
