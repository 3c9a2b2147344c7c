"""The Customer.io part of the Store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import storage.all_tables  # noqa: F401
from monitors.customerio.models import CollectionResult, FlapState, MetricRow, ResumePoint, RunStats
from storage import Store
from storage.tables import metadata

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = 86400


def run(at: datetime = AT, **fields: object) -> RunStats:
    return RunStats(started_at=at, finished_at=at, **fields)  # type: ignore[arg-type]


def commit(store: Store, rows: list[MetricRow], resume: list[ResumePoint] | None = None,
           flaps: dict[tuple[str, str, int], FlapState] | None = None, stats: RunStats | None = None,
           at: datetime = AT) -> None:
    store.commit_customerio_run(CollectionResult("shop", rows, resume or [], flaps or {}, stats), at)


def test_migration_matches_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "cio_" in repr(d)] == []


def test_runs_add_to_existing_buckets(store: Store) -> None:
    commit(store, [MetricRow("event", "buy", 300, 5, latency_n=2, latency_sum=10.0, latency_max=7.0),
                   MetricRow("event", "buy", 600, 1)])
    commit(store, [MetricRow("event", "buy", 300, 3, estimated=True, sample_rate=0.25, latency_n=1,
                             latency_sum=20.0, latency_max=20.0)])
    frame = store.read_customerio_metrics(workspace="shop")
    assert frame.to_dict("records") == [
        {"workspace": "shop", "atype": "event", "name": "buy", "bucket_start": 300, "count": 8, "estimated": True,
         "sample_rate": 0.25, "latency_n": 3, "latency_sum": 30.0, "latency_max": 20.0},
        {"workspace": "shop", "atype": "event", "name": "buy", "bucket_start": 600, "count": 1, "estimated": False,
         "sample_rate": 1.0, "latency_n": 0, "latency_sum": 0.0, "latency_max": 0.0},
    ]


def test_metric_filters_are_half_open(store: Store) -> None:
    commit(store, [MetricRow("event", "a", b, 1) for b in (0, 300, 600)] + [MetricRow("sent_email", "", 300, 4)])
    frame = store.read_customerio_metrics(300, 600, atype="event")
    assert frame[["name", "bucket_start"]].values.tolist() == [["a", 300]]
    assert store.read_customerio_metrics(workspace="other").empty


def test_resume_points_move_with_the_metrics(store: Store) -> None:
    commit(store, [], [ResumePoint("*", 100, ("b", "a"), 0, 110)])
    commit(store, [], [ResumePoint("*", 200, ("c",), 0, 210), ResumePoint("event", 5, (), 1, 210)])
    assert store.customerio_resume_points("shop") == {
        "*": ResumePoint("*", 200, ("c",), 0, 210), "event": ResumePoint("event", 5, (), 1, 210)}
    assert store.customerio_resume_points("other") == {}


def test_flap_state_round_trips_and_old_days_are_pruned(store: Store) -> None:
    today = int(AT.timestamp()) // DAY * DAY
    old, new = ("plan", "p1", today - 3 * DAY), ("plan", "p1", today)
    commit(store, [], flaps={old: FlapState(1, 0, None, None, False), new: FlapState(4, 2, "h1", "h2", True)})
    assert store.customerio_flap_states("shop", [old, new, ("plan", "p2", today)]) == {
        new: FlapState(4, 2, "h1", "h2", True)}
    assert store.customerio_flap_states("shop", []) == {}


def test_health_reports_failures_then_recovery(store: Store) -> None:
    assert store.customerio_health() == []
    store.record_customerio_failure("shop", "auth_error", run(status="auth_error", requests=1,
                                                             message="App API key rejected — check K"), AT)
    [health] = store.customerio_health()
    assert health == {"workspace": "shop", "status": "auth_error", "message": "App API key rejected — check K",
                      "last_success_at": None, "last_error_at": AT, "requests": 1, "rate_limited": 0}
    later = AT + timedelta(minutes=5)
    commit(store, [], stats=run(later, requests=7, rate_limited=2, message="read 3 activities"), at=later)
    [health] = store.customerio_health()
    assert (health["status"], health["message"], health["last_success_at"], health["last_error_at"]) == (
        "ok", "read 3 activities", later, AT)
    assert (health["requests"], health["rate_limited"]) == (8, 2)
    runs = store.customerio_runs("shop")
    assert [(r["status"], r["requests"]) for r in runs] == [("ok", 7), ("auth_error", 1)]


def test_delivery_metrics_are_replaced_on_rewrite(store: Store) -> None:
    def frame(received: int) -> pd.DataFrame:
        return pd.DataFrame([{"workspace": "shop", "event": "buy", "bucket_start": 300, "sent": 10,
                              "received": received, "failed": 1, "estimated": False, "latency_n": received,
                              "latency_sum": 1.5, "latency_max": 0.5, "ratio": received / 10, "judged": True}])

    assert store.write_delivery_metrics(frame(4), AT) == 1
    store.write_delivery_metrics(frame(9), AT)
    stored = store.read_delivery_metrics(workspace="shop")
    assert stored[["event", "bucket_start", "sent", "received", "failed"]].values.tolist() == [["buy", 300, 10, 9, 1]]


def test_no_other_mixin_shadows_a_customerio_method() -> None:
    from storage.customerio_store import CustomerIOStore

    own = [name for name, value in vars(CustomerIOStore).items() if callable(value)]
    assert own and [n for n in own if getattr(Store, n) is not vars(CustomerIOStore)[n]] == []
