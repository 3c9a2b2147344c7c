"""WarehouseStore.apply_warehouse on SQLite and PostgreSQL: live slices are replaced, settled ones
kept, sketches rebuilt without subtraction, rollups follow, fencing and window guards hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitors.sketch import HLL, LatencySketch
from storage import Store
from storage.leases_store import LeaseLostError
from storage.tables_warehouse import SETTLED, warehouse_partials
from storage.warehouse_store import Partial, WarehouseBatch

T = datetime(2026, 11, 2, 12, tzinfo=UTC)
H = 3600
B = 1_793_613_600  # a bucket start (10:00)


def part(n: int, users: list[str] = (), e2e: list[float] = (), viol: int = 0) -> Partial:  # type: ignore[assignment]
    """A partial of ``n`` messages."""
    p = Partial(count=n, checked=n, conforming=n - viol, identified=len(users), users=HLL.from_keys(users))
    if e2e:
        p.latency["e2e"] = LatencySketch.from_values(e2e)
    if viol:
        p.violations[("wrong_type", "price")] = viol
    return p


def batch(live_from: int, parts: dict[tuple[int, int], Partial], nxt: int | None = None) -> WarehouseBatch:
    """A batch of source ``dwh`` for event ``buy`` keyed by (slice, bucket)."""
    return WarehouseBatch(
        "dwh", "production", live_from, T, {("buy", "track", s, b): p for (s, b), p in parts.items()}, nxt
    )


def metrics(store: Store) -> dict[int, tuple[int, int, float]]:
    """bucket → (count, conforming, users estimate) from the raw table."""
    frame, _latency, _viols = store.read_metric_rows(None, None, source="dwh")
    return {int(r.bucket_start): (int(r.count), int(r.conforming), round(HLL.decode(r.users_hll).estimate(), 3))
            for r in frame.itertuples()}  # fmt: skip


def test_a_rerun_of_the_same_slices_replaces_them(store: Store) -> None:
    s0 = B - B % H
    store.apply_warehouse(batch(s0, {(s0, B): part(3, ["a", "b"]), (s0, B + 300): part(1, ["c"])}), T)
    store.apply_warehouse(batch(s0, {(s0, B): part(5, ["a", "b", "d"], viol=2)}), T)
    assert metrics(store) == {B: (5, 3, round(HLL.from_keys(["a", "b", "d"]).estimate(), 3))}


def test_slices_before_the_live_window_are_kept_and_merged(store: Store) -> None:
    """Bucket B gets rows from slice s0 (settled later) and s1 (re-read): users are the union."""
    s0, s1 = B - B % H, B - B % H + H
    store.apply_warehouse(
        batch(s0, {(s0, B): part(2, ["a", "b"], [0.5, 1.0]), (s1, B): part(1, ["c"], [2.0])}, s1), T
    )
    store.apply_warehouse(batch(s1, {(s1, B): part(4, ["c", "d", "e", "f"], [3.0] * 4)}, s1), T)
    union = round(HLL.from_keys(list("abcdef")).estimate(), 3)
    assert metrics(store) == {B: (6, 6, union)}
    _m, latency, _v = store.read_metric_rows(None, None, source="dwh")
    sketch = LatencySketch.decode(latency.loc[latency.hop == "e2e", "bins"].iloc[0])
    assert sketch.bins == LatencySketch.from_values([0.5, 1.0, 3.0, 3.0, 3.0, 3.0]).bins


def test_a_slice_that_emptied_removes_its_bucket(store: Store) -> None:
    s0 = B - B % H
    store.apply_warehouse(batch(s0, {(s0, B): part(2, ["a"], viol=1)}), T)
    store.apply_warehouse(batch(s0, {}), T)
    assert metrics(store) == {}
    assert store.read_metric_rows(None, None, source="dwh")[2].empty


def test_rollups_follow_every_replacement(store: Store) -> None:
    s0 = B - B % H
    store.apply_warehouse(batch(s0, {(s0, B): part(2, ["a"]), (s0, B + 600): part(3, ["b"])}), T)
    store.apply_warehouse(batch(s0, {(s0, B): part(7, ["a"])}), T)
    hourly = store.read_counts(step=3600, source="dwh")
    daily = store.read_counts(step=86400, source="dwh")
    assert hourly[["bucket_start", "count"]].values.tolist() == [[B - B % 3600, 7]]
    assert daily[["bucket_start", "count"]].values.tolist() == [[B - B % 86400, 7]]


def test_the_live_window_cannot_move_back(store: Store) -> None:
    s0, s1 = B - B % H, B - B % H + H
    store.apply_warehouse(batch(s0, {(s0, B): part(1)}, s1), T)
    with pytest.raises(ValueError, match="live window cannot move back"):
        store.apply_warehouse(batch(s0, {(s0, B): part(1)}), T)
    with pytest.raises(ValueError, match="slices before its live window"):
        store.apply_warehouse(batch(s1, {(s0, B): part(1)}), T)


def test_a_stale_lease_cannot_commit(store: Store) -> None:
    s0 = B - B % H
    old = store.acquire_lease("warehouse:dwh", "A", 60, T)
    assert old is not None
    store.acquire_lease("warehouse:dwh", "B", 60, T + timedelta(seconds=61))
    with pytest.raises(LeaseLostError):
        store.apply_warehouse(batch(s0, {(s0, B): part(1)}), T + timedelta(seconds=62), old)
    assert store.warehouse_state("dwh") is None and metrics(store) == {}


def rollups(store: Store) -> list[tuple[object, ...]]:
    """Every hour and day row: (step, bucket, count, conforming, users registers, e2e bins, violations)."""
    out: list[tuple[object, ...]] = []
    for step in (3600, 86400):
        frame, latency, viols = store.read_metric_rows(None, None, source="dwh", step=step)
        for r in frame.itertuples():
            b = int(r.bucket_start)
            bins = [LatencySketch.decode(x).bins for x in latency.loc[latency.bucket_start == b, "bins"]]
            n = viols.loc[viols.bucket_start == b, "count"].tolist()
            out.append((step, b, int(r.count), int(r.conforming), HLL.decode(r.users_hll).registers, bins, n))
    return sorted(out, key=lambda r: (r[0], r[1]))


def test_rollups_built_from_memory_equal_a_rebuild_from_the_raw_rows(store: Store) -> None:
    """The commit builds the touched hours from what it wrote plus the untouched raw rows it reads."""
    s0, s1 = B - B % H, B - B % H + H
    store.apply_warehouse(batch(s0, {(s0, B): part(2, ["a"], [0.5]), (s0, B + H): part(3, ["b"], [1.0], viol=1),
                                     (s0, B - 86400): part(4, ["c"], [2.0])}, s1), T)  # fmt: skip
    store.apply_warehouse(batch(s1, {(s1, B + 300): part(5, ["d", "e"], [3.0], viol=2)}), T)
    incremental = rollups(store)
    assert [r[:3] for r in incremental] == [
        (3600, B - 86400 - (B - 86400) % H, 4), (3600, s0, 7), (3600, s1, 3),
        (86400, B - 86400 - B % 86400, 4), (86400, B - B % 86400, 10),
    ]  # fmt: skip
    store.rollup_range(B - 2 * 86400, B + 2 * 86400)
    assert rollups(store) == incremental


def test_slices_before_the_next_live_window_are_settled_in_the_same_commit(store: Store) -> None:
    """Only keys that keep a live slice are staged (their older slices folded into the settled row)."""
    s0, s1 = B - B % H, B - B % H + H
    store.apply_warehouse(batch(s0, {(s0, B): part(2, ["a"]), (s1, B): part(1, ["b"]),
                                     (s0, B + 300): part(4, ["c"])}, s1), T)  # fmt: skip
    with store.engine.connect() as conn:
        staged = sorted(
            (int(r.bucket_start), int(r.slice_start), int(r.count))
            for r in conn.execute(select(warehouse_partials))
        )
    assert staged == [(B, SETTLED, 2), (B, s1, 1)]
    assert metrics(store) == {B: (3, 3, metrics(store)[B][2]), B + 300: (4, 4, metrics(store)[B + 300][2])}
    store.apply_warehouse(batch(s1, {(s1, B): part(6, ["b", "d"])}), T)  # the live slice re-read
    assert metrics(store)[B][:2] == (8, 8)
