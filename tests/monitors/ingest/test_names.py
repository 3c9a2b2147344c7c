"""The event-name budget: names that carry ids count under one overflow name, the same way with
either reader, with the known names kept, and no run blows up on them."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from monitors.ingest import columnar, names, native, pipeline
from monitors.ingest.names import OVERFLOW_NAME, Admission, admit, over_budget, track_name_counts
from storage import Store
from tests.monitors.ingest.helpers import counts_by_event, run_ingest, snapshot, track, write_lines


def test_admit_keeps_known_names_then_the_most_frequent_new_ones() -> None:
    counts = {"a": 5, "b": 9, "c": 9, "d": 1, "known": 1, OVERFLOW_NAME: 4}
    got = admit(counts, {"known", "gone"}, budget=4)
    assert got == Admission(("b", "c", "gone", "known"), new=4, overflowed=2, examples=("a", "d"))
    assert admit(counts, {"known"}, budget=0).admitted == ("known",)  # full already: nothing new
    assert admit({"x": 1}, set(), budget=5) == Admission(("x",), 1, 0, ())


def test_over_budget_counts_only_new_names() -> None:
    assert not over_budget({"a", "b", "k"}, {"k"}, budget=3)
    assert over_budget({"a", "b", "c"}, {"k"}, budget=3)
    assert not over_budget({"a", OVERFLOW_NAME}, {"k", OVERFLOW_NAME}, budget=2)
    assert not over_budget({str(i) for i in range(10**4)}, set(), budget=0)  # 0: no budget


def test_track_name_counts_reads_messages_and_v2_operations(tmp_path: Path) -> None:
    lines = [
        track(event="A"), track(event="A"), track(event="B"),
        {"type": "identify", "userId": "u", "timestamp": "2026-11-02T10:00:00Z"},
        {"type": "person", "identifiers": {"id": "1"}, "action": "event", "name": "V2 Name", "timestamp": 1},
        {"type": "person", "identifiers": {"id": "1"}, "action": "identify"},
        "not json", '{"type": "track", "event": 42}', {"type": "track", "event": "x" * 300},
        {"batch": [track(event="A"), track(event="In Body"), {"type": "page", "name": "Home"}], "sentAt": "2026-11-02T10:00:01Z"},
        {"batch": [{"type": "person", "identifiers": {"id": "1"}, "action": "event", "name": "V2 Name"}]},
    ]  # fmt: skip
    lines += ['{"type": "track", "event": "42"}', {"type": "track", "event": {"a": 1}}, {"type": "track", "event": "cut \ud83d"}]
    path = write_lines(tmp_path / "n.jsonl", lines)
    with columnar.connect() as con:  # 42 and {"a": 1}: bad_event_name, not names
        assert track_name_counts(con, str(path)) == {"A": 3, "B": 1, "V2 Name": 2, "42": 1, "x" * 255: 1, "In Body": 1,
                                                     "cut \ufffd": 1}  # fmt: skip


def test_overflow_rows_maps_track_names_outside_the_admitted_set() -> None:
    with duckdb.connect() as con:
        rows = ("SELECT * FROM (VALUES ('a', 'track'), ('b', 'track'), ('$identify', 'identify'), (NULL, 'track')) "
                "t(event, msg_type)")  # fmt: skip
        got = con.execute(names.overflow_rows(con, rows, ("a",))).fetchall()
    assert got == [("a", "track"), (OVERFLOW_NAME, "track"), ("$identify", "identify"), (None, "track")]


def test_the_scanner_stops_past_its_budget_and_maps_names_when_told(tmp_path: Path) -> None:
    assert native.available()
    assert native._scan.OVERFLOW_NAME == OVERFLOW_NAME
    path = write_lines(tmp_path / "many.jsonl", [track(event=f"E{i}") for i in range(6)])
    data = path.read_bytes()
    with duckdb.connect() as con:
        from monitors.ingest import columnar
        from monitors.ingest.conformance import Evaluator
        from monitors.plan import load_plan

        plan = load_plan()
        ev = Evaluator(plan)
        capped = columnar.native_reader(con, plan, columnar.FactOptions(300, 1.8e9, max_names=5), ev)
        with pytest.raises(native.TooManyNames, match="over 5 distinct event names"):
            capped.read(str(path), 0, len(data), lambda _b: None)
        capped.close()
        fixed = columnar.native_reader(con, plan, columnar.FactOptions(300, 1.8e9, admitted=("E1", "E4")), ev)
        out = fixed.read(str(path), 0, len(data), lambda _b: None)
        fixed.close()
    main = out.parts["main"]
    assert main.groupby("event")["n"].sum().to_dict() == {"E1": 1, "E4": 1, OVERFLOW_NAME: 4}


def _flood(tmp_path: Path, name: str = "flood.jsonl") -> Path:
    """3 planned events, then 40 names that carry ids (the 5 first twice as often)."""
    lines = [track(event="Added to Cart", user=f"{name}-u{i}") for i in range(4)]
    lines += [track(event="Checkout Started", user="c", cart_id="c1", checkout_id="k", items=[], cart_value=1)]
    for i in range(40):
        lines += [track(event=f"Viewed product {i}", user=f"v{i}", product_id=str(i))] * (2 if i < 5 else 1)
    return write_lines(tmp_path / name, lines)


@pytest.mark.parametrize("native_reader", [True, False], ids=["native", "duckdb"])
def test_names_over_the_budget_count_as_the_overflow_name(store: Store, tmp_path: Path, native_reader: bool) -> None:
    known = write_lines(tmp_path / "known.jsonl", [track(event="Order Completed", user="o")])
    run_ingest(store, known, native=native_reader, max_event_names=8)
    report = run_ingest(store, _flood(tmp_path), native=native_reader, max_event_names=8)
    expected = {"Order Completed": 1, "Added to Cart": 4, "Checkout Started": 1,
                **{f"Viewed product {i}": 2 for i in range(5)}, OVERFLOW_NAME: 35}  # fmt: skip
    assert counts_by_event(store) == expected
    assert report.events == 50
    assert report.files[0].warning == (
        "42 new event names, over the budget of 8 names for this source: 35 of them are counted as "
        "'(other events)' (most frequent: 'Viewed product 10', 'Viewed product 11', 'Viewed product 12'); "
        "names that carry ids belong in properties")
    again = run_ingest(store, _flood(tmp_path, "more.jsonl"), native=native_reader, max_event_names=8)
    assert counts_by_event(store)["Viewed product 0"] == 4 and counts_by_event(store)[OVERFLOW_NAME] == 70
    assert again.files[0].warning.startswith("35 new event names, over the budget of 8 names")


@pytest.mark.parametrize("shape", ["messages", "batch_bodies"])
def test_both_readers_store_the_same_rows_over_the_budget(tmp_path: Path, shape: str) -> None:
    path = _flood(tmp_path)
    if shape == "batch_bodies":  # the same messages, 9 to a Pipelines body
        msgs = [json.loads(line) for line in path.read_text().splitlines()]
        bodies = [{"batch": msgs[i : i + 9], "sentAt": "2026-11-02T10:00:02Z"} for i in range(0, len(msgs), 9)]
        path = write_lines(tmp_path / "bodies.jsonl", bodies)
    stores = {flag: Store.from_url(f"sqlite:///{tmp_path / f'{flag}.sqlite'}") for flag in (True, False)}
    try:
        for flag, store in stores.items():
            store.migrate()
            report = run_ingest(store, path, native=flag, max_event_names=6)
            assert "over the budget of 6 names" in report.files[0].warning
        assert snapshot(stores[True]) == snapshot(stores[False])
        assert counts_by_event(stores[True])[OVERFLOW_NAME] == 36  # Checkout Started and 35 ids
    finally:
        for store in stores.values():
            store.dispose()


def test_a_later_segment_over_the_budget_is_read_again_with_the_names_fixed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments before the flood are committed as they are; from the one where it starts, each is
    read with its names fixed first, and nothing is counted twice."""
    monkeypatch.setattr(pipeline, "SEGMENT_BYTES", 8192)
    monkeypatch.setattr(pipeline, "TAIL_BYTES", 0)
    calm = [track(event="Added to Cart", user=f"u{i}") for i in range(60)]
    flood = [track(event=f"Item {i:03d}", user="f") for i in range(120)]
    path = write_lines(tmp_path / "late.jsonl", [*calm, *flood, *calm])
    assert len(native.segments(str(path), 0, path.stat().st_size, 8192, 0)) > 4
    report = run_ingest(store, path, max_event_names=10)
    counts = counts_by_event(store)
    assert counts["Added to Cart"] == 120 and sum(counts.values()) == 240 == report.events
    assert len(counts) == 11 and counts[OVERFLOW_NAME] == 111
    assert "over the budget of 10 names" in report.files[0].warning


def test_no_budget_keeps_every_name(store: Store, tmp_path: Path) -> None:
    run_ingest(store, _flood(tmp_path), max_event_names=0)
    assert len(counts_by_event(store)) == 42 and OVERFLOW_NAME not in counts_by_event(store)


def test_a_flood_of_names_reads_in_bounded_time(store: Store, tmp_path: Path) -> None:
    """20,000 distinct names (ids in the name): they once cost ~0.4 ms and ~90 KB each."""
    lines = [json.dumps(track(event=f"Viewed product {i}", user=f"u{i % 50}")) for i in range(20_000)]
    path = write_lines(tmp_path / "ids.jsonl", lines)
    report = run_ingest(store, path)
    assert report.events == 20_000
    counts = counts_by_event(store)
    assert len(counts) == 2001 and counts[OVERFLOW_NAME] == 18_000
