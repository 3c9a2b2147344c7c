"""SemanticStore reads against real SQLite and PostgreSQL, filled by the real ingest."""

from __future__ import annotations

from pathlib import Path

from monitors.sketch import HLL
from storage import Store
from tests.monitors.ingest.helpers import run_ingest, track, write_lines

T1 = "2026-11-02T10:00:00.000+00:00"
T2 = "2026-11-02T10:07:00.000+00:00"
B1, B2 = 1793613600, 1793614020 // 300 * 300


def _fill(store: Store, tmp_path: Path) -> None:
    lines = [
        track(user="u1", ts=T1, sent="2026-11-02T10:00:02.000+00:00", received="2026-11-02T10:00:03.000+00:00",
              cart_id="c1", items=[{"product_id": "p", "quantity": 1, "price": 2.0}], cart_value="12"),
        track(user="qa_test_1", ts=T2, cart_id="c2", items=[{"product_id": "p", "quantity": 1, "price": 2.0}], cart_value=3),
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "timestamp": T2, "traits": {"First_name": "Ana"}},
    ]  # fmt: skip
    run_ingest(store, write_lines(tmp_path / "e.jsonl", lines))


def test_frames_hold_metrics_violations_types_latency_samples_and_identity(store: Store, tmp_path: Path) -> None:
    _fill(store, tmp_path)
    m = store.read_bucket_metrics(None, None)
    assert sorted(zip(m["event"], m["bucket_start"], m["checked"], strict=True)) == [
        ("$identify", B2, 1), ("Added to Cart", B1, 1), ("Added to Cart", B2, 1)]  # fmt: skip
    v = store.read_violations(B2, None)
    assert set(zip(v["vtype"], v["property"], strict=True)) >= {("leak", ""), ("leak", "test_user_id")}
    assert store.read_violations(None, B2, vtypes=["wrong_type"])[["event", "property"]].values.tolist() == [
        ["Added to Cart", "cart_value"]]  # fmt: skip
    p = store.read_property_stats(B1, B2)
    assert ("cart_value", "VARCHAR", 1) in set(zip(p["property"], p["json_type"], p["count"], strict=True))
    lat = store.read_latency_bins(None, None)
    assert set(lat["hop"]) == {"send", "deliver", "e2e"} and all(isinstance(b, bytes) for b in lat["bins"])
    s = store.read_sample_payloads()
    assert {"wrong_type", "leak"} <= set(s["vtype"]) and s["sample"].str.len().min() > 10
    ident = store.read_identity_blobs(None, None)
    row = ident[ident["event"] == "$identify"].iloc[0]
    assert round(HLL.decode(row["uid_hll"]).estimate()) == 1 and HLL.decode(row["anon_only_hll"]).registers == {}
    totals = store.read_property_totals(None, None)
    assert ("$identify", "First_name", 1) in set(zip(totals["event"], totals["property"], totals["count"], strict=True))
    assert dict(zip(store.read_event_totals(B2, None)["event"], store.read_event_totals(B2, None)["count"], strict=True)) == {
        "$identify": 1, "Added to Cart": 1}  # fmt: skip


def test_empty_store_frames_keep_their_columns(store: Store) -> None:
    assert list(store.read_violations(None, None).columns) == ["source", "environment", "event", "bucket_start", "vtype",
                                                               "property", "count"]  # fmt: skip
    assert store.read_latency_bins(0, 1).empty and list(store.read_identity_blobs(0, 1).columns)[-1] == "linked_hll"
