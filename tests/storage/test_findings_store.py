"""The findings part of the Store on SQLite and PostgreSQL: upsert by fingerprint, lifecycle,
actions with who and when, listing filters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitors.errors import InputError
from monitors.models import FindingDraft, Severity
from storage import Store

NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)


def _draft(event: str = "Checkout Started", kind: str = "volume_drop", **kw: object) -> FindingDraft:
    base = FindingDraft(
        kind=kind, source="web", environment="production", event=event,
        started_at=datetime(2024, 1, 20, 10, 0, tzinfo=UTC), severity=Severity.WARNING, score=6.5,
        title=f"{event} dropped 40%", observed=60.0, expected=100.0, evidence={"peak": {"score": 6.5}},
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def test_upsert_opens_then_is_idempotent_then_updates(store: Store) -> None:
    draft = _draft()
    first = store.upsert_findings([draft], now=NOW)
    assert first.opened == [draft.fingerprint] and first.updated == [] and first.resolved == []
    again = store.upsert_findings([draft], now=NOW)
    assert (again.opened, again.updated, again.resolved) == ([], [], [])
    worse = replace(draft, score=9.0, observed=40.0)
    third = store.upsert_findings([worse], now=NOW + timedelta(minutes=5))
    assert third.updated == [draft.fingerprint]
    stored = store.get_finding(draft.fingerprint)
    assert stored is not None
    assert (stored.status, stored.score, stored.observed, stored.ended_at) == ("open", 9.0, 40.0, None)
    assert stored.created_at == NOW and stored.updated_at == NOW + timedelta(minutes=5)
    assert stored.evidence == {"peak": {"score": 6.5}}


def test_ended_episode_auto_resolves_and_is_recorded(store: Store) -> None:
    draft = _draft()
    store.upsert_findings([draft], now=NOW)
    ended = replace(draft, ended_at=datetime(2024, 1, 20, 11, 0, tzinfo=UTC))
    report = store.upsert_findings([ended], now=NOW + timedelta(hours=1))
    assert report.resolved == [draft.fingerprint]
    stored = store.get_finding(draft.fingerprint)
    assert stored is not None and stored.status == "resolved" and stored.status_by == "detector"
    actions = store.finding_actions(stored.id)
    assert [(a.action, a.actor) for a in actions] == [("auto_resolve", "detector")]


def test_history_found_after_the_fact_is_stored_resolved(store: Store) -> None:
    past = _draft(ended_at=datetime(2024, 1, 20, 11, 0, tzinfo=UTC))
    report = store.upsert_findings([past], now=NOW)
    assert report.resolved == [past.fingerprint] and report.opened == []
    assert store.list_findings(status="open") == []


def test_people_acknowledge_snooze_resolve_expect_and_reopen_with_who_and_when(store: Store) -> None:
    draft = _draft()
    store.upsert_findings([draft], now=NOW)
    fid = store.list_findings()[0].id
    at = NOW + timedelta(minutes=1)
    assert store.acknowledge(fid, actor="ana", at=at).status == "acknowledged"
    snoozed = store.snooze(draft.fingerprint, NOW + timedelta(hours=4), actor="ana", at=at)
    assert snoozed.snoozed_until == NOW + timedelta(hours=4) and snoozed.status == "acknowledged"
    assert store.resolve(fid, actor="bo", note="rolled back", at=at).status == "resolved"
    assert store.mark_expected(fid, actor="bo", at=at).status == "expected"
    reopened = store.reopen(fid, actor="cy", at=at)
    assert reopened.status == "open" and reopened.snoozed_until is None and reopened.status_by == "cy"
    actions = [(a.action, a.actor, a.note, a.at) for a in store.finding_actions(fid)]
    assert actions == [
        ("acknowledge", "ana", None, at),
        ("snooze", "ana", "until 2024-01-20T16:00:00Z", at),
        ("resolve", "bo", "rolled back", at),
        ("mark_expected", "bo", None, at),
        ("reopen", "cy", None, at),
    ]


def test_the_baseline_choice_of_an_expected_episode_is_stored_and_listed_while_it_lasts(store: Store) -> None:
    drop, spike = _draft(event="A"), _draft(event="B", kind="volume_spike")
    ended = _draft(event="C", ended_at=datetime(2024, 1, 20, 11, 0, tzinfo=UTC))
    store.upsert_findings([drop, spike, ended], now=NOW)
    assert store.mark_expected(drop.fingerprint, actor="bo", baseline="adapt").baseline == "adapt"
    assert store.mark_expected(spike.fingerprint, actor="bo").baseline == "keep"
    assert store.mark_expected(ended.fingerprint, actor="bo", baseline="adapt").baseline == "adapt"
    start = int(drop.started_at.timestamp())
    assert store.expected_baselines(["volume_drop", "volume_spike"]) == {
        ("web", "production", "A"): (start, "adapt"), ("web", "production", "B"): (start, "keep"),
    }  # fmt: skip
    assert store.expected_baselines(["volume_spike"]) == {("web", "production", "B"): (start, "keep")}
    reopened = store.reopen(drop.fingerprint, actor="cy")
    assert reopened.baseline is None and reopened.status == "open"
    assert set(store.expected_baselines(["volume_drop"])) == set()
    with pytest.raises(InputError, match="baseline must be one of adapt, keep, not 'maybe'"):
        store.mark_expected(drop.fingerprint, actor="bo", baseline="maybe")
    assert store.get_finding(drop.fingerprint).status == "open"  # type: ignore[union-attr]


def test_invalid_actions_say_why(store: Store) -> None:
    store.upsert_findings([_draft()], now=NOW)
    fid = store.list_findings()[0].id
    with pytest.raises(InputError, match="no finding 999"):
        store.acknowledge(999, actor="ana")
    store.resolve(fid, actor="ana", at=NOW)
    with pytest.raises(InputError, match="is resolved; cannot acknowledge"):
        store.acknowledge(fid, actor="ana", at=NOW)
    with pytest.raises(InputError, match="only open or acknowledged"):
        store.snooze(fid, NOW + timedelta(hours=1), actor="ana", at=NOW)


def test_a_human_resolution_is_not_undone_by_the_detector(store: Store) -> None:
    draft = _draft()
    store.upsert_findings([draft], now=NOW)
    store.resolve(draft.fingerprint, actor="ana", at=NOW)
    store.upsert_findings([replace(draft, score=8.0)], now=NOW + timedelta(minutes=5))
    stored = store.get_finding(draft.fingerprint)
    assert (
        stored is not None
        and stored.status == "resolved"
        and stored.status_by == "ana"
        and stored.score == 8.0
    )


def test_list_filters(store: Store) -> None:
    a = _draft("A")
    b = _draft(
        "B",
        kind="silence",
        started_at=datetime(2024, 1, 19, tzinfo=UTC),
        ended_at=datetime(2024, 1, 19, 1, tzinfo=UTC),
    )
    c = _draft("C", kind="new_event", severity=Severity.INFO)
    store.upsert_findings([a, b, c], now=NOW)
    assert [f.event for f in store.list_findings(status="open")] == ["C", "A"] or [
        f.event for f in store.list_findings(status="open")
    ] == ["A", "C"]
    assert [f.event for f in store.list_findings(kind=["silence"])] == ["B"]
    assert [f.event for f in store.list_findings(event="A")] == ["A"]
    assert {f.event for f in store.list_findings(since=datetime(2024, 1, 20, tzinfo=UTC))} == {"A", "C"}
    assert store.list_findings(until=datetime(2024, 1, 19, 12, tzinfo=UTC))[0].event == "B"
    store.snooze(a.fingerprint, NOW + timedelta(hours=2), actor="ana", at=NOW)
    assert {f.event for f in store.list_findings(status="open", not_snoozed_at=NOW)} == {"C"}
    assert store.list_findings(limit=1)[0].started_at == datetime(2024, 1, 20, 10, tzinfo=UTC)


def test_resolve_missing_only_touches_the_given_kinds_and_series(store: Store) -> None:
    keep, gone, other_kind, other_series = (
        _draft("A"),
        _draft("B"),
        _draft("B", kind="schema_drift"),
        _draft("Z"),
    )
    store.upsert_findings([keep, gone, other_kind, other_series], now=NOW)
    scope = {("web", "production", "A"), ("web", "production", "B")}
    done = store.resolve_missing(["volume_drop"], {keep.fingerprint}, scope, now=NOW, note="gone")
    assert done == [gone.fingerprint]
    assert {f.event + ":" + f.kind for f in store.list_findings(status="open")} == {
        "A:volume_drop", "B:schema_drift", "Z:volume_drop",
    }  # fmt: skip


def _samples(*texts: str) -> dict[str, object]:
    return {"samples": [{"violation": "leak:test_email", "at": "2024-01-20T10:00:00Z", "sample": t} for t in texts]}


def test_an_episode_keeps_its_first_samples_and_newer_ones_fill_the_rest(store: Store) -> None:
    first = _draft(kind="staging_leak", evidence=_samples("a", "b"))
    store.upsert_findings([first], now=NOW)
    later = replace(first, evidence=_samples("c", "d", "e", "f", "g"))
    assert store.upsert_findings([later], now=NOW + timedelta(minutes=5)).updated == [first.fingerprint]
    assert store.upsert_findings([later], now=NOW + timedelta(minutes=10)).updated == []  # idempotent
    stored = store.get_finding(first.fingerprint)
    assert stored is not None
    assert [s["sample"] for s in stored.evidence["samples"]] == ["a", "b", "c", "d", "e"]
