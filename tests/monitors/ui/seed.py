"""A small, exactly known store for the dashboard tests, written through the Store's own write
paths (``apply_ingest``, ``write_bands``, ``upsert_findings``, job runs, Customer.io metrics).

Traffic lives in the 20 hours before ``now - 1h`` (whole buckets), so a window that shifts by a
bucket while a test runs still holds all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from monitors.customerio.models import CollectionResult, MetricRow, RunStats
from monitors.models import FindingDraft, Severity
from monitors.sketch import HLL, LatencySketch
from monitors.timeutil import floor_epoch, from_epoch, to_epoch
from storage import Store
from storage.batch import IngestBatch, MetricDelta

WIDTH = 300
SOURCE, ENV = "shop-backend", "production"
HOSTILE = "<img src=x onerror=alert(1)> [click](javascript:alert(2)) **bold**"
"""An event name built to inject HTML or Markdown if the dashboard ever rendered it as such."""


@dataclass(frozen=True)
class Seeded:
    """What was written, for exact assertions."""

    now: datetime
    first: int
    last: int
    buckets: int
    counts: dict[str, int]
    fingerprints: dict[str, str]


def _batch(first: int, buckets: int) -> tuple[IngestBatch, dict[str, int]]:
    batch = IngestBatch(source=SOURCE, environment=ENV, sample_rate=1.0, file="seed.jsonl")
    totals = {"Order Completed": 0, "Added to Cart": 0, HOSTILE: 0}
    for i in range(buckets):
        b = first + i * WIDTH
        for event, n, slow in (("Order Completed", 4, 2.0), ("Added to Cart", 10, 1.0), (HOSTILE, 1, 1.0)):
            checked = n
            conforming = n - (1 if event == "Added to Cart" and i % 2 == 0 else 0)
            batch.metrics[(event, "track", b)] = MetricDelta(n, checked, conforming, n, HLL.from_keys([f"u{i}"]))
            late = slow * (600 if event == "Order Completed" and i >= buckets - 24 else 1)  # last 2 h: 20 min late
            for hop, factor in (("send", 0.5), ("deliver", 0.1), ("e2e", 1.0)):
                batch.latency[(event, "track", b, hop)] = LatencySketch.from_values([late * factor] * n)
            totals[event] += n
        if i % 2 == 0:
            batch.violations[("Added to Cart", "track", b, "missing_required_property", "cart_id")] = 1
        batch.props[("Added to Cart", "track", b, "cart_id", "VARCHAR")] = 10
        batch.props[("Added to Cart", "track", b, "items", "ARRAY")] = 10
        batch.props[("Order Completed", "track", b, "order_id", "VARCHAR")] = 4
        batch.props[("Order Completed", "track", b, "revenue", "VARCHAR")] = 4
    batch.vsamples[("Added to Cart", "track", "missing_required_property", "cart_id")] = (
        first, ['{"event":"Added to Cart","userId":"ann@example.com","properties":{}}'])
    return batch, totals


def _bands(first: int, buckets: int) -> pd.DataFrame:
    rows = []
    for i in range(buckets):
        observed = 4.0
        rows.append({"source": SOURCE, "environment": ENV, "event": "Order Completed", "bucket_start": first + i * WIDTH,
                     "observed": observed, "expected": 5.0, "lower": 2.0, "upper": 8.0, "score": 0.1,
                     "anomalous": i == buckets - 1})  # fmt: skip
    return pd.DataFrame(rows)


def _findings(store: Store, now: datetime) -> dict[str, str]:
    start = now - timedelta(hours=3)
    drafts = {
        "drop": FindingDraft("volume_drop", SOURCE, ENV, "Order Completed", start, Severity.CRITICAL, 7.5,
                             "Order Completed dropped 80% below expected", observed=1, expected=5,
                             evidence={"window": "1h", "sample": "from ann@example.com"}),
        "rename": FindingDraft("event_rename", SOURCE, ENV, "Added to Cart", start - timedelta(hours=1),
                               Severity.WARNING, 5.0, "Added to Cart renamed to added_to_cart",
                               evidence={"from": "Added to Cart", "to": "added_to_cart"}),
        "leak": FindingDraft("staging_leak", SOURCE, ENV, HOSTILE, start, Severity.INFO, 2.0,
                             f"Test users in production on {HOSTILE}", evidence={"hosts": ["staging.example.com"]}),
    }  # fmt: skip
    store.upsert_findings(list(drafts.values()), now=now)
    return {k: d.fingerprint for k, d in drafts.items()}


def _customerio(store: Store, first: int) -> None:
    rows = [MetricRow("event", "Order Completed", first, 3), MetricRow("failed_event", "Order Completed", first, 1),
            MetricRow("attribute_flapping", "plan", first, 2), MetricRow("sent_email", "", first, 5),
            MetricRow("bounced_email", "", first, 2), MetricRow("delivered_push", "", first, 4)]  # fmt: skip
    run = RunStats(started_at=from_epoch(first), finished_at=from_epoch(first + 1), pages=1, activities=17)
    store.commit_customerio_run(CollectionResult("shop-prod", rows, [], {}, run), from_epoch(first + 1))
    delivery = pd.DataFrame([{"workspace": "shop-prod", "event": "Order Completed", "bucket_start": first, "sent": 4,
                              "received": 3, "failed": 1, "estimated": False, "latency_n": 3, "latency_sum": 6.0,
                              "latency_max": 3.0}])  # fmt: skip
    store.write_delivery_metrics(delivery, from_epoch(first + 1))


def _jobs(store: Store, now: datetime) -> None:
    ok = store.start_job_run("ingest:shop-backend", worker="worker:test:1", token=3, started_at=now - timedelta(minutes=2))
    store.finish_job_run(ok, finished_at=now - timedelta(minutes=2) + timedelta(seconds=4), status="ok", rows=42,
                         message="1 of 1 files had new data")  # fmt: skip
    bad = store.start_job_run("detect", worker="worker:test:1", token=3, started_at=now - timedelta(minutes=1))
    store.finish_job_run(bad, finished_at=now - timedelta(seconds=50), status="error", error="DatabaseError: boom")


def seed(store: Store, now: datetime, *, hours: int = 20) -> Seeded:
    """Write the data set; traffic in ``[now - 1h - hours, now - 1h)``."""
    end = floor_epoch(to_epoch(now), WIDTH) - 3600
    buckets = hours * 3600 // WIDTH
    first = end - buckets * WIDTH
    store.set_bucket_seconds(WIDTH)
    batch, totals = _batch(first, buckets)
    store.apply_ingest(batch, now)
    store.write_bands(_bands(first, buckets))
    fingerprints = _findings(store, now)
    _customerio(store, first)
    _jobs(store, now)
    return Seeded(now, first, end - WIDTH, buckets, totals, fingerprints)
