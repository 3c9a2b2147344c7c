from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect

from storage import Store
from tests.monitors.alerts.conftest import add_finding, resolve

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def outbox(**overrides: Any) -> dict[str, Any]:
    row = {
        "route": "oncall",
        "receiver": "pager",
        "kind": "alert",
        "state": "firing",
        "group_hash": "g1",
        "thread_id": None,
        "closes_thread": False,
        "message": '{"title": "x"}',
        "created_at": T0,
        "next_attempt_at": T0,
    }
    return {**row, **overrides}


def log(fp: str, transition: str, route: str = "oncall", at: datetime = T0) -> dict[str, Any]:
    return {"route": route, "fingerprint": fp, "transition": transition, "group_hash": "g1", "at": at}


def test_migration_creates_the_alert_tables(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"alert_outbox", "alert_log", "alert_silences"} <= tables


def test_a_new_thread_points_at_its_own_message_and_follow_ups_at_the_first(store: Store) -> None:
    first = store.enqueue_notification(outbox(), [log("a", "firing:warning")])
    follow = store.enqueue_notification(
        outbox(thread_id=first, state="resolved", closes_thread=True), [log("a", "resolved")]
    )
    assert (first, follow) == (1, 2)
    rows = {r["id"]: r for r in store.list_outbox()}
    assert (rows[1]["thread_id"], rows[2]["thread_id"], rows[2]["closes_thread"]) == (1, 1, True)
    assert [(r["transition"], r["outbox_id"], r["thread_id"]) for r in store.alert_log_for(["a"])] == [
        ("firing:warning", 1, 1),
        ("resolved", 2, 1),
    ]


def test_a_transition_already_logged_for_a_route_is_refused_atomically(store: Store) -> None:
    assert store.enqueue_notification(outbox(), [log("a", "firing:warning")]) == 1
    assert (
        store.enqueue_notification(outbox(), [log("b", "firing:warning"), log("a", "firing:warning")]) is None
    )
    assert store.outbox_counts() == {"pending": 1}
    assert store.alert_log_for(["b"]) == []
    assert (
        store.enqueue_notification(outbox(route="other"), [log("a", "firing:warning", route="other")]) or 0
    ) > 1


def test_silent_log_rows_need_no_message(store: Store) -> None:
    assert store.enqueue_notification(None, [{**log("a", "resolved"), "thread_id": 7}]) == 0
    [row] = store.alert_log_for(["a"])
    assert (row["outbox_id"], row["thread_id"]) == (None, 7)


def test_candidates_are_active_findings_and_notified_ones_awaiting_their_resolution(store: Store) -> None:
    open_fp = add_finding(store, event="A")
    acked = add_finding(store, event="B", status="acknowledged")
    quiet_resolved = add_finding(store, event="C", status="resolved")
    pending_resolution = add_finding(store, event="D")
    resolve(store, pending_resolution, T0 + timedelta(minutes=5))
    done = add_finding(store, event="E", status="resolved")
    store.enqueue_notification(outbox(), [log(pending_resolution, "firing:warning")])
    store.enqueue_notification(outbox(), [log(done, "firing:warning")])
    store.enqueue_notification(outbox(), [log(done, "resolved")])
    fps = [r["fingerprint"] for r in store.alert_candidates()]
    assert sorted(fps) == sorted([open_fp, acked, pending_resolution])
    assert quiet_resolved not in fps
    resolve(store, quiet_resolved, T0 + timedelta(minutes=3))
    recent = [r["fingerprint"] for r in store.alert_candidates(resolved_since=T0 + timedelta(minutes=3))]
    assert sorted(recent) == sorted([open_fp, acked, quiet_resolved, pending_resolution])
    later = [r["fingerprint"] for r in store.alert_candidates(resolved_since=T0 + timedelta(minutes=4))]
    assert sorted(later) == sorted([open_fp, acked, pending_resolution])


def test_claims_are_leases_and_outcomes_are_recorded(store: Store) -> None:
    store.enqueue_notification(outbox(next_attempt_at=T0 + timedelta(seconds=30)), [])
    assert not store.claim_outbox(1, T0, T0 + timedelta(minutes=2))  # not due yet
    now = T0 + timedelta(seconds=30)
    assert store.claim_outbox(1, now, now + timedelta(minutes=2))
    assert not store.claim_outbox(1, now + timedelta(minutes=1), now + timedelta(minutes=3))
    assert store.claim_outbox(1, now + timedelta(minutes=2), now + timedelta(minutes=4))
    store.finish_outbox(1, "sent", now + timedelta(minutes=2), receipt={"ts": "1.2"})
    row = store.outbox_row(1)
    assert row is not None
    assert (row["status"], row["attempts"], row["receipt"], row["claimed_until"]) == (
        "sent",
        2,
        {"ts": "1.2"},
        None,
    )
    assert store.unsent_outbox() == []


def test_failed_rows_keep_their_reason_and_are_listed_by_status(store: Store) -> None:
    store.enqueue_notification(outbox(), [])
    store.enqueue_notification(outbox(), [])
    store.finish_outbox(1, "failed", T0, error="webhook hook: HTTP 400 bad")
    store.finish_outbox(2, "pending", T0, error="HTTP 503", next_attempt_at=T0 + timedelta(minutes=1))
    [failed] = store.list_outbox(status="failed")
    assert (failed["id"], failed["last_error"]) == (1, "webhook hook: HTTP 400 bad")
    assert store.outbox_counts() == {"failed": 1, "pending": 1}
    assert [r["id"] for r in store.unsent_outbox()] == [2]
    assert store.outbox_row(2)["next_attempt_at"] == T0 + timedelta(minutes=1)  # type: ignore[index]


def test_group_last_sent_ignores_silent_rows(store: Store) -> None:
    store.enqueue_notification(outbox(), [log("a", "firing:warning", at=T0)])
    store.enqueue_notification(None, [log("a", "resolved", at=T0 + timedelta(hours=1))])
    assert store.group_last_sent(["g1", "g2"]) == {("oncall", "g1"): T0}


def test_silences_are_listed_until_they_end_and_can_be_expired(store: Store) -> None:
    sid = store.add_silence({"event": "Order *"}, T0, T0 + timedelta(hours=2), "ana", "deploy", T0)
    [row] = store.list_silences(T0 + timedelta(hours=1))
    assert (row["id"], row["matchers"], row["created_by"], row["comment"]) == (
        sid,
        {"event": "Order *"},
        "ana",
        "deploy",
    )
    assert store.expire_silence(sid, T0 + timedelta(hours=1))
    assert not store.expire_silence(sid, T0 + timedelta(hours=1, minutes=1))
    assert store.list_silences(T0 + timedelta(hours=1, minutes=1)) == []
    [expired] = store.list_silences(T0, include_expired=True)
    assert expired["ends_at"] == T0 + timedelta(hours=1)
