"""Dashboard speed: every page, server side (the Streamlit script run through AppTest), against a
store holding 90 days × 200 events of 5-minute metrics, on SQLite and on PostgreSQL.

    .venv/bin/python bench/dashboard_speed.py [--quick] [--backend sqlite|postgresql|both] [--pg URL]

For each page: the first load (caches cleared) and a warm rerun; targets ≤ 3 s and ≤ 1 s. The
baseline, measured in the same run, is the overview's numbers computed the pre-dashboard way
(``monitors.report.metric_records``: every raw bucket row decoded in Python) and the overview
loader forced to read raw buckets (no rollups) for the 7-day and 90-day ranges.

The store is built in SQL (recursive CTE on SQLite, generate_series on PostgreSQL): series,
event metrics, latency sketches for three hops, violations, hour and day rollups, expected bands
for 14 days, findings and job runs. PostgreSQL data goes to a throw-away schema.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st
from sqlalchemy import create_engine, insert, text
from streamlit.testing.v1 import AppTest

from monitors.config import Config
from monitors.models import FindingDraft, Severity
from monitors.report import metric_records
from monitors.sketch import HLL, LatencySketch
from monitors.timeutil import from_epoch, to_epoch, utcnow
from monitors.ui.queries import overview as q_overview
from monitors.ui.window import window
from storage import Store
from storage.rollups import tables_at
from storage.tables import series

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = str(ROOT / "dashboard.py")
PAGES = ["overview", "event", "findings", "latency", "customerio", "operations", "plan"]
EXTRA = [("overview", "7d"), ("overview", "90d"), ("event", "7d"), ("event", "90d")]
WIDTH = 300
NAMES = ["Product Viewed", "Added to Cart", "Checkout Started", "Order Completed"]


def sketch_blobs() -> list[bytes]:
    """Four realistic per-bucket latency sketches (a few dozen values each)."""
    return [LatencySketch.from_values([0.2 * k + 0.05 * i for i in range(30)]).encode() for k in range(1, 5)]


def _exec(conn: Any, sql: str, **params: Any) -> None:
    conn.execute(text(sql), params)


def build(store: Store, days: int, events: int, now: int) -> dict[str, int]:
    """Fill the store; returns row counts."""
    end = now - now % 86400 + 86400
    start = end - days * 86400
    store.set_bucket_seconds(WIDTH)
    names = NAMES + [f"event_{i:03d}" for i in range(events - len(NAMES))]
    with store.engine.begin() as conn:
        conn.execute(insert(series), [{"source": "shop-backend", "environment": "production", "event": n,
                                       "msg_type": "track", "first_seen": start, "last_seen": end - WIDTH}
                                      for n in names[:events]])  # fmt: skip
    hll = HLL.from_keys([f"u{i}" for i in range(40)]).encode()
    blobs = sketch_blobs()
    pg = store.dialect == "postgresql"
    buckets = ("SELECT generate_series(CAST(:start AS bigint), CAST(:end AS bigint) - 300, 300) AS t" if pg else
               "SELECT t FROM (WITH RECURSIVE b(t) AS (SELECT :start UNION ALL SELECT t + 300 FROM b "
               "WHERE t + 300 < :end) SELECT t FROM b)")  # fmt: skip
    count = "(5 + (s.id * 7 + (b.t / 300) % 288) % 40)"
    blob = "CASE (s.id + b.t / 300) % 4 WHEN 0 THEN :l0 WHEN 1 THEN :l1 WHEN 2 THEN :l2 ELSE :l3 END"
    params = {"start": start, "end": end, "hll": hll, **{f"l{i}": b for i, b in enumerate(blobs)}}
    with store.engine.begin() as conn:
        _exec(conn, "INSERT INTO event_metrics (series_id, bucket_start, count, checked, conforming, identified, "
                    f"sample_rate, users_hll) SELECT s.id, b.t, {count}, {count}, {count} - (b.t / 300) % 2, "
                    f"{count}, 1.0, :hll FROM series s CROSS JOIN ({buckets}) b ORDER BY s.id, b.t", **params)  # fmt: skip
        for hop in ("send", "deliver", "e2e"):
            _exec(conn, f"INSERT INTO latency_sketches (series_id, bucket_start, hop, count, bins) SELECT s.id, b.t, '{hop}', 30, {blob} "
                        f"FROM series s CROSS JOIN ({buckets}) b ORDER BY s.id, b.t", **params)  # fmt: skip
        _exec(conn, "INSERT INTO violations (series_id, bucket_start, vtype, property, count) SELECT s.id, b.t, 'missing_required_property', 'cart_id', 1 "
                    f"FROM series s CROSS JOIN ({buckets}) b WHERE s.id % 10 = 0 AND (b.t / 300) % 12 = 0", **params)  # fmt: skip
        _rollups(conn, hll, blobs[1])
        band_from = end - 14 * 86400
        _exec(conn, "INSERT INTO expected_bands (series_id, metric, bucket_start, observed, expected, lower, upper, "
                    f"score, anomalous) SELECT s.id, 'count', b.t, {count}, 20.0, 5.0, 45.0, 0.5, "
                    f"{'false' if pg else '0'} FROM series s CROSS JOIN ({buckets}) b WHERE b.t >= :band_from",
              **params, band_from=band_from)  # fmt: skip
    _findings(store, names[:events], from_epoch(now))
    if pg:  # what autovacuum does shortly after a bulk load in production
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    return store.rollup_row_counts()


def _rollups(conn: Any, hll: bytes, blob: bytes) -> None:
    for name, width in (("hour", 3600), ("day", 86400)):
        metrics, latency, viols = tables_at(name)
        _exec(conn, f"INSERT INTO {metrics.name} (series_id, bucket_start, count, checked, conforming, identified, "
                    f"sample_rate, users_hll) SELECT series_id, bucket_start - bucket_start % {width}, sum(count), "
                    f"sum(checked), sum(conforming), sum(identified), 1.0, :hll FROM event_metrics "
                    f"GROUP BY series_id, bucket_start - bucket_start % {width}", hll=hll)  # fmt: skip
        _exec(conn, f"INSERT INTO {latency.name} (series_id, bucket_start, hop, count, bins) SELECT series_id, bucket_start - bucket_start % {width}, hop, "
                    f"sum(count), :blob FROM latency_sketches GROUP BY series_id, bucket_start - bucket_start % "
                    f"{width}, hop", blob=blob)  # fmt: skip
        _exec(conn, f"INSERT INTO {viols.name} (series_id, bucket_start, vtype, property, count) SELECT series_id, bucket_start - bucket_start % {width}, vtype, "
                    f"property, sum(count) FROM violations GROUP BY series_id, bucket_start - bucket_start % "
                    f"{width}, vtype, property")  # fmt: skip


def _findings(store: Store, names: list[str], now: Any) -> None:
    drafts = [FindingDraft("volume_drop", "shop-backend", "production", name, now - timedelta(hours=1 + i % 48),
                           [Severity.INFO, Severity.WARNING, Severity.CRITICAL][i % 3], 5.0, f"{name} dropped",
                           evidence={"window": "1h"}) for i, name in enumerate(names)]  # fmt: skip
    store.upsert_findings(drafts, now=now)
    for i in range(300):
        run = store.start_job_run(f"job_{i % 7}", worker="bench", started_at=now - timedelta(minutes=i))
        store.finish_job_run(run, finished_at=now - timedelta(minutes=i), status="ok", rows=i)


# -- measuring --------------------------------------------------------------------------------


def _page_hash(at: AppTest, url_path: str) -> str:
    for key, info in at._registered_pages.items():
        if info.get("url_pathname") == ("" if url_path == "overview" else url_path):
            return str(key)
    raise KeyError(url_path)


def page_times(url_path: str, range_key: str, event: str) -> tuple[float, float, int]:
    """(first load s, warm rerun s, exceptions) of one page; caches cleared first."""
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.query_params["range"] = range_key
    if url_path == "event":
        at.query_params.update({"event": event, "source": "shop-backend", "env": "production"})
    if url_path != "overview":
        at.run()  # registers the pages
        at._page_hash = _page_hash(at, url_path)
    st.cache_data.clear()
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    started = time.perf_counter()
    at.run()
    warm = time.perf_counter() - started
    return first, warm, len(at.exception) + len(at.error)


def baselines(store: Store, now: Any) -> dict[str, float]:
    """The pre-dashboard way and the raw-only overview, seconds."""
    out = {}
    win = window("24h", now)
    started = time.perf_counter()
    metric_records(store, since=win.since, until=win.until, width=86400)
    out["overview 24h numbers via metric_records (raw, per-row Python)"] = time.perf_counter() - started
    config, findings = Config(), store.list_findings()
    original = type(store)._tables
    type(store)._tables = lambda self, width, since, until: tables_at("raw")  # type: ignore[method-assign]
    try:
        for key in ("7d", "90d"):
            started = time.perf_counter()
            q_overview.overview(store, config, window(key, now), findings)
            out[f"overview {key} loader on raw buckets (no rollups)"] = time.perf_counter() - started
    finally:
        type(store)._tables = original  # type: ignore[method-assign]
    for key in ("7d", "90d"):
        started = time.perf_counter()
        q_overview.overview(store, config, window(key, now), findings)
        out[f"overview {key} loader with rollups"] = time.perf_counter() - started
    return out


@contextmanager
def backend_url(name: str, pg: str | None, folder: Path) -> Iterator[str | None]:
    """A fresh database URL (a throw-away schema on PostgreSQL)."""
    if name == "sqlite":
        yield f"sqlite:///{folder / 'dash.sqlite'}"
        return
    if not pg:
        yield None
        return
    schema = f"bench_dash_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg}{'&' if '?' in pg else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_backend(name: str, url: str, days: int, events: int, report: Callable[[str], None]) -> None:
    """Build, then time every page."""
    store = Store.from_url(url)
    store.migrate()
    now = utcnow()
    started = time.perf_counter()
    rows = build(store, days, events, to_epoch(now))
    report(f"\n## {name}: {days} days x {events} events — built in {time.perf_counter() - started:.0f} s; "
           f"{rows['event_metrics']:,} metric rows, {rows['latency_sketches']:,} sketch rows, "
           f"{rows['event_metrics_hour']:,} hour rows, {rows['event_metrics_day']:,} day rows")  # fmt: skip
    os.environ["EHM_DATABASE_URL"] = url
    os.environ.pop("EHM_CONFIG", None)
    st.cache_resource.clear()
    report(f"\n{'page':<24} {'range':>5} {'first load s':>13} {'warm s':>8} {'target':>16} {'ok':>4}")
    for page, key in [*((p, "24h") for p in PAGES), *EXTRA]:
        first, warm, errors = page_times(page, key, "Order Completed")
        ok = first <= 3.0 and warm <= 1.0 and not errors
        report(f"{page:<24} {key:>5} {first:>13.2f} {warm:>8.2f} {'<= 3 s / <= 1 s':>16} {'yes' if ok else 'NO':>4}"
               + (f"  ({errors} errors)" if errors else ""))  # fmt: skip
    report(f"\n{'baseline (same store)':<66} {'seconds':>8}")
    for label, seconds in baselines(store, now).items():
        report(f"{label:<66} {seconds:>8.2f}")
    st.cache_resource.clear()
    store.dispose()


def main() -> int:
    """Parse arguments, run the chosen backends, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="7 days x 20 events")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg", default=os.environ.get("EHM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    days, events = (7, 20) if args.quick else (90, 200)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(f"dashboard speed: {days} days x {events} events of 5-minute metrics", flush=True)
    with tempfile.TemporaryDirectory(prefix="ehm-dash-bench-") as tmp:
        for name in backends:
            with backend_url(name, args.pg, Path(tmp)) as url:
                if url is None:
                    print(f"\n## {name}: skipped (no --pg URL)")
                    continue
                run_backend(name, url, days, events, lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
