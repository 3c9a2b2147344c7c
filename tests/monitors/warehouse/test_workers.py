"""Many workers, many sources: each source has its own lease, so two workers never collect the same
source at once, and a worker that lost its lease cannot commit."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from monitors.errors import DatabaseError
from monitors.plan import load_plan
from monitors.warehouse.collector import CollectReport, WarehouseCollector
from monitors.warehouse.config import WarehouseSourceConfig
from storage import Store
from tests.monitors.warehouse.conftest import Warehouse
from tests.monitors.warehouse.helpers import NOW, load_warehouse, messages, snapshot


def make(
    store: Store, wh: Warehouse, name: str, holder: str, clock: Any, ttl: str = "10m"
) -> WarehouseCollector:
    """A collector of source ``name`` for worker ``holder``; its queries run on the worker's own
    thread (``concurrency=1``), which the hooks below tell apart by name."""
    cfg = WarehouseSourceConfig(
        name=name, url_env="UNUSED", schema=wh.schema, initial_lookback="1d", lease_ttl=ttl, concurrency=1
    )
    return WarehouseCollector(store, cfg, load_plan(), wh.engine, holder=holder, clock=clock)


def test_a_source_held_by_one_worker_is_skipped_by_another(duck_warehouse: Warehouse, tmp_path: Path) -> None:
    load_warehouse(duck_warehouse.engine, messages(60), schema=duck_warehouse.schema)
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    Store.from_url(url).migrate()
    store_a, store_b = Store.from_url(url), Store.from_url(url)
    inside, go_on = threading.Event(), threading.Event()

    def pause(*_a: object) -> None:
        if threading.current_thread().name == "worker-a" and not inside.is_set():
            inside.set()
            assert go_on.wait(10)

    event.listen(duck_warehouse.engine, "before_cursor_execute", pause)
    result: dict[str, CollectReport] = {}
    a = threading.Thread(
        name="worker-a",
        target=lambda: result.setdefault(
            "a", make(store_a, duck_warehouse, "shop", "A", lambda: NOW).collect()
        ),
    )
    a.start()
    assert inside.wait(10)
    result["b"] = make(store_b, duck_warehouse, "shop", "B", lambda: NOW).collect()
    go_on.set()
    a.join(10)
    assert (result["a"].status, result["b"].status, result["b"].error) == ("ok", "skipped", "held by A")
    assert store_a.warehouse_state("shop")["runs"] == 1  # type: ignore[index]
    for s in (store_a, store_b):
        s.dispose()


def test_a_worker_that_lost_its_lease_cannot_commit(duck_warehouse: Warehouse, sqlite_store: Store) -> None:
    """A pauses past its lease; B takes the source over and commits; A's late commit is refused."""
    load_warehouse(duck_warehouse.engine, messages(60), schema=duck_warehouse.schema)
    now = [NOW]
    b_report: list[CollectReport] = []

    def stall(*_a: object) -> None:
        if threading.current_thread().name != "b" and not b_report:
            now[0] = NOW + timedelta(minutes=2)  # A's 1-minute lease is gone
            t = threading.Thread(
                name="b",
                target=lambda: b_report.append(
                    make(sqlite_store, duck_warehouse, "shop", "B", lambda: now[0], "1m").collect()
                ),
            )
            t.start()
            t.join(30)

    event.listen(duck_warehouse.engine, "before_cursor_execute", stall)
    with pytest.raises(DatabaseError, match="lost the lease while aggregating"):
        make(sqlite_store, duck_warehouse, "shop", "A", lambda: now[0], "1m").collect()
    assert b_report[0].status == "ok"
    state = sqlite_store.warehouse_state("shop")
    assert state is not None and state["runs"] == 1
    assert sum(dict(r)["count"] for r in snapshot(sqlite_store, "shop")["event_metrics"]) == 60


def test_workers_share_many_sources_without_overlap(duck_warehouse: Warehouse, tmp_path: Path) -> None:
    """Two workers loop over two sources twice; per source, the warehouse queries of two runs
    (issued only while the lease is held) never interleave."""
    load_warehouse(duck_warehouse.engine, messages(40), schema=duck_warehouse.schema)
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    Store.from_url(url).migrate()
    sources = [f"s{i}" for i in range(2)]
    current = threading.local()
    queries: list[tuple[float, str, int]] = []  # (time, source, run number)
    lock = threading.Lock()
    runs = iter(range(10_000))

    def record(*_a: object) -> None:
        with lock:
            queries.append((time.monotonic(), current.source, current.run))

    event.listen(duck_warehouse.engine, "before_cursor_execute", record)

    def worker(holder: str) -> None:
        store = Store.from_url(url)
        for _round in range(2):
            for name in sources:
                current.source, current.run = name, next(runs)
                make(store, duck_warehouse, name, holder, lambda: datetime.now().astimezone()).collect()
        store.dispose()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for name in sources:
        spans: dict[int, list[float]] = {}
        for at, src, run in queries:
            if src == name:
                spans.setdefault(run, []).append(at)
        ordered = sorted((min(v), max(v)) for v in spans.values())
        assert ordered, f"{name} was never collected"
        assert all(a[1] < b[0] for a, b in itertools.pairwise(ordered)), f"{name} ran twice at once"
