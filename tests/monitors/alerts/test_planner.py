from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitors.alerts.finding import AlertFinding
from monitors.alerts.planner import GroupPlan, LogEntry, plan_group, split
from monitors.alerts.routing import Route, build_tree
from tests.monitors.alerts.conftest import at, make_config
from tests.monitors.alerts.factories import make_finding


def route(**settings: Any) -> Route:
    base = {
        "receiver": "out",
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
        **settings,
    }
    tree = build_tree(make_config([{"name": "out", "type": "file"}], base).alerts)
    assert tree is not None
    return tree


def plan(
    findings: Sequence[AlertFinding],
    now: datetime,
    log: dict[str, list[LogEntry]] | None = None,
    last_sent: datetime | None = None,
    muted: frozenset[str] = frozenset(),
    **settings: Any,
) -> GroupPlan | None:
    members = [(f, f.fingerprint in muted) for f in findings]
    return plan_group(route(**settings), {"source": "web"}, "g1", members, log or {}, last_sent, now)


FIRST_SENT = at(seconds=30)


def sent(*transitions: str, when: datetime = FIRST_SENT, thread: int = 7) -> list[LogEntry]:
    return [LogEntry(t, when, "g1", thread, thread) for t in transitions]


def changes(p: GroupPlan | None) -> list[tuple[str, str | None]]:
    assert p is not None
    return [(c.transition, c.previous) for c in p.changes]


def test_a_new_finding_waits_group_wait_then_fires_in_a_new_thread() -> None:
    f = make_finding()
    assert plan([f], at(seconds=29)) is None
    p = plan([f], at(seconds=30))
    assert changes(p) == [("firing:warning", None)]
    assert p is not None and (p.thread_id, p.repeat, p.closes_thread, p.suppressed) == (
        None,
        False,
        False,
        (),
    )


def test_related_findings_arriving_within_group_wait_share_one_message() -> None:
    first, second = (
        make_finding("volume_drop", event="A"),
        make_finding("volume_drop", event="B", created_at=at(seconds=20)),
    )
    p = plan([first, second], at(seconds=30))
    assert p is not None
    assert [c.finding.event for c in p.changes] == ["A", "B"]


def test_a_finding_joining_an_ongoing_group_waits_group_interval_after_the_last_message() -> None:
    old, new = make_finding(event="A"), make_finding(event="B", created_at=at(minutes=1))
    log = {old.fingerprint: sent("firing:warning")}
    assert plan([old, new], at(minutes=5, seconds=29), log, last_sent=at(seconds=30)) is None
    p = plan([old, new], at(minutes=5, seconds=30), log, last_sent=at(seconds=30))
    assert changes(p) == [("firing:warning", None)]
    assert p is not None and p.thread_id == 7


def test_still_firing_findings_repeat_every_repeat_interval_with_a_new_key() -> None:
    f = make_finding()
    log = {f.fingerprint: sent("firing:warning")}
    assert plan([f], at(minutes=60, seconds=29), log, last_sent=at(seconds=30)) is None
    p = plan([f], at(minutes=60, seconds=30), log, last_sent=at(seconds=30))
    assert changes(p) == [("repeat:1", "firing:warning")] and p is not None and p.repeat
    log[f.fingerprint] += sent("repeat:1", when=at(minutes=60, seconds=30))
    assert changes(plan([f], at(minutes=121), log, last_sent=at(minutes=60, seconds=30))) == [
        ("repeat:2", "firing:warning")
    ]


def test_escalation_notifies_and_de_escalation_does_not() -> None:
    up = make_finding(severity="critical")
    p = plan([up], at(minutes=6), {up.fingerprint: sent("firing:warning")}, last_sent=at(seconds=30))
    assert changes(p) == [("firing:critical", "firing:warning")]
    down = make_finding(severity="warning")
    assert (
        plan([down], at(minutes=6), {down.fingerprint: sent("firing:critical")}, last_sent=at(seconds=30))
        is None
    )


def test_acknowledgement_is_notified_once_and_stops_repeats() -> None:
    f = make_finding(status="acknowledged", status_by="ana")
    log = {f.fingerprint: sent("firing:warning")}
    assert changes(plan([f], at(minutes=6), log, last_sent=at(seconds=30))) == [
        ("acknowledged", "firing:warning")
    ]
    log[f.fingerprint] += sent("acknowledged", when=at(minutes=6))
    assert plan([f], at(hours=9), log, last_sent=at(minutes=6)) is None


def test_resolution_closes_the_thread_and_is_notified_only_after_a_firing() -> None:
    f = make_finding(status="resolved", ended_at=at(minutes=40))
    p = plan([f], at(minutes=41), {f.fingerprint: sent("firing:warning")}, last_sent=at(seconds=30))
    assert changes(p) == [("resolved", "firing:warning")]
    assert p is not None and (p.thread_id, p.closes_thread) == (7, True)
    assert plan([f], at(minutes=41)) is None


def test_resolved_notifications_can_be_turned_off_per_route_but_are_still_logged() -> None:
    f = make_finding(status="resolved", ended_at=at(minutes=40))
    p = plan(
        [f],
        at(minutes=41),
        {f.fingerprint: sent("firing:warning")},
        last_sent=at(seconds=30),
        send_resolved=False,
    )
    assert p is not None and p.changes == () and [c.transition for c in p.suppressed] == ["resolved"]


def test_muted_findings_do_not_fire_but_their_resolution_still_goes_out() -> None:
    f = make_finding()
    assert plan([f], at(minutes=1), muted=frozenset({f.fingerprint})) is None
    done = make_finding(status="resolved", ended_at=at(minutes=40))
    log = {done.fingerprint: sent("firing:warning")}
    assert changes(plan([done], at(minutes=41), log, at(seconds=30), frozenset({done.fingerprint}))) == [
        ("resolved", "firing:warning")
    ]


def test_a_finding_that_fires_again_after_resolving_starts_a_new_cycle_and_thread() -> None:
    f = make_finding()
    log = {f.fingerprint: [*sent("firing:warning"), *sent("resolved", when=at(minutes=40))]}
    p = plan([f], at(minutes=46), log, last_sent=at(minutes=40))
    assert changes(p) == [("firing:warning#2", None)]
    assert p is not None and p.thread_id is None
    assert split("firing:warning#2") == ("firing:warning", 2) and split("resolved") == ("resolved", 1)
