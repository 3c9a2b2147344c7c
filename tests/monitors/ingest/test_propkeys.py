"""The property-key budget: unplanned keys that carry ids count as one key, the same way with
either reader, with the known keys kept, planned keys never capped, and every count preserved."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitors.ingest.propkeys import OTHER_KEY, KeyBudget
from storage import Store
from storage.tables import property_keys, property_stats, series
from tests.monitors.ingest.helpers import T0, run_ingest, snapshot, track, write_lines

T1 = "2026-11-02T10:07:00.000+00:00"  # the next 5-minute bucket


def test_cap_keeps_known_keys_then_the_most_frequent_new_ones() -> None:
    budget = KeyBudget(3, {("E", "track"): {"known"}})
    props = {("E", "track", 0, "known", "VARCHAR"): 1, ("E", "track", 0, "a", "VARCHAR"): 2,
             ("E", "track", 0, "b", "BIGINT"): 5, ("E", "track", 300, "b", "VARCHAR"): 1,
             ("E", "track", 0, "c", "VARCHAR"): 3, ("E", "track", 300, "d", "VARCHAR"): 3,
             ("F", "track", 0, "z", "BOOLEAN"): 1}  # fmt: skip
    got = budget.cap(props)
    # room for 2 new keys in E: b (6) then c (3, before d by name); a and d count as OTHER_KEY
    assert got == {("E", "track", 0, "known", "VARCHAR"): 1, ("E", "track", 0, "b", "BIGINT"): 5,
                   ("E", "track", 300, "b", "VARCHAR"): 1, ("E", "track", 0, "c", "VARCHAR"): 3,
                   ("E", "track", 0, OTHER_KEY, "VARCHAR"): 2, ("E", "track", 300, OTHER_KEY, "VARCHAR"): 3,
                   ("F", "track", 0, "z", "BOOLEAN"): 1}  # fmt: skip
    assert sum(got.values()) == sum(props.values())
    assert budget.known == {("E", "track"): {"known", "b", "c"}, ("F", "track"): {"z"}}
    assert budget.overflowed == {("E", "track"): Counter({"d": 3, "a": 2})}
    assert budget.describe() == (
        "2 new property keys over the budget of 3 unplanned keys per event are counted as '(other properties)' "
        "(2 of them in 'E', most frequent: 'd', 'a'); keys that carry ids belong in values")
    # a later read: known keys stay themselves, every new one overflows
    assert budget.cap({("E", "track", 600, "a", "VARCHAR"): 1, ("E", "track", 600, "c", "VARCHAR"): 1}) == {
        ("E", "track", 600, OTHER_KEY, "VARCHAR"): 1, ("E", "track", 600, "c", "VARCHAR"): 1}


def test_no_budget_changes_nothing() -> None:
    props = {("E", "track", 0, f"k{i}", "VARCHAR"): 1 for i in range(50)}
    budget = KeyBudget(0)
    assert budget.cap(props) is props and budget.describe() is None


def _dynamic(tmp_path: Path, name: str = "keys.jsonl", n: int = 40) -> Path:
    """Added to Cart with its planned keys and one experiment key each (the 3 first 4 times as
    often), over two buckets; an identify with one unplanned trait."""
    lines = []
    for i in range(n):
        for _ in range(4 if i < 3 else 1):
            lines.append(track(ts=T0 if i % 2 else T1, user=f"{name}-{i}", cart_id="c", items=[], cart_value=1,
                               **{f"exp_{i:03d}": "A"}))  # fmt: skip
    lines.append({"type": "identify", "userId": "u9", "traits": {"email": "a@b.co", "shoe_size": 42}, "timestamp": T0})
    return write_lines(tmp_path / name, lines)


def _props(store: Store) -> dict[tuple[str, str], int]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(series.c.event, property_stats.c.property, func.sum(property_stats.c["count"]))
                            .join(series, series.c.id == property_stats.c.series_id)
                            .group_by(series.c.event, property_stats.c.property)).all()  # fmt: skip
    return {(str(e), str(p)): int(n) for e, p, n in rows}


@pytest.mark.parametrize("native_reader", [True, False], ids=["native", "duckdb"])
def test_keys_over_the_budget_count_as_other_properties(store: Store, tmp_path: Path, native_reader: bool) -> None:
    report = run_ingest(store, _dynamic(tmp_path), native=native_reader, max_property_keys=5)
    props = _props(store)
    expected = {("Added to Cart", k): 49 for k in ("cart_id", "items", "cart_value")}
    expected |= {("Added to Cart", f"exp_{i:03d}"): 4 for i in range(3)}
    expected |= {("Added to Cart", "exp_003"): 1, ("Added to Cart", "exp_004"): 1, ("Added to Cart", OTHER_KEY): 35}
    expected |= {("$identify", "email"): 1, ("$identify", "shoe_size"): 1}
    assert props == expected
    assert report.events == 50
    assert report.files[0].warning == (
        "35 new property keys over the budget of 5 unplanned keys per event are counted as '(other properties)' "
        "(35 of them in 'Added to Cart', most frequent: 'exp_005', 'exp_006', 'exp_007'); "
        "keys that carry ids belong in values")
    with store.engine.connect() as conn:  # the known keys: planned ones too, each once
        assert conn.execute(select(func.count()).select_from(property_keys)).scalar_one() == len(expected)
    # the next file: the 5 known keys count as themselves, every new one as OTHER_KEY
    again = run_ingest(store, _dynamic(tmp_path, "more.jsonl"), native=native_reader, max_property_keys=5)
    props = _props(store)
    assert props[("Added to Cart", "exp_000")] == 8 and props[("Added to Cart", "exp_004")] == 2
    assert props[("Added to Cart", OTHER_KEY)] == 70 and len(props) == len(expected)
    assert again.files[0].warning.startswith("35 new property keys over the budget of 5")


def test_both_readers_store_the_same_rows_over_the_budget(tmp_path: Path) -> None:
    path = _dynamic(tmp_path)
    stores = {flag: Store.from_url(f"sqlite:///{tmp_path / f'{flag}.sqlite'}") for flag in (True, False)}
    try:
        for flag, st in stores.items():
            st.migrate()
            run_ingest(st, path, native=flag, max_property_keys=4)
        assert snapshot(stores[True]) == snapshot(stores[False])
    finally:
        for st in stores.values():
            st.dispose()


def test_no_budget_keeps_every_key(store: Store, tmp_path: Path) -> None:
    report = run_ingest(store, _dynamic(tmp_path), max_property_keys=0)
    props = _props(store)
    assert len([k for e, k in props if k.startswith("exp_")]) == 40 and ("Added to Cart", OTHER_KEY) not in props
    assert report.files[0].warning == ""
