"""Hour and day rollups on SQLite and PostgreSQL: exact sums and sketch merges, reads that pick the
coarsest table, retention per resolution, and a migration that matches the tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from monitors.sketch import HLL, LatencySketch
from storage import Store
from storage.batch import IngestBatch, MetricDelta
from storage.rollups import RollupStore, resolution_for
from storage.tables import metadata

DAY = 1_793_577_600  # 2026-11-02T00:00Z
NOW = datetime(2026, 11, 3, tzinfo=UTC)


def ingest(store: Store, rows: list[tuple[str, int, int, list[str], list[float]]]) -> None:
    """Write raw buckets through the ingest path: (event, bucket, count, users, e2e latencies)."""
    batch = IngestBatch(source="web", environment="production", sample_rate=1.0, file="t.jsonl")
    for event, bucket, n, users, lat in rows:
        batch.metrics[(event, "track", bucket)] = MetricDelta(count=n, checked=n, conforming=n - 1, identified=len(users),
                                                             users=HLL.from_keys(users), uids=HLL.from_keys(users))  # fmt: skip
        if lat:
            batch.latency[(event, "track", bucket, "e2e")] = LatencySketch.from_values(lat)
        batch.violations[(event, "track", bucket, "wrong_type", "price")] = 1
    store.set_bucket_seconds(300)
    store.apply_ingest(batch, NOW)


ROWS = [
    ("buy", DAY + 0, 3, ["a", "b"], [0.2, 0.4]),
    ("buy", DAY + 300, 2, ["b", "c"], [1.5]),
    ("buy", DAY + 3600, 4, ["d"], [9.0]),
    ("buy", DAY + 86400 + 600, 5, ["e"], []),
    ("view", DAY + 1200, 1, ["a"], [0.1]),
]


def test_rollups_add_counts_and_merge_sketches(store: Store) -> None:
    ingest(store, ROWS)
    assert store.rollup_range(DAY, DAY + 2 * 86400) == 4  # hour rows rebuilt
    metrics, latency, viols = store.read_metric_rows(None, None, event="buy", step=3600)
    got = {int(r.bucket_start): (int(r.count), int(r.conforming), HLL.decode(r.users_hll).registers)
           for r in metrics.itertuples()}  # fmt: skip
    assert got == {
        DAY: (5, 3, HLL.from_keys(["a", "b", "c"]).registers),
        DAY + 3600: (4, 3, HLL.from_keys(["d"]).registers),
        DAY + 86400: (5, 4, HLL.from_keys(["e"]).registers),
    }
    first_hour = latency[(latency.bucket_start == DAY) & (latency.hop == "e2e")]
    assert (
        LatencySketch.decode(first_hour.bins.iloc[0]).bins == LatencySketch.from_values([0.2, 0.4, 1.5]).bins
    )
    assert sorted(zip(viols.bucket_start, viols["count"], strict=True)) == [
        (DAY, 2),
        (DAY + 3600, 1),
        (DAY + 86400, 1),
    ]


def test_read_counts_picks_the_coarsest_table_that_tiles_the_step(store: Store) -> None:
    ingest(store, ROWS)
    store.rollup_range(DAY, DAY + 2 * 86400)

    def counts(step: int | None, since: int | None = None) -> list[tuple[str, int, int]]:
        frame = store.read_counts(since, DAY + 2 * 86400, step=step)
        return [
            (str(e), int(b), int(c))
            for e, b, c in zip(frame.event, frame.bucket_start, frame["count"], strict=True)
        ]

    assert counts(None) == counts(300) == [(e, b, n) for e, b, n, _u, _l in sorted(ROWS)]
    assert (
        counts(3600)
        == counts(7200)
        == [("buy", DAY, 5), ("buy", DAY + 3600, 4), ("buy", DAY + 86400, 5), ("view", DAY, 1)]
    )
    assert counts(86400) == [("buy", DAY, 9), ("buy", DAY + 86400, 5), ("view", DAY, 1)]
    assert counts(86400, since=DAY + 3600) == counts(86400)  # since is floored to the day


def test_writers_refresh_rollups_in_their_transaction(store: Store) -> None:
    ingest(store, ROWS[:2])
    keys = {(sid, b) for sid, b in _raw_keys(store)}
    with store.engine.begin() as conn:
        store.refresh_rollups(conn, keys)
    assert store.read_counts(step=86400)["count"].tolist() == [5]


def _raw_keys(store: Store) -> list[tuple[int, int]]:
    ids = store.series_ids_for([("web", "production", "buy"), ("web", "production", "view")])
    frame = store.read_counts()
    return [
        (ids[("web", "production", e)], int(b)) for e, b in zip(frame.event, frame.bucket_start, strict=True)
    ]


def test_retention_is_applied_per_resolution(store: Store) -> None:
    ingest(store, ROWS)
    store.rollup_range(DAY, DAY + 2 * 86400)
    now = DAY + 2 * 86400
    deleted = store.prune_metrics(now, {"raw": 86400 + 1, "hour": 86400 + 1, "day": 3 * 86400})
    assert (
        deleted["event_metrics"] == 4
        and deleted["event_metrics_hour"] == 3
        and deleted["event_metrics_day"] == 0
    )
    assert store.read_counts()["bucket_start"].tolist() == [DAY + 86400 + 600]
    assert store.read_counts(step=86400)["count"].tolist() == [9, 5, 1]  # days outlive the raw buckets


@pytest.mark.parametrize(
    ("step", "raw", "want"),
    [(None, 300, "raw"), (300, 300, "raw"), (1800, 300, "raw"), (3600, 300, "hour"), (10800, 300, "hour"),
     (86400, 300, "day"), (7 * 86400, 300, "day"), (3600, 5400, "raw")],
)  # fmt: skip
def test_resolution_for(step: int | None, raw: int, want: str) -> None:
    assert resolution_for(step, raw) == want


def test_migration_matches_the_warehouse_and_rollup_tables(store: Store) -> None:
    mine = ("leases", "warehouse_", "_hour", "_day")
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if any(m in repr(d) for m in mine)] == []


def _rollup_snapshot(store: Store, step: int) -> tuple[list[tuple[object, ...]], ...]:
    metrics, latency, viols = store.read_metric_rows(None, None, step=step)
    m = sorted((str(r.event), int(r.bucket_start), int(r.count), int(r.checked), int(r.conforming), int(r.identified),
                tuple(sorted(HLL.decode(r.users_hll).registers.items()))) for r in metrics.itertuples())  # fmt: skip
    lat = sorted((str(r.event), int(r.bucket_start), str(r.hop), tuple(sorted(LatencySketch.decode(r.bins).bins.items())))
                 for r in latency.itertuples())  # fmt: skip
    v = sorted((str(r.event), int(r.bucket_start), str(r.vtype), str(r.property), int(r.count)) for r in viols.itertuples())
    return m, lat, v


def test_ingest_adds_its_deltas_to_the_rollups_like_a_rebuild(store: Store) -> None:
    # Three commits into overlapping hours and days: the incremental rollups must equal a rebuild
    # from the raw rows.
    ingest(store, ROWS[:3])
    ingest(store, [("buy", DAY + 300, 1, ["z"], [2.5]), ("view", DAY + 1500, 2, ["a", "q"], [0.3, 60.0])])
    ingest(store, ROWS[3:])
    incremental = {step: _rollup_snapshot(store, step) for step in (3600, 86400)}
    assert incremental[3600][0][0] == (
        "buy", DAY, 6, 6, 3, 5, tuple(sorted(HLL.from_keys(["a", "b", "c", "z"]).registers.items()))
    )
    assert incremental[86400][0][0][:3] == ("buy", DAY, 10)
    store.rollup_range(DAY, DAY + 2 * 86400)
    assert {step: _rollup_snapshot(store, step) for step in (3600, 86400)} == incremental


def test_a_rollup_rebuild_and_an_ingest_at_once_both_commit(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's ``rollups`` job rebuilt an hour while an ingest of that hour committed: each
    wrote the hour row the other had deleted, and the ingest failed on its key (PostgreSQL:
    ``duplicate key value violates unique constraint "pk_event_metrics_hour"``). The rebuild is
    held between its delete and its inserts until the ingest either commits or waits for it."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writers take the database lock up front: they cannot overlap")
    ingest(store, ROWS)
    held, go, rebuilder = threading.Event(), threading.Event(), []
    rebuild = RollupStore.refresh_rollups

    def holding(self: Store, conn: Any, keys: Any, known: Any = None) -> int:
        rebuilder.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        held.set()
        go.wait(60)
        return rebuild(self, conn, keys, known)

    monkeypatch.setattr(RollupStore, "refresh_rollups", holding)
    errors: list[BaseException] = []

    def run(job: Callable[[], Any]) -> threading.Thread:
        def guarded() -> None:
            try:
                job()
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=guarded)
        thread.start()
        return thread

    rollups = run(lambda: store.rollup_range(DAY, DAY + 2 * 86400))
    assert held.wait(60)
    adding = run(lambda: ingest(store, [("buy", DAY + 300, 1, ["z"], [2.5])]))
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
    with store.engine.connect() as conn:  # until the ingest has committed or waits for the rebuild
        while adding.is_alive() and not conn.execute(text(waiting), {"pid": rebuilder[0]}).scalar():
            time.sleep(0.01)
    go.set()
    rollups.join(60)
    adding.join(60)
    assert errors == []
    metrics, _, _ = store.read_metric_rows(None, None, event="buy", step=3600)
    assert dict(zip(metrics.bucket_start.astype(int), metrics["count"].astype(int), strict=True)) == {
        DAY: 6, DAY + 3600: 4, DAY + 86400: 5}  # fmt: skip
