"""Push-down collection vs fetching the rows into the monitor, on a Segment-style ``tracks`` table.

Builds a ``tracks`` table of N rows (default 10 million, 7 days, 60 event names, 200k users) in a
scratch PostgreSQL database with ``generate_series`` (no row-by-row Python), then, in the same run:

* **push-down**: ``WarehouseCollector`` — the warehouse computes counts, latency sketch bins, HLL
  registers and flags; only aggregates travel;
* **fetch rows**: ``COPY (SELECT <messages as JSON>) TO STDOUT`` into a local JSON-lines file, then the
  monitor's own file ingest (DuckDB) aggregates it — the same metrics, computed by the monitor.

Prints time and bytes moved for both (bytes: the text the server sends), and checks that both give
the same counts. The scratch database is dropped at the end.

    .venv/bin/python bench/warehouse_pushdown.py            # 10M rows (several minutes, ~3 GB disk)
    .venv/bin/python bench/warehouse_pushdown.py --quick    # 500k rows
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.ingest.pipeline import IngestOptions, ingest
from monitors.plan import load_plan
from monitors.timeutil import to_epoch
from monitors.warehouse import aggregate, sqlbuild
from monitors.warehouse.collector import WarehouseCollector, plan_window, reflect, warehouse_engine
from monitors.warehouse.config import WarehouseSourceConfig
from monitors.warehouse.dialects import SESSION_DEFAULTS
from storage import Store

ADMIN = os.environ.get("EHM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB = "ehm_bench_warehouse"
NOW = datetime(2026, 11, 2, tzinfo=UTC)
DAYS = 7

BUILD = """
CREATE TABLE tracks (
  id text NOT NULL, anonymous_id text, user_id text, event text, event_text text,
  "timestamp" timestamptz, original_timestamp timestamptz, sent_at timestamptz, received_at timestamptz,
  uuid_ts timestamptz, context_library_name text, context_library_version text, context_ip text,
  context_user_agent text, context_page_url text
);
INSERT INTO tracks
SELECT 'm' || g,
       CASE WHEN sess % 10 < 3 THEN 'anon-' || (sess * 7919 % 600000) END,
       CASE WHEN sess % 10 >= 3 THEN 'user-' || (sess * 104729 % 200000) END,
       'event_' || ev, 'Event ' || ev,
       r - make_interval(secs => lat),
       NULL,
       r - make_interval(secs => lat / 20.0),
       r, r + interval '20 minutes',
       'analytics.js', '4.1.0', '203.0.113.' || (g % 250), 'Mozilla/5.0 (bench)', 'https://shop.example/p/' || (g % 500)
FROM (SELECT g, TIMESTAMPTZ '{start}' + make_interval(secs => (g::float8 / {rows}) * {span}) AS r,
             -- 400 interleaved sessions of 25 events per 10 000 rows; a skewed mix of 60 event names;
             -- latencies mostly 50 ms – 2 s with a long tail
             (g % 400) + 400 * (g / 10000) AS sess,
             floor(60 * power(((g * 2654435761) % 1000) / 1000.0, 2))::int AS ev,
             0.05 + power(((g * 40503) % 1000) / 1000.0, 3) * 8 AS lat
      FROM generate_series(1::bigint, {rows}::bigint) AS g) s;
CREATE INDEX ix_tracks_received_at ON tracks (received_at);
"""
# A warehouse table is read long after it was loaded: set the hint bits and the visibility map now,
# or the first side measured pays for writing them back (VACUUM cannot run inside the script above).
SETTLE = "VACUUM (FREEZE, ANALYZE) tracks"

AS_JSON = """SELECT json_build_object('type', 'track', 'event', event_text, 'messageId', id, 'userId', user_id,
  'anonymousId', anonymous_id, 'timestamp', "timestamp", 'sentAt', sent_at, 'receivedAt', received_at)
FROM tracks WHERE received_at >= '{lo}'::timestamptz AND received_at < '{hi}'::timestamptz"""


@dataclass(frozen=True)
class Pushed:
    """One push-down collection: seconds in all, bytes and rows moved, events, and where the time went
    (queries: first sent to last result folded in; parse: folding results in, mostly while later
    queries still run; commit: the metric store's transaction)."""

    seconds: float
    nbytes: int
    rows: int
    events: int
    query_s: float
    parse_s: float
    commit_s: float


def _conninfo(db: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + db


def existing_rows() -> int | None:
    """Rows of ``tracks`` in the scratch database, or None when it does not exist."""
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone() is None:
            return None
    with psycopg.connect(_conninfo(DB), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('tracks')").fetchone() == (None,):
            return None
        row = conn.execute("SELECT count(*) FROM tracks").fetchone()
        return None if row is None else int(row[0])


def build(rows: int) -> float:
    """Create the scratch database and fill ``tracks``; returns seconds."""
    started = time.monotonic()
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    start = NOW.timestamp() - DAYS * 86400
    with psycopg.connect(_conninfo(DB), autocommit=True) as conn:
        conn.execute(
            BUILD.format(start=datetime.fromtimestamp(start, UTC).isoformat(), rows=rows, span=DAYS * 86400)
        )
        conn.execute(SETTLE)
    return time.monotonic() - started


def source_config(concurrency: int) -> WarehouseSourceConfig:
    """The benchmark's warehouse source (the whole table in one run)."""
    os.environ["EHM_BENCH_DWH"] = _conninfo(DB)
    return WarehouseSourceConfig(name="dwh", url_env="EHM_BENCH_DWH", tables=["tracks"], initial_lookback=f"{DAYS + 1}d",
                                 max_window=f"{DAYS + 2}d", property_stats=False,
                                 session_sql=["SET work_mem = '256MB'"], concurrency=concurrency)  # fmt: skip


def pushdown(store_url: str, bucket: int, concurrency: int) -> Pushed:
    """Collect with push-down."""
    cfg = source_config(concurrency)
    store = Store.from_url(store_url)
    store.migrate()
    engine = warehouse_engine(cfg)
    started = time.monotonic()
    report = WarehouseCollector(
        store, cfg, load_plan(), engine, bucket_seconds=bucket, clock=lambda: NOW
    ).collect()
    seconds = time.monotonic() - started
    engine.dispose()
    store.dispose()
    assert report.status == "ok", report.error
    return Pushed(seconds, report.bytes_out, report.rows_out, report.events, report.query_seconds,
                  report.parse_seconds, report.commit_seconds)  # fmt: skip


def fetch_rows(store_url: str, workdir: Path, bucket: int) -> tuple[float, float, int, int]:
    """COPY the rows out as JSON lines, then ingest them; returns (fetch s, ingest s, bytes, events)."""
    path = workdir / "tracks.jsonl"
    lo, hi = (
        datetime.fromtimestamp(NOW.timestamp() - (DAYS + 1) * 86400, UTC),
        datetime.fromtimestamp(NOW.timestamp() + 1, UTC),
    )
    started = time.monotonic()
    nbytes = 0
    with psycopg.connect(_conninfo(DB)) as conn, conn.cursor() as cur, open(path, "wb") as out:
        query = AS_JSON.format(lo=lo.isoformat(), hi=hi.isoformat())
        with cur.copy(f"COPY ({query}) TO STDOUT") as copy:
            for chunk in copy:
                out.write(chunk)
                nbytes += len(chunk)
    fetched = time.monotonic() - started
    store = Store.from_url(store_url)
    store.migrate()
    started = time.monotonic()
    report = ingest(
        store,
        [str(path)],
        IngestOptions(
            source="rows",
            environment="production",
            plan=load_plan(),
            final_line_grace=0,
            bucket_seconds=bucket,
        ),
    )
    ingested = time.monotonic() - started
    store.dispose()
    path.unlink()
    return fetched, ingested, nbytes, report.events


REFERENCE = {
    "scan only: count(*)": "SELECT count(*) FROM tracks WHERE {w}",
    "least a count needs: GROUP BY event, 5-min bucket": (
        "SELECT event_text, floor(date_part('epoch', \"timestamp\") / 300), count(*) FROM tracks WHERE {w} "
        "GROUP BY 1, 2"
    ),
    "least a user sketch needs: distinct (event, bucket, userId, anonymousId)": (
        "SELECT count(*) FROM (SELECT event_text, floor(date_part('epoch', \"timestamp\") / 300), user_id, "
        "anonymous_id FROM tracks WHERE {w} GROUP BY 1, 2, 3, 4) d"
    ),
}


def generated_sql(cfg: WarehouseSourceConfig, bucket: int) -> dict[str, str]:
    """The push-down queries of the run, compiled with their window (as ``warehouse sql`` prints them)."""
    engine = warehouse_engine(cfg)
    scratch = Store.from_url("sqlite://")
    collector = WarehouseCollector(
        scratch, cfg, load_plan(), engine, bucket_seconds=bucket, clock=lambda: NOW
    )
    window = plan_window(None, cfg, NOW)
    with engine.connect() as conn:
        (read,) = collector.reads(
            conn, reflect(engine, cfg.schema_, None), {"lo": window.lo, "hi": window.hi}
        )
    w = sqlbuild.Window(to_epoch(NOW), bucket, cfg.slice_seconds, cfg.watermark.lower())
    q = sqlbuild.build(
        read, aggregate.planned_keys(collector.evaluator), w, "postgresql", property_stats=False
    )
    bound = sqlbuild.params(window.lo, window.hi, False)
    out = {
        f"push-down `{name}` query": str(stmt.params(**bound).compile(dialect=engine.dialect,
                                                                       compile_kwargs={"literal_binds": True}))
        for name, stmt in q.statements()
    }  # fmt: skip
    engine.dispose()
    scratch.dispose()
    return out


def _backend_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # the server is not on this machine
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(rows: int, bucket: int) -> None:
    """Backend CPU per row of reference queries, the push-down queries and the baseline's COPY, one
    after the other on one connection (the server must run on this machine: /proc)."""
    cfg = source_config(1)
    lo = datetime.fromtimestamp(NOW.timestamp() - (DAYS + 1) * 86400, UTC)
    w = f"received_at >= '{lo.isoformat()}' AND received_at < '{NOW.isoformat()}'"
    queries = {name: sql.format(w=w) for name, sql in REFERENCE.items()} | generated_sql(cfg, bucket)
    print(
        f"\n| server CPU, one query at a time ({rows:,} rows; load average {_load()}) | backend CPU | µs a row | wall |"
    )
    print("|---|---:|---:|---:|")
    with psycopg.connect(_conninfo(DB), autocommit=True) as conn:
        for setting in (*SESSION_DEFAULTS["postgresql"], *cfg.session_sql):
            conn.execute(setting)
        pid = conn.info.backend_pid
        for name, sql in [*queries.items(), ("baseline: COPY (rows as JSON) TO STDOUT", "")]:
            cpu0, started = _backend_cpu(pid), time.monotonic()
            if sql:
                conn.execute(sql).fetchall()
            else:
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        f"COPY ({AS_JSON.format(lo=lo.isoformat(), hi=NOW.isoformat())}) TO STDOUT"
                    ) as copy,
                ):
                    for _chunk in copy:
                        pass
            wall, cpu1 = time.monotonic() - started, _backend_cpu(pid)
            used = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
            shown = "n/a" if used is None else f"{used:.1f} s | {1e6 * used / rows:.2f}"
            print(f"| {name} | {shown} | {wall:.1f} s |", flush=True)


def drop() -> None:
    """Drop the scratch database."""
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")


def main() -> int:
    """Build, measure both ways, print the table, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500k rows instead of 10M")
    parser.add_argument("--rows", type=int, help="rows in tracks (overrides --quick)")
    parser.add_argument("--days", type=int, default=DAYS, help="days the rows span (default 7)")
    parser.add_argument("--bucket", type=int, default=300, help="bucket width in seconds (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept table of the same size (implies --keep)"
    )
    parser.add_argument("--skip-rows", action="store_true", help="measure the push-down side only")
    parser.add_argument("--concurrency", type=int, default=2, help="push-down queries at once (default 2)")
    parser.add_argument("--server-cpu", action="store_true",
                        help="then the server's CPU per row: reference queries, the push-down queries, the COPY")  # fmt: skip
    args = parser.parse_args()
    globals()["DAYS"] = args.days
    rows = args.rows or (500_000 if args.quick else 10_000_000)
    workdir = Path(tempfile.mkdtemp(prefix="ehm-bench-"))
    try:
        if args.reuse and existing_rows() == rows:
            print(f"reusing tracks: {rows:,} rows (built with the same --days)", flush=True)
        else:
            print(f"building tracks: {rows:,} rows over {DAYS} days …", flush=True)
            built = build(rows)
            print(f"built in {built:.0f}s", flush=True)
        print(f"load average before: {_load()}", flush=True)
        push = pushdown(f"sqlite:///{workdir / 'push.sqlite'}", args.bucket, args.concurrency)
        print(f"push-down: {push.seconds:.1f} s (load average after: {_load()})", flush=True)
        if args.skip_rows:
            return 0
        rows_side = fetch_rows(f"sqlite:///{workdir / 'rows.sqlite'}", workdir, args.bucket)
        print(f"fetch rows + ingest: {rows_side[0] + rows_side[1]:.1f} s (load average after: {_load()})")
        status = report(rows, args.bucket, push, rows_side)
        if args.server_cpu:
            server_cpu(rows, args.bucket)
    finally:
        if not (args.keep or args.reuse):
            drop()
    return status


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(rows: int, bucket: int, push: Pushed, fetched: tuple[float, float, int, int]) -> int:
    """Print the side-by-side table; 0 when both ways counted the same events."""
    f_s, i_s, f_bytes, f_events = fetched
    total = f_s + i_s
    print()
    print(
        f"| {rows:,}-row tracks table over {DAYS} d, {bucket // 60}-min buckets (PostgreSQL 15, 2 cores) | time | bytes moved | rows moved | events |"
    )
    print("|---|---:|---:|---:|---:|")
    print(
        f"| push-down (warehouse aggregates) | {push.seconds:.1f} s (queries {push.query_s:.1f} incl. parse "
        f"{push.parse_s:.1f}, commit {push.commit_s:.1f}) | {push.nbytes / 1e6:.2f} MB | {push.rows:,} | {push.events:,} |"
    )
    print(
        f"| fetch rows (COPY as JSON) + monitor ingest | {total:.1f} s ({f_s:.1f} + {i_s:.1f}) | {f_bytes / 1e6:.1f} MB | {rows:,} | {f_events:,} |"
    )
    print(
        f"| ratio | **{total / push.seconds:.1f}× faster** | **{100 * push.nbytes / f_bytes:.2f} % of the bytes** | | |"
    )
    mon_p = push.seconds - push.query_s + push.parse_s
    print(
        f"| monitor-side time (push-down: parse + commit; rows: ingest) | {mon_p:.1f} s vs {i_s:.1f} s | {i_s / mon_p:.1f}× less | | |"
    )
    print(f"\ntargets: ≥ 10× faster → {'met' if total / push.seconds >= 10 else 'NOT met'}; ≤ 1 % of the bytes → "
          f"{'met' if push.nbytes <= 0.01 * f_bytes else 'NOT met'}; same event count → {push.events == f_events}")  # fmt: skip
    return 0 if push.events == f_events else 1


if __name__ == "__main__":
    sys.exit(main())
