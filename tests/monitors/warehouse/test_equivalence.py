"""The same events ingested from files and from a warehouse table give identical metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from monitors.plan import load_plan
from monitors.warehouse.collector import WarehouseCollector
from monitors.warehouse.config import WarehouseSourceConfig
from storage import Store
from tests.monitors.ingest.helpers import run_ingest
from tests.monitors.warehouse.conftest import Warehouse
from tests.monitors.warehouse.helpers import NOW, load_warehouse, messages, snapshot, write_log


def without_leaks(snap: dict[str, Any]) -> dict[str, Any]:
    """The warehouse path does not compute the staging/test-data signals (vtype ``leak``) yet."""
    out = dict(snap)
    out["violations"] = [r for r in snap["violations"] if dict(r)["vtype"] != "leak"]
    return out


def collect(store: Store, wh: Warehouse, **cfg: Any) -> None:
    """One collection run at NOW."""
    source = WarehouseSourceConfig(
        name="dwh", url_env="UNUSED", schema=wh.schema, initial_lookback="2d", **cfg
    )
    report = WarehouseCollector(store, source, load_plan(), wh.engine, clock=lambda: NOW).collect()
    assert report.status == "ok", report.error


def test_files_and_warehouse_give_identical_metrics(
    warehouse: Warehouse, store: Store, tmp_path: Path
) -> None:
    msgs = messages(300)
    load_warehouse(warehouse.engine, msgs, schema=warehouse.schema)
    collect(store, warehouse)
    run_ingest(store, write_log(tmp_path / "events.jsonl", msgs), source="files")
    from_files, from_wh = without_leaks(snapshot(store, "files")), snapshot(store, "dwh")
    assert from_wh == from_files
    # and the comparison is not vacuous: every kind of finding the events carry is there
    vtypes = {dict(r)["vtype"] for r in from_wh["violations"]}
    assert vtypes == {"missing_required_property", "missing_entity_id", "unplanned_property", "unplanned_event",
                      "wrong_type", "email_as_user_id", "missing_identity", "negative_latency",
                      "impossible_timestamp"}  # fmt: skip
    assert sum(dict(r)["count"] for r in from_wh["event_metrics"]) == 300


def test_rows_without_sent_at_measure_no_send_latency(duck_warehouse: Warehouse, tmp_path: Path) -> None:
    """A NULL ``sent_at`` once made the send and deliver hops land in the largest bin (30,000: e^600 s,
    ``least(30000, NULL)``), where the file path has no such hop."""
    msgs = messages(120, seed=9)
    for m in msgs[::3]:
        m.pop("sentAt", None)
    hops = _hop_counts_on_both_paths(duck_warehouse, tmp_path, msgs)
    assert hops["e2e"] == 120 - sum(1 for m in msgs if not _possible(m))
    assert hops["deliver"] == sum(1 for m in msgs if "sentAt" in m)


def _possible(m: dict[str, Any]) -> bool:
    return not m["timestamp"].startswith("1999")


def _hop_counts_on_both_paths(wh: Warehouse, tmp_path: Path, msgs: list[dict[str, Any]]) -> dict[str, int]:
    """``msgs`` collected from the warehouse and ingested from a file into one store: the two paths'
    metrics must be identical; returns the values each hop measured."""
    load_warehouse(wh.engine, msgs, schema=wh.schema)
    store = Store.from_url(f"sqlite:///{tmp_path / 'm.sqlite'}")
    store.migrate()
    try:
        collect(store, wh)
        run_ingest(store, write_log(tmp_path / "events.jsonl", msgs), source="files")
        dwh = snapshot(store, "dwh")
        assert dwh == without_leaks(snapshot(store, "files"))
    finally:
        store.dispose()
    hops = {"send": 0, "deliver": 0, "e2e": 0}
    for r in dwh["latency_sketches"]:
        hops[dict(r)["hop"]] += dict(r)["count"]
    return hops


@pytest.mark.parametrize("concurrency", [1, 3], ids=["one-query-at-a-time", "three-at-once"])
def test_concurrent_queries_give_the_same_metrics(
    duck_warehouse: Warehouse, tmp_path: Path, concurrency: int
) -> None:
    """The queries of a run may go to the warehouse at once (one connection each); the metrics are
    the same as one query at a time — and as the file path's."""
    msgs = messages(200, seed=5)
    load_warehouse(duck_warehouse.engine, msgs, schema=duck_warehouse.schema)
    store = Store.from_url(f"sqlite:///{tmp_path / 'm.sqlite'}")
    store.migrate()
    collect(store, duck_warehouse, concurrency=concurrency)
    run_ingest(store, write_log(tmp_path / "events.jsonl", msgs), source="files")
    assert snapshot(store, "dwh") == without_leaks(snapshot(store, "files"))
    store.dispose()


def test_postgresql_connections_are_kept_off_merge_joins_and_sorts(
    pg_warehouse: Warehouse, sqlite_store: Store
) -> None:
    """Every connection of a run (the one that plans the reads, one per aggregate query) starts
    with the dialect's session defaults, before the source's own ``session_sql`` (one query at a
    time here, so that the statements come in order)."""
    load_warehouse(pg_warehouse.engine, messages(40, seed=9), schema=pg_warehouse.schema)
    seen: list[str] = []
    event.listen(pg_warehouse.engine, "before_cursor_execute", lambda *a: seen.append(str(a[2])))
    source = WarehouseSourceConfig(name="dwh", url_env="UNUSED", schema=pg_warehouse.schema,
                                   initial_lookback="2d", session_sql=["SET work_mem = '64MB'"],
                                   concurrency=1)  # fmt: skip
    report = WarehouseCollector(
        sqlite_store, source, load_plan(), pg_warehouse.engine, clock=lambda: NOW
    ).collect()
    assert report.status == "ok" and report.queries >= 2
    sets = [s for s in seen if s.startswith("SET ")]
    defaults = ["SET enable_mergejoin = off", "SET enable_sort = off"]
    assert sets == [*defaults, "SET work_mem = '64MB'"] * (1 + report.queries)


def test_timestamps_without_time_zone_are_read_as_utc(
    pg_warehouse: Warehouse, sqlite_store: Store, tmp_path: Path
) -> None:
    """Redshift-style ``timestamp`` columns (no zone) hold UTC; metrics match the files exactly."""
    msgs = messages(120, seed=11)
    load_warehouse(pg_warehouse.engine, msgs, schema=pg_warehouse.schema, naive=True)
    collect(sqlite_store, pg_warehouse)
    run_ingest(sqlite_store, write_log(tmp_path / "events.jsonl", msgs), source="files")
    assert snapshot(sqlite_store, "dwh") == without_leaks(snapshot(sqlite_store, "files"))


def test_uuid_ts_as_watermark_gives_the_same_metrics(
    duck_warehouse: Warehouse, sqlite_store: Store, tmp_path: Path
) -> None:
    msgs = messages(120, seed=5)
    load_warehouse(duck_warehouse.engine, msgs, schema=duck_warehouse.schema)
    collect(sqlite_store, duck_warehouse, watermark="uuid_ts")
    run_ingest(sqlite_store, write_log(tmp_path / "events.jsonl", msgs), source="files")
    assert snapshot(sqlite_store, "dwh") == without_leaks(snapshot(sqlite_store, "files"))


def test_event_names_are_cut_to_255_characters_as_in_files(
    warehouse: Warehouse, sqlite_store: Store, tmp_path: Path
) -> None:
    """Names are grouped in full and cut on the result rows; two names that differ only after the
    255th character are one event, as in the file path."""
    msgs = messages(120, seed=12)
    tracks = [m for m in msgs if m["type"] == "track"]
    for i, m in enumerate(tracks):
        m["properties"] = {}  # only ``tracks`` is loaded: no property columns anywhere
        if i < 40:
            m["event"] = "L" * 255 + "ab"[i % 2]
    load_warehouse(warehouse.engine, msgs, schema=warehouse.schema, event_tables=False)
    collect(sqlite_store, warehouse)
    run_ingest(sqlite_store, write_log(tmp_path / "events.jsonl", msgs), source="files")
    from_wh = snapshot(sqlite_store, "dwh")
    assert from_wh == without_leaks(snapshot(sqlite_store, "files"))
    long_rows = [r for r in from_wh["event_metrics"] if dict(r)["series"][1] == "L" * 255]
    assert sum(dict(r)["count"] for r in long_rows) == 40


def test_whole_numbers_are_integers_on_both_paths(warehouse: Warehouse, store: Store, tmp_path: Path) -> None:
    """``created_at: 1.0`` (a float that Python writes with its ``.0``) is an integer, as in JSON
    Schema: no wrong_type on either path; ``2.5`` still is one."""
    msgs = messages(200, seed=13)
    identifies = [m for m in msgs if m["type"] == "identify"]
    for i, m in enumerate(identifies):
        m["traits"] = {"email": "x@example.com", "created_at": (1.0, 1765000000.0, 2.5, 7)[i % 4]}
    load_warehouse(warehouse.engine, msgs, schema=warehouse.schema)
    collect(store, warehouse)
    run_ingest(store, write_log(tmp_path / "events.jsonl", msgs), source="files")
    from_files, from_wh = without_leaks(snapshot(store, "files")), snapshot(store, "dwh")
    assert from_wh == from_files
    wrong = sum(dict(r)["count"] for r in from_wh["violations"]
                if dict(r)["vtype"] == "wrong_type" and dict(r)["property"] == "created_at")  # fmt: skip
    assert wrong == len(identifies[2::4])


def test_an_impossible_sent_at_measures_neither_hop_on_both_paths(duck_warehouse: Warehouse, tmp_path: Path) -> None:
    """A device clock at 1970 in ``sentAt`` (the server corrected ``timestamp``) measures neither
    the send nor the deliver hop on either path: it once put 57 years into deliver p99."""
    msgs = messages(150, seed=17)
    for m in msgs[::5]:
        m["sentAt"] = "1970-01-01T00:10:05.000Z"
    hops = _hop_counts_on_both_paths(duck_warehouse, tmp_path, msgs)
    sent_ok = [not m["sentAt"].startswith("1970") for m in msgs]
    assert (hops["send"], hops["deliver"]) == (sum(ok and _possible(m) for ok, m in zip(sent_ok, msgs, strict=True)),
                                               sum(sent_ok))  # fmt: skip
    assert sum(sent_ok) == 150 - 30
