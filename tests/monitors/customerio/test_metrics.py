from __future__ import annotations

from typing import Any

import pytest

from monitors.customerio.metrics import (
    activity_name,
    count_activities,
    event_timestamp,
    gap_estimate,
    metric_rows,
    next_resume,
)
from monitors.customerio.models import MetricRow, ResumePoint, StreamRead


def act(atype: str, ts: int, name: str | None = None, data: Any = None, id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": id or f"{atype}-{ts}", "type": atype, "timestamp": ts}
    if name is not None:
        out["name"] = name
    if data is not None:
        out["data"] = data
    return out


@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        (act("event", 1, "signup"), "signup"),
        (act("failed_event", 1, "signup"), "signup"),
        (act("screen", 1, "Home"), "Home"),
        (act("attribute_change", 1, "plan"), "plan"),
        (act("attribute_change", 1, data={"email": {"from": "a", "to": "b"}}), "email"),
        (act("failed_attribute_change", 1, "tags"), "tags"),
        ({**act("page", 1), "url": "https://x/y"}, ""),
        (act("bounced_email", 1), ""),
        (act("profile_create", 1), ""),
    ],
    ids=["event", "failed_event", "screen", "attribute", "attribute-from-data", "failed-attribute", "page",
         "message", "profile"],
)
def test_activity_names(activity: dict[str, Any], expected: str) -> None:
    assert activity_name(activity) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [({"event_timestamp": 900}, 900), ({"event_timestamp": 1300}, 1300), ({"event_timestamp": 1301}, None),
     ({"event_timestamp": True}, None), ({"event_timestamp": "900"}, None), ({}, None), (None, None)],
    ids=["past", "skew-allowed", "future", "bool", "string", "absent", "no-data"],
)
def test_event_timestamp_is_taken_only_when_plausible(data: Any, expected: int | None) -> None:
    assert event_timestamp(act("event", 1000, "x", data)) == expected


def test_events_bucket_by_their_own_time_and_carry_latency() -> None:
    accs = count_activities([
        act("event", 1000, "buy", {"event_timestamp": 580}),
        act("event", 1010, "buy", {"event_timestamp": 590}),
        act("event", 1000, "buy"),
        act("failed_event", 1000, "buy", {"event_timestamp": 10}),
        act("sent_email", 1000),
    ], bucket=300)
    summary = {k: (a.count, a.latency_n, a.latency_sum, a.latency_max) for k, a in accs.items()}
    assert summary == {
        ("event", "buy", 300): (2, 2, 840.0, 420.0),
        ("event", "buy", 900): (1, 0, 0.0, 0.0),
        ("failed_event", "buy", 0): (1, 0, 0.0, 0.0),
        ("sent_email", "", 900): (1, 0, 0.0, 0.0),
    }


def previous(ts: int) -> ResumePoint:
    return ResumePoint("*", ts, ("x",), 0, ts)


def test_gap_estimate_spreads_the_read_rate_over_the_unread_interval() -> None:
    # previous run saw up to t=99; this one read t=400..499 (100 events) and ran out of budget
    read = StreamRead("*", [act("event", t, "e") for t in range(499, 399, -1)], "budget", 2, previous(99))
    rows, rate = gap_estimate(read, bucket=100)
    assert rate == pytest.approx(100 / 400)
    assert [(r.bucket_start, r.count, r.estimated) for r in rows] == [
        (100, 100, True), (200, 100, True), (300, 100, True)]


def test_gap_estimate_rounds_to_the_total() -> None:
    read = StreamRead("*", [act("event", t, "e") for t in (160, 150)], "budget", 1, previous(99))
    rows, rate = gap_estimate(read, bucket=30)
    assert sum(r.count for r in rows) == round(2 * 50 / 11)
    assert rate == pytest.approx(11 / 61)


@pytest.mark.parametrize("stop", ["resume", "end"])
def test_complete_reads_have_no_estimate(stop: str) -> None:
    read = StreamRead("*", [act("event", 500, "e")], stop, 1, previous(99))
    assert gap_estimate(read, 100) == ([], 1.0)


def test_first_run_budget_shortfall_is_not_estimated() -> None:
    read = StreamRead("*", [act("event", 500, "e")], "budget", 1, None)
    assert gap_estimate(read, 100) == ([], 1.0)


def test_metric_rows_merge_exact_and_estimated_rows_of_a_bucket() -> None:
    read = StreamRead("*", [act("event", t, "e") for t in (250, 240)], "budget", 1, previous(199))
    rows, rate = metric_rows([read], bucket=100)
    # read span 240..250 (11 s) holds 2; the 40 unread seconds 200..239 get round(2 * 40 / 11) = 7
    assert rows == [MetricRow("event", "e", 200, 2 + 7, True, pytest.approx(11 / 51))]  # type: ignore[arg-type]
    assert rate == pytest.approx(11 / 51)


def test_next_resume_keeps_the_newest_ids_of_the_newest_second() -> None:
    read = StreamRead("*", [act("event", 50, id="c"), act("event", 50, id="b"), act("event", 49, id="a")],
                      "end", 1, None)
    assert next_resume(read, now=60, horizon=0) == ResumePoint("*", 50, ("c", "b"), 0, 60)


def test_next_resume_in_the_same_second_adds_to_the_boundary() -> None:
    prev = ResumePoint("*", 50, ("b",), 7, 55)
    read = StreamRead("*", [act("event", 50, id="c")], "resume", 1, prev)
    assert next_resume(read, now=60, horizon=0) == ResumePoint("*", 50, ("c", "b"), 7, 60)


@pytest.mark.parametrize(("stop", "covered_from"), [("end", 0), ("backfill", 10), ("budget", 41)])
def test_first_run_coverage_starts_where_reading_did(stop: str, covered_from: int) -> None:
    read = StreamRead("*", [act("event", 50), act("event", 40)], stop, 1, None)
    assert next_resume(read, now=60, horizon=10).covered_from == covered_from


def test_idle_run_keeps_the_resume_point_and_extends_coverage() -> None:
    prev = ResumePoint("event", 50, ("b",), 7, 55)
    read = StreamRead("event", [], "resume", 1, prev)
    assert next_resume(read, now=90, horizon=0) == ResumePoint("event", 50, ("b",), 7, 90)
