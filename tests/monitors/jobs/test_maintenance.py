"""Rollups and retention jobs, and dashboard reads answered from the rollups."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitors.config import parse_config
from monitors.jobs import maintenance
from monitors.timeutil import to_epoch, utcnow
from storage import Store
from tests.monitors.ui.seed import HOSTILE, seed


@pytest.fixture
def now() -> datetime:
    return utcnow()


def test_roll_up_makes_hourly_reads_equal_raw_ones(store: Store, now: datetime) -> None:
    seeded = seed(store, now)
    config = parse_config({})
    end = to_epoch(now) - to_epoch(now) % 3600 + 3600
    hours = len({(seeded.first + 300 * i) // 3600 for i in range(seeded.buckets)})
    current = store.ui_latency_rows(end - 86400, end, width=3600, hop="e2e")
    assert len(current) == 3 * hours  # ingest refreshes the rollups in its transaction: hour rows already
    maintenance.roll_up(store, config, now)
    raw = store.ui_series_totals(end - 86400, end)
    hourly = store.ui_series_totals(end - 86400, end, width=3600)
    assert hourly[["event", "count", "checked", "conforming"]].values.tolist() == \
        raw[["event", "count", "checked", "conforming"]].values.tolist()
    assert hourly["first_bucket"].iloc[0] == seeded.first - seeded.first % 3600  # the hour table
    rows, message = maintenance.roll_up(store, config, now)
    assert rows == 3 * hours and message.startswith(f"{rows} hour rows rebuilt")
    lat_raw = store.ui_latency_rows(end - 86400, end, width=3600, hop="e2e")
    assert len(lat_raw) == 3 * hours  # one row per series and hour instead of twelve


def test_the_next_roll_up_starts_an_hour_before_the_last_successful_one(store: Store, now: datetime) -> None:
    seed(store, now)
    config = parse_config({})
    run = store.start_job_run("rollups", worker="w", started_at=now - timedelta(minutes=5))
    store.finish_job_run(run, finished_at=now, status="ok")
    rows, message = maintenance.roll_up(store, config, now)
    since = to_epoch(now - timedelta(minutes=5)) - 3600
    assert message.endswith(f"since {since - since % 3600}")
    assert rows == 3 * 1  # only the hour of traffic in that range (traffic ended an hour ago)


def test_expire_applies_retention_and_drops_old_job_runs(store: Store, now: datetime) -> None:
    seeded = seed(store, now)
    old = store.start_job_run("detect", worker="w", started_at=now - timedelta(days=60))
    store.finish_job_run(old, finished_at=now - timedelta(days=60), status="ok")
    config = parse_config({"rollups": {"retention": {"raw": "10h"}}, "worker": {"keep_job_runs": "30d"}})
    total, message = maintenance.expire(store, config, now)
    cutoff = to_epoch(now) - 36000
    kept = sum(1 for i in range(seeded.buckets) if seeded.first + 300 * i >= cutoff)
    totals = store.ui_series_totals(None, None)
    assert dict(zip(totals["event"], totals["count"], strict=True)) == {
        "Added to Cart": kept * 10, "Order Completed": kept * 4, HOSTILE: kept}
    assert "1 old job runs" in message and total >= 3 * (seeded.buckets - kept) + 1
