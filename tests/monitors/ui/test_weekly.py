"""The weekly latency review: numbers, exports, the week boundaries."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from monitors.config import Config
from monitors.sketch import LatencySketch
from monitors.ui.weekly import last_full_week, to_csv, to_html, to_text, weekly_review
from storage import Store
from storage.batch import IngestBatch, MetricDelta

END = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
NAME = "Order <b>Completed</b>"


def write_weeks(store: Store) -> None:
    """Two weeks of one event: 1 s last week; this week 1 s except Tuesday 10:00, when it took 120 s."""
    store.set_bucket_seconds(300)
    batch = IngestBatch(source="web", environment="production", sample_rate=1.0, file="w")
    start = int((END - timedelta(days=14)).timestamp())
    slow_hour = int((END - timedelta(days=6) + timedelta(hours=10)).timestamp())
    for b in range(start, int(END.timestamp()), 3600):
        latency = 120.0 if b == slow_hour else (1.0 if b < start + 7 * 86400 else 1.5)
        batch.metrics[(NAME, "track", b)] = MetricDelta(30, 30, 30, 30)
        for hop in ("send", "e2e"):
            batch.latency[(NAME, "track", b, hop)] = LatencySketch.from_values([latency] * 30)
    store.apply_ingest(batch, END)


def test_review_compares_weeks_and_finds_the_worst_hour(store: Store) -> None:
    write_weeks(store)
    review = weekly_review(store, Config(), END)
    assert (review.start, review.end) == (END - timedelta(days=7), END)
    e2e = review.hops[review.hops["hop"] == "e2e"].iloc[0]
    assert e2e["last_p95"] == pytest.approx(1.0, rel=0.01) and e2e["this_p95"] == pytest.approx(1.5, rel=0.01)
    assert e2e["p95_change"] == pytest.approx(1.5, rel=0.02)  # each side within the sketch's 1 %
    assert (e2e["this_n"], e2e["last_n"]) == (168 * 30, 168 * 30)
    assert e2e["within_slo"] == pytest.approx(167 / 168) and e2e["hours_within_slo"] == pytest.approx(167 / 168)
    assert bool(e2e["meets_slo"]) is True
    assert review.hops[review.hops["hop"] == "send"]["slo_s"].isna().all()  # the SLO is on the e2e hop
    worst = review.worst_hours.iloc[0]
    assert worst["hour"] == datetime(2026, 11, 17, 10, tzinfo=UTC) and worst["p95"] == pytest.approx(120, rel=0.01)
    assert list(review.regressions["hop"]) == ["send", "e2e"]


def test_exports_escape_names_and_carry_the_table(store: Store) -> None:
    write_weeks(store)
    review = weekly_review(store, Config(), END)
    rows = list(csv.DictReader(io.StringIO(to_csv(review))))
    assert [(r["event"], r["hop"]) for r in rows] == [(NAME, "send"), (NAME, "e2e")]
    assert rows[1]["week_start"] == "2026-11-16T00:00:00Z" and rows[1]["slo_s"] == "60.0000"
    page = to_html(review)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "Order &lt;b&gt;Completed&lt;/b&gt;" in page and "<b>Completed" not in page
    text = to_text(review)
    assert "1 of 1 events met their latency SLO." in text
    assert "Tue 2026-11-17 10:00 Order <b>Completed</b>: p95 2.0 min (SLO 60.0 s)" in text


def test_an_empty_store_gives_an_empty_review(store: Store) -> None:
    review = weekly_review(store, Config(), END)
    assert review.hops.empty and review.worst_hours.empty and "0 of 0 events" in to_text(review)


def test_last_full_week_ends_on_monday_midnight() -> None:
    assert last_full_week(datetime(2026, 11, 26, 15, 30, tzinfo=UTC)) == END
    assert last_full_week(END) == END
