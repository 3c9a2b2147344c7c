"""The metric store at production volume on PostgreSQL: writes, incremental rollups, dashboard reads.

Fills a scratch database with 90 days × 1,000 events × 5-minute buckets (25.9 M ``event_metrics``
rows) using ``generate_series`` — the history's hour/day rollups are built in SQL too (counts
summed; every bucket carries the same small user sketch, so the merged sketch is that sketch) —
then measures, in the same run:

* writes: one 5-minute batch for all 1,000 events through ``apply_ingest``; the incremental
  rollup refresh of those keys; a warehouse run (1,000 events × 1 hour) with its rollups;
* the dashboard's typical reads, each from the raw table and from the coarsest rollup that
  answers it (``read_counts(step=…)`` / ``read_metric_rows(step=…)``) — the baseline is the raw read.

    .venv/bin/python bench/store_volume.py            # 90 days × 1,000 events (several minutes, ~6 GB disk)
    .venv/bin/python bench/store_volume.py --quick    # 7 days × 100 events
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.sketch import HLL, LatencySketch
from storage import Store
from storage.batch import IngestBatch, MetricDelta
from storage.warehouse_store import Partial, WarehouseBatch

ADMIN = os.environ.get("EHM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "ehm_bench_store"
END = 1_793_577_600  # 2026-11-02T00:00Z: the history ends here
W = 300

FILL = """
INSERT INTO series (source, environment, event, msg_type, first_seen, last_seen)
SELECT 'shop', 'production', 'event_' || lpad(e::text, 4, '0'), 'track', {start}, {end}
FROM generate_series(0, {events} - 1) AS e;
INSERT INTO event_metrics (series_id, bucket_start, count, checked, conforming, identified, sample_rate, users_hll)
SELECT s.id, b, c, c, c - c / 50, c - c / 4, 1.0, {hll}
FROM series s
CROSS JOIN generate_series({start}::bigint, {end}::bigint - {w}, {w}) AS b
CROSS JOIN LATERAL (SELECT (10 + (s.id * 7919 + b / {w}) % 90)::bigint AS c) AS k;
INSERT INTO event_metrics_hour (series_id, bucket_start, count, checked, conforming, identified, sample_rate, users_hll)
SELECT series_id, bucket_start - bucket_start % 3600, sum(count), sum(checked), sum(conforming), sum(identified), 1.0, {hll}
FROM event_metrics GROUP BY 1, 2;
INSERT INTO event_metrics_day (series_id, bucket_start, count, checked, conforming, identified, sample_rate, users_hll)
SELECT series_id, bucket_start - bucket_start % 86400, sum(count), sum(checked), sum(conforming), sum(identified), 1.0, {hll}
FROM event_metrics_hour GROUP BY 1, 2;
"""


def _url(db: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + db


def build(days: int, events: int) -> tuple[Store, float]:
    """Create and fill the scratch store; returns it and the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    store = Store.from_url(_url(DB))
    store.migrate()
    store.set_bucket_seconds(W)
    hll = "'\\x" + HLL.from_keys(["u1", "u2", "u3"]).encode().hex() + "'::bytea"
    with psycopg.connect(_url(DB), autocommit=True) as conn:
        conn.execute(FILL.format(start=END - days * 86400, end=END, events=events, w=W, hll=hll))
        conn.execute("VACUUM ANALYZE")
    return store, time.monotonic() - started


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def writes(store: Store, events: int) -> list[tuple[str, float, str]]:
    """The write paths at this volume."""
    now = datetime.fromtimestamp(END + 3600, UTC)
    batch = IngestBatch(source="shop", environment="production", sample_rate=1.0, file="bench")
    for e in range(events):
        batch.metrics[(f"event_{e:04d}", "track", END)] = MetricDelta(count=40, checked=40, conforming=39, identified=30,
                                                                      users=HLL.from_keys([f"u{e}", "x"]))  # fmt: skip
        batch.latency[(f"event_{e:04d}", "track", END, "e2e")] = LatencySketch.from_values([0.2, 0.5, 1.1])
    started = time.perf_counter()
    store.apply_ingest(batch, now)
    ingest_s = time.perf_counter() - started
    ids = store.series_ids_for([("shop", "production", f"event_{e:04d}") for e in range(events)])
    keys = {(sid, END) for sid in ids.values()}
    started = time.perf_counter()
    with store.engine.begin() as conn:
        hours = store.refresh_rollups(conn, keys)
    rollup_s = time.perf_counter() - started
    wh = WarehouseBatch("warehouse", "production", END, now, next_live_from=END)
    for e in range(events):
        for b in range(END, END + 3600, W):
            wh.partials[(f"event_{e:04d}", "track", END, b)] = Partial(count=25, checked=25, conforming=25, identified=20,
                                                                      users=HLL.from_keys([f"w{e}", f"v{b}"]))  # fmt: skip
    started = time.perf_counter()
    keys_written = store.apply_warehouse(wh, now)
    warehouse_s = time.perf_counter() - started
    return [
        (f"apply_ingest: one 5-min bucket × {events:,} events", ingest_s, f"{events:,} buckets"),
        ("refresh_rollups of those keys (hour + day)", rollup_s, f"{hours:,} hour rows"),
        (f"apply_warehouse: {events:,} events × 1 h, with rollups", warehouse_s, f"{keys_written:,} buckets"),
    ]


def reads(store: Store, days: int) -> list[tuple[str, float, int, float, int]]:
    """Dashboard reads: (what, raw s, raw rows, rollup s, rollup rows)."""
    day = 86400
    one = "event_0007"
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("overview: every event, last 24 h, 5-min", {"since": END - day}, W),
        ("event detail: 1 event, 7 days, hourly", {"since": END - 7 * day, "event": one}, 3600),
        (f"trend: 1 event, {days} days, daily", {"since": END - days * day, "event": one}, day),
        ("heatmap: every event, 30 days, daily", {"since": END - 30 * day}, day),
        ("week: every event, 7 days, hourly", {"since": END - 7 * day}, 3600),
    ]
    out = []
    for what, kw, step in cases:
        raw_s, raw = timed(lambda kw=kw: store.read_counts(until=END, **kw))
        roll_s, roll = timed(lambda kw=kw, step=step: store.read_counts(until=END, step=step, **kw))
        out.append((what, raw_s, len(raw), roll_s, len(roll)))
    raw_s, raw = timed(lambda: store.read_metric_rows(END - 7 * day, END, event=one))
    roll_s, roll = timed(lambda: store.read_metric_rows(END - 7 * day, END, event=one, step=3600))
    out.append(("metric rows + sketches: 1 event, 7 days, hourly", raw_s, len(raw[0]), roll_s, len(roll[0])))
    return out


def drop() -> None:
    """Drop the scratch database."""
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def main() -> int:
    """Build, measure, print the tables, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 days × 100 events")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    days, events = (7, 100) if args.quick else (90, 1000)
    store = None
    try:
        print(f"building: {days} days × {events:,} events × 5-min buckets …", flush=True)
        store, built = build(days, events)
        counts = store.rollup_row_counts()
        print(
            f"built in {built:.0f}s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v), flush=True
        )
        w = writes(store, events)
        r = reads(store, days)
    finally:
        if store is not None:
            store.dispose()
        if not args.keep:
            drop()
    print(f"\n| write at {days} d × {events:,} events (PostgreSQL 15, 2 cores) | time | rows |")
    print("|---|---:|---:|")
    for what, seconds, rows in w:
        print(f"| {what} | {seconds * 1000:,.0f} ms | {rows} |")
    print("\n| dashboard read (median of 3) | raw table | rows | coarsest rollup | rows | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, raw_s, raw_n, roll_s, roll_n in r:
        print(
            f"| {what} | {raw_s * 1000:,.0f} ms | {raw_n:,} | {roll_s * 1000:,.0f} ms | {roll_n:,} | {raw_s / roll_s:.1f}× |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
