"""Every input format is accepted wherever it appears; everything else is rejected with a reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from monitors.ingest.columnar import strict_json
from monitors.plan import load_plan
from monitors.report import metric_records
from storage import Store
from tests.monitors.ingest.helpers import T0, counts_by_event, run_ingest, track, write_lines


def test_segment_pipelines_batch_and_track_v2_batch_in_one_file(store: Store, tmp_path: Path) -> None:
    pipelines = {
        "batch": [
            {**track("Product Viewed", product_id="p1", variant_id="v1", category="skin", price=12.5), "sentAt": None},
            {"type": "identify", "userId": "u2", "traits": {"email": "a@b.co"}, "timestamp": T0, "messageId": "i1"},
        ],
        "sentAt": "2026-11-02T10:00:02.000+00:00",
        "context": {"library": {"name": "analytics-python", "version": "1.1.0"}},
    }
    track_v2 = {
        "batch": [
            {"type": "person", "identifiers": {"id": "u3"}, "action": "event", "name": "Order Completed",
             "timestamp": 1793613600, "attributes": {"order_id": "o1", "items": [{"product_id": "p1", "quantity": 1, "price": 3}],
                                                     "revenue": 3}},
            {"type": "person", "identifiers": {"id": "u3"}, "action": "identify", "timestamp": 1793613600,
             "attributes": {"first_name": "Ana"}},
        ]
    }  # fmt: skip
    path = write_lines(tmp_path / "mixed.jsonl", [track(), pipelines, "", track_v2, "   "])
    report = run_ingest(store, path)
    assert (report.events, report.rejected) == (5, 0)
    assert counts_by_event(store) == {"$identify": 2, "Added to Cart": 1, "Order Completed": 1, "Product Viewed": 1}
    pv = next(r for r in metric_records(store) if r["event"] == "Product Viewed")
    # the batch's top-level sentAt applies to its messages: 2 s from event time to send
    assert pv["send_p50_s"] is not None and abs(pv["send_p50_s"] - 2.0) <= 0.02


def test_track_v2_operations_without_a_time_count_when_they_are_read(store: Store, tmp_path: Path) -> None:
    # The Track API stamps an operation without ``timestamp`` on receipt (identify has none as a
    # rule): the ingest counts it in the bucket of the moment it reads it; a Segment message with
    # no time at all stays a missing_timestamp reject.
    from datetime import UTC, datetime

    from monitors.ingest.pipeline import IngestOptions, ingest
    from monitors.plan import load_plan

    body = {"batch": [
        {"type": "person", "identifiers": {"id": "u1"}, "action": "identify", "attributes": {"first_name": "Ana"}},
        {"type": "person", "identifiers": {"email": "b@x.co"}, "action": "identify", "attributes": {}},
        {"type": "person", "identifiers": {"id": "u1"}, "action": "event", "name": "Order Completed",
         "attributes": {"order_id": "o1", "items": [], "revenue": 3}},
        {"type": "person", "identifiers": {"id": "u1"}, "action": "event", "name": "Order Completed", "timestamp": 1793613600,
         "attributes": {"order_id": "o2", "items": [], "revenue": 4}},
    ]}  # fmt: skip
    path = write_lines(tmp_path / "v2.jsonl", [body, {"type": "track", "event": "x", "userId": "u"}])
    now = datetime(2026, 11, 29, 6, 42, 10, tzinfo=UTC)
    opts = IngestOptions("web", "production", load_plan(), final_line_grace=0.0, clock=lambda: now)
    report = ingest(store, [str(path)], opts)
    assert (report.events, report.rejected) == (4, 1)
    assert {r["reason"]: r["count"] for r in store.read_rejects()} == {"missing_timestamp": 1}
    got = sorted((r["event"], r["bucket_start"], r["count"]) for r in metric_records(store))
    assert got == [("$identify", "2026-11-29T06:40:00Z", 2), ("Order Completed", "2026-11-02T10:00:00Z", 1),
                   ("Order Completed", "2026-11-29T06:40:00Z", 1)]  # fmt: skip
    assert all(r["latency_p50_s"] is None for r in metric_records(store))


@pytest.mark.parametrize("native_on", [True, False], ids=["native", "duckdb_only"])
def test_pipelines_batch_bodies_of_many_messages_are_read_in_bounded_memory(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, native_on: bool
) -> None:
    # An SDK posts up to 100 messages per body: a log of such bodies has lines of ~60 KB. DuckDB
    # reads 2,048 lines per vector, so whole bodies took hundreds of MB (a 62 MB log of them failed
    # at the 512 MB limit; this one fails at 160 MB); the native scanner hands them over one
    # message per line, and without it the file is read in pieces of a few MB.
    from monitors.ingest import columnar, native

    if native_on and not native.usable(load_plan(), 1.0):
        pytest.skip("the native scanner is switched off (EHM_NATIVE=0)")
    connect = columnar.connect
    monkeypatch.setattr(columnar, "connect", lambda **kw: connect(**{**kw, "memory_limit": "160MB"}))
    monkeypatch.setattr(columnar, "PIECE_BYTES", 1 << 20)  # 8 MB pieces of whole bodies need the real 512 MB
    events = ["Product Viewed", "Added to Cart", "Checkout Started", "Order Completed"]
    bodies = []
    for b in range(150):
        batch = [{**track(events[(b + i) % 4], user=f"u{b}-{i}", note="x" * 300), "messageId": f"m{b}-{i}"} for i in range(100)]
        batch[7] = 42 if b % 50 == 0 else batch[7]  # a non-object element: rejected, the rest read
        bodies.append({"batch": batch, "sentAt": "2026-11-02T10:00:03.000+00:00", "context": {"app": {"build": "dev"}}})
    path = write_lines(tmp_path / "bodies.jsonl", bodies)
    assert path.stat().st_size > 7_000_000
    report = run_ingest(store, path, native=native_on)
    assert (report.events, report.rejected) == (14_997, 3)
    assert counts_by_event(store) == {e: sum(1 for b in range(150) for i in range(100) if (b + i) % 4 == k
                                            and not (b % 50 == 0 and i == 7)) for k, e in enumerate(events)}  # fmt: skip
    assert {r["reason"]: r["count"] for r in store.read_rejects()} == {"not_an_object": 3}
    rec = next(r for r in metric_records(store) if r["event"] == "Order Completed")
    assert rec["send_p50_s"] is not None and abs(rec["send_p50_s"] - 3.0) <= 0.03  # the body's sentAt, to each message


def test_numeric_timestamps_in_seconds_ms_us_and_ns_fall_in_the_same_bucket(store: Store, tmp_path: Path) -> None:
    """Epoch numbers (and numeric strings) in any of the four units a backend may write."""
    epoch = 1793613600  # 2026-11-02T10:00:00Z
    stamps = [epoch, epoch * 1000 + 250, f"{epoch * 1_000_000 + 250_000}", epoch * 1_000_000_000 + 250_000_000]
    lines = [{**track(user=f"u{i}"), "timestamp": ts} for i, ts in enumerate(stamps)]
    report = run_ingest(store, write_lines(tmp_path / "epochs.jsonl", lines))
    assert (report.events, report.rejected) == (4, 0)
    (rec,) = metric_records(store)
    assert (rec["bucket_start"], rec["count"], rec["violations"]) == ("2026-11-02T10:00:00Z", 4, {})


def test_gzip_files_are_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        for i in range(7):
            fh.write(json.dumps(track(user=f"u{i}")) + "\n")
    assert run_ingest(store, path).events == 7
    assert counts_by_event(store) == {"Added to Cart": 7}


def test_every_rejection_reason_is_counted_exactly(store: Store, tmp_path: Path) -> None:
    lines: list[object] = [
        "not json at all",                                   # invalid_json
        '{"type": "track", "event": "x"',                    # invalid_json (truncated)
        b'{"type": "track", "event": "\xff\xfe"}',           # not_utf8
        "[1, 2, 3]",                                         # not_an_object
        '"a string"',                                        # not_an_object
        " null ",                                            # not_an_object
        {"hello": "world"},                                  # unknown_type
        {"type": "purchase", "event": "x", "timestamp": T0},  # unknown_type
        {"type": "track", "timestamp": T0, "userId": "u"},   # missing_event_name
        {"type": "track", "event": "  ", "timestamp": T0},   # missing_event_name
        {"type": "track", "event": "x", "timestamp": "yesterday"},  # bad_timestamp
        {"type": "track", "event": "x", "timestamp": T0, "sentAt": "soon"},  # bad_timestamp
        {"type": "track", "event": "x"},                     # missing_timestamp
        {"batch": "not-a-list"},                             # bad_batch
        {"batch": None},                                     # bad_batch
        {"batch": [track(), 42]},                            # 1 good + not_an_object
        track(), track(user="u2"),
    ]  # fmt: skip
    report = run_ingest(store, write_lines(tmp_path / "bad.jsonl", lines))
    assert report.events == 3
    got = {r["reason"]: r["count"] for r in store.read_rejects()}
    assert got == {
        "invalid_json": 2, "not_utf8": 1, "not_an_object": 4, "unknown_type": 2, "missing_event_name": 2,
        "bad_timestamp": 2, "missing_timestamp": 1, "bad_batch": 2,
    }  # fmt: skip


@pytest.mark.parametrize("native_on", [True, False], ids=["native", "duckdb_only"])
def test_what_duckdb_parses_but_json_does_not_allow_is_invalid_json(store: Store, tmp_path: Path, native_on: bool) -> None:
    """Trailing commas and NaN / Infinity (DuckDB accepts them; Customer.io does not), in single
    messages and batch bodies; the same text inside strings is fine. (Lowercase nan / inf, which no
    common serializer writes, are not looked for.)"""
    good = json.dumps(track(user="ok"))
    lines: list[object] = [
        good[:-2] + ",}}",                                            # trailing comma in properties
        good.replace('"items": [', '"items": [1, ').replace("]", ", ]", 1),  # trailing comma in an array
        good.replace('"cart_value": 9.5', '"cart_value": NaN'),
        good.replace('"cart_value": 9.5', '"cart_value": -Infinity'),
        good.replace('"price": 9.5', '"price": NaN'),                 # inside an item
        json.dumps({"batch": [track(user="b1")]})[:-2] + ",]}",     # a batch body with a trailing comma
        json.dumps(track(user="s", note="a,} b, nan [,inf")),       # that text in a string: a good line
        json.dumps({"batch": [track(user="b2"), track(user="b3")]}),
    ]  # fmt: skip
    report = run_ingest(store, write_lines(tmp_path / "lenient.jsonl", lines), native=native_on)
    assert (report.events, report.rejected) == (3, 6)
    assert {r["reason"]: r["count"] for r in store.read_rejects()} == {"invalid_json": 6}


@pytest.mark.parametrize("native_on", [True, False], ids=["native", "duckdb_only"])
def test_lone_surrogate_escapes_are_read_as_the_replacement_character(store: Store, tmp_path: Path, native_on: bool) -> None:
    """An emoji cut in half (``json.dumps`` of a broken string, a JavaScript ``substring``) leaves a
    lone surrogate escape: valid JSON, accepted by Customer.io as U+FFFD; DuckDB alone refused
    the line (invalid_json). An escaped backslash before the text ``ud83d`` is no escape at all."""
    cut = json.dumps(track(user="u1", note="\ud83d"))  # json.dumps writes the lone half as an escape
    assert "\\ud83d" in cut
    lines: list[object] = [
        cut,
        json.dumps(track("Order Completed \udc00", order_id="o1", items=[], revenue=1)),  # a lone low half
        json.dumps(track("Product Viewed \ud83d\ud83d", product_id="p", variant_id="v", category="c", price=1)),
        json.dumps(track("Product Viewed \ud83d\ude00", product_id="p", variant_id="v", category="c", price=1)),
        json.dumps(track("Product Viewed").__or__({"event": "back\\ud83dslash"})),  # \\ud83d: text
        json.dumps({"batch": [track(user="b1", note="x\udbff"), track(user="b2")]}),
        '{"type":"track","event":"Added to Cart","userId":"u\\ud800","timestamp":"' + T0 + '"}',
    ]  # fmt: skip
    report = run_ingest(store, write_lines(tmp_path / "surrogates.jsonl", lines), native=native_on)
    assert (report.events, report.rejected) == (8, 0)
    assert counts_by_event(store) == {
        "Added to Cart": 4, "Order Completed \ufffd": 1, "Product Viewed \ufffd\ufffd": 1, "Product Viewed \U0001f600": 1,
        "back\\ud83dslash": 1,
    }  # fmt: skip


@pytest.mark.parametrize("native_on", [True, False], ids=["native", "duckdb_only"])
def test_an_event_name_that_is_not_a_string_is_bad_event_name(store: Store, tmp_path: Path, native_on: bool) -> None:
    """Customer.io's SDKs and APIs take a string: a number, boolean, array or object there drives no
    journey, and must not become a series named ``123`` or ``{"a":1}``. Strings that spell the
    same text are names like any other."""
    v2 = {"type": "person", "identifiers": {"id": "u1"}, "action": "event", "timestamp": 1793613600, "attributes": {}}
    lines: list[object] = [
        track(123), track(-1.5), track(True), track(False), track(["x"]), track({"a": 1}),
        track("123"), track("true"), track("[draft] Order"), track("404 Page Viewed"), track("-"),
        {"batch": [track(7), track("7")]},
        {"batch": [{**v2, "name": 9}, {**v2, "name": {"n": 1}}, {**v2, "name": "9"}]},
        {**v2, "name": False},
        track(5, note="cut \ud83d"),  # parsed once its lone surrogate escape is replaced
    ]  # fmt: skip
    report = run_ingest(store, write_lines(tmp_path / "names.jsonl", lines), native=native_on)
    assert (report.events, report.rejected) == (7, 11)
    assert {r["reason"]: r["count"] for r in store.read_rejects()} == {"bad_event_name": 11}
    assert counts_by_event(store) == {"123": 1, "true": 1, "[draft] Order": 1, "404 Page Viewed": 1, "-": 1, "7": 1, "9": 1}


def test_strict_json() -> None:
    assert [strict_json(x) for x in ('{"a": [1, 2]}', '{"a": 1,}', "[1,]", '{"a": NaN}', "Infinity", '"NaN,]"', " 1 ")] == [
        True, False, False, False, False, True, True]  # fmt: skip


def test_reject_samples_are_redacted_and_limited_to_three(store: Store, tmp_path: Path) -> None:
    lines = [f"garbage from jane.doe{i}@example.com call +1 415 555 01{i:02d}" for i in range(10)]
    run_ingest(store, write_lines(tmp_path / "g.jsonl", lines))
    (row,) = store.read_rejects()
    assert row["count"] == 10 and len(row["samples"]) == 3
    for s in row["samples"]:
        assert "jane.doe" not in s["sample"] and "555" not in s["sample"]
        assert "j***@example.com" in s["sample"]
    assert len(store.quarantined("web")) == 10


def test_oversized_message_is_counted_and_flagged(store: Store, tmp_path: Path) -> None:
    big = track(cart_id="c1", items=[{"product_id": "p", "quantity": 1, "price": 1}], cart_value=1, note="x" * 40000)
    run_ingest(store, write_lines(tmp_path / "big.jsonl", [big, track()]))
    (rec,) = metric_records(store)
    assert rec["count"] == 2
    assert rec["violations"]["payload_too_large"] == 1


def test_a_batch_context_applies_to_each_message_of_the_batch(store: Store, tmp_path: Path) -> None:
    """Pipelines /v1/batch: the body's own ``context`` fills what a message's context lacks (here
    the page URL a leak signal looks at); a message's own value wins."""
    msgs = [{"type": "track", "event": "Product Viewed", "userId": f"u{i}", "timestamp": T0,
             "properties": {"product_id": "p", "variant_id": "v", "category": "c", "price": 1.0}} for i in range(3)]  # fmt: skip
    msgs[2]["context"] = {"page": {"url": "https://shop.example-brand.com/p/1"}}
    body = {"batch": msgs, "context": {"page": {"url": "https://staging.example-brand.com/p/1"}}, "sentAt": T0}
    run_ingest(store, write_lines(tmp_path / "b.jsonl", [body]))
    frame = store.read_violations(None, None)
    leaks = frame[(frame["vtype"] == "leak") & (frame["property"] == "nonprod_host")]
    assert int(leaks["count"].sum()) == 2
