"""Incremental collection: late rows inside the lateness window are counted exactly once, reruns
change nothing, backfills in chunks equal one run, and a failed run leaves everything unmoved."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitors.plan import load_plan
from monitors.warehouse import aggregate
from monitors.warehouse.collector import CollectReport, WarehouseCollector
from monitors.warehouse.config import WarehouseSourceConfig
from storage import Store
from storage.tables import ingest_runs
from storage.tables_warehouse import SETTLED, warehouse_partials
from tests.monitors.ingest.helpers import run_ingest
from tests.monitors.warehouse.conftest import Warehouse
from tests.monitors.warehouse.helpers import NOW, load_warehouse, messages, snapshot, write_log
from tests.monitors.warehouse.test_equivalence import without_leaks


def collector(store: Store, wh: Warehouse, at: datetime, **cfg: Any) -> WarehouseCollector:
    """A collector of source ``dwh`` whose clock reads ``at``."""
    options: dict[str, Any] = {"initial_lookback": "1d", "lateness": "6h", **cfg}
    source = WarehouseSourceConfig(name="dwh", url_env="UNUSED", schema=wh.schema, **options)
    return WarehouseCollector(store, source, load_plan(), wh.engine, clock=lambda: at)


def run(store: Store, wh: Warehouse, at: datetime, **cfg: Any) -> CollectReport:
    """One successful run at ``at``."""
    report = collector(store, wh, at, **cfg).collect()
    assert report.status == "ok", report.error
    return report


def expected(tmp_path: Path, msgs: list[dict[str, Any]]) -> dict[str, Any]:
    """What ingesting ``msgs`` from a file gives."""
    ref = Store.from_url(f"sqlite:///{tmp_path / 'ref.sqlite'}")
    ref.migrate()
    run_ingest(ref, write_log(tmp_path / "ref.jsonl", msgs), source="dwh")
    try:
        return without_leaks(snapshot(ref, "dwh"))
    finally:
        ref.dispose()


def test_late_rows_inside_the_lateness_window_are_counted_once(
    warehouse: Warehouse, sqlite_store: Store, tmp_path: Path
) -> None:
    first = messages(100, seed=1)
    load_warehouse(warehouse.engine, first, schema=warehouse.schema)
    run(sqlite_store, warehouse, NOW)
    # rows received 1–3 h ago land in the warehouse only now (a late sync)
    late = messages(50, seed=2, now=NOW - timedelta(hours=1), span=timedelta(hours=2), prefix="late")
    load_warehouse(warehouse.engine, late, schema=warehouse.schema)
    run(sqlite_store, warehouse, NOW + timedelta(minutes=10))
    want = expected(tmp_path, first + late)
    assert snapshot(sqlite_store, "dwh") == want
    run(sqlite_store, warehouse, NOW + timedelta(minutes=20))  # nothing new: nothing changes
    assert snapshot(sqlite_store, "dwh") == want


def test_rows_landing_after_their_slice_settled_are_not_counted(duck_warehouse: Warehouse, sqlite_store: Store,
                                                                tmp_path: Path) -> None:  # fmt: skip
    first = messages(100, seed=3)
    load_warehouse(duck_warehouse.engine, first, schema=duck_warehouse.schema)
    run(sqlite_store, duck_warehouse, NOW, lateness="1h")
    too_late = messages(30, seed=4, now=NOW - timedelta(hours=4), span=timedelta(hours=1), prefix="old")
    load_warehouse(duck_warehouse.engine, too_late, schema=duck_warehouse.schema)
    run(sqlite_store, duck_warehouse, NOW + timedelta(minutes=10), lateness="1h")
    assert snapshot(sqlite_store, "dwh") == expected(tmp_path, first)


def test_backfill_in_capped_windows_equals_one_run(
    duck_warehouse: Warehouse, sqlite_store: Store, tmp_path: Path
) -> None:
    msgs = messages(100, seed=5, span=timedelta(hours=10))
    load_warehouse(duck_warehouse.engine, msgs, schema=duck_warehouse.schema)
    windows: list[tuple[str, str] | None] = []
    while not windows or windows[-1] != ("2026-11-02T10:00:00+00:00", "2026-11-02T12:00:01+00:00"):
        report = run(
            sqlite_store, duck_warehouse, NOW, max_window="3h", lateness="1h", initial_lookback="12h"
        )
        windows.append(report.window)
        assert len(windows) < 10
    # each capped run moves on by max_window - lateness (2h)
    assert [w[0][11:16] for w in windows if w] == ["00:00", "02:00", "04:00", "06:00", "08:00", "10:00"]
    assert snapshot(sqlite_store, "dwh") == expected(tmp_path, msgs)
    # staging holds only the keys the live window still touches, each with its settled remainder
    with sqlite_store.engine.connect() as conn:
        slices = {r.slice_start for r in conn.execute(select(warehouse_partials.c.slice_start)).all()}
    state = sqlite_store.warehouse_state("dwh")
    assert state is not None and all(s == SETTLED or s >= state["live_from"] for s in slices)


def test_a_failed_query_leaves_state_and_metrics_unmoved(warehouse: Warehouse, sqlite_store: Store,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    load_warehouse(warehouse.engine, messages(60, seed=6), schema=warehouse.schema)

    def broken(*_a: object) -> None:
        raise RuntimeError("warehouse went away")

    monkeypatch.setattr(aggregate, "add_aggregates", broken)
    with pytest.raises(RuntimeError, match="warehouse went away"):
        collector(sqlite_store, warehouse, NOW).collect()
    assert sqlite_store.warehouse_state("dwh") is None
    assert snapshot(sqlite_store, "dwh")["event_metrics"] == []
    with sqlite_store.engine.connect() as conn:
        last = conn.execute(select(ingest_runs).order_by(ingest_runs.c.id.desc())).first()
    assert last is not None and (last.source, last.status) == ("dwh", "error")
    assert "warehouse went away" in str(last.error)
    assert sqlite_store.current_lease("warehouse:dwh", NOW) is None  # released for the next try


def test_a_failed_commit_leaves_the_previous_run_intact(warehouse: Warehouse, sqlite_store: Store, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    first = messages(80, seed=8)
    load_warehouse(warehouse.engine, first, schema=warehouse.schema)
    run(sqlite_store, warehouse, NOW)
    before, state = snapshot(sqlite_store, "dwh"), sqlite_store.warehouse_state("dwh")
    late = messages(40, seed=9, now=NOW - timedelta(minutes=30), span=timedelta(hours=1), prefix="late")
    load_warehouse(warehouse.engine, late, schema=warehouse.schema)

    def fail(*_a: object) -> int:
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(Store, "refresh_rollups", fail)  # the last step inside the commit transaction
        with pytest.raises(RuntimeError, match="disk full"):
            collector(sqlite_store, warehouse, NOW + timedelta(minutes=5)).collect()
    assert snapshot(sqlite_store, "dwh") == before
    assert sqlite_store.warehouse_state("dwh") == state
    run(sqlite_store, warehouse, NOW + timedelta(minutes=6))
    assert snapshot(sqlite_store, "dwh") == expected(tmp_path, first + late)


def test_the_live_window_never_moves_back(duck_warehouse: Warehouse, sqlite_store: Store) -> None:
    load_warehouse(duck_warehouse.engine, messages(40, seed=10), schema=duck_warehouse.schema)
    run(sqlite_store, duck_warehouse, NOW, lateness="1h")
    state = sqlite_store.warehouse_state("dwh")
    assert state is not None and state["live_from"] == int((NOW - timedelta(hours=2)).timestamp())
    assert state["runs"] == 1 and state["watermark"] < NOW
