from __future__ import annotations

from typing import Any

from monitors.customerio.config import FlappingConfig
from monitors.customerio.flapping import digest, flap_key, track_flapping
from monitors.customerio.models import FlapState

DAY = 86400
CFG = FlappingConfig(min_changes=4, min_reversals=2)


def change(person: str, ts: int, old: str, new: str, attr: str = "plan") -> dict[str, Any]:
    return {"id": f"{person}-{ts}", "type": "attribute_change", "timestamp": ts, "customer_id": person,
            "name": attr, "data": {attr: {"from": old, "to": new}}}


def flip_flop(person: str, start: int, n: int) -> list[dict[str, Any]]:
    values = ["free", "paid"]
    return [change(person, start + i * 60, values[i % 2], values[(i + 1) % 2]) for i in range(n)]


def test_back_and_forth_changes_flag_the_person_once_in_the_crossing_bucket() -> None:
    states, started = track_flapping(flip_flop("p1", DAY, 6), {}, CFG, bucket=300, salt="ws")
    assert dict(started) == {("plan", DAY + 3 * 60 - (3 * 60) % 300): 1}
    state = states[("plan", digest("ws", "p1"), DAY)]
    assert (state.changes, state.reversals, state.flagged) == (6, 5, True)


def test_many_changes_without_reversals_are_not_flapping() -> None:
    steps = [change("p1", DAY + i, f"v{i}", f"v{i + 1}") for i in range(10)]
    states, started = track_flapping(steps, {}, CFG, bucket=300, salt="ws")
    assert not started
    assert states[("plan", digest("ws", "p1"), DAY)].reversals == 0


def test_state_carries_over_between_runs_and_days_are_separate() -> None:
    first, started = track_flapping(flip_flop("p1", DAY, 3), {}, CFG, bucket=300, salt="ws")
    assert not started
    second, started = track_flapping(flip_flop("p1", DAY + 600, 1) + flip_flop("p1", 2 * DAY, 1), first, CFG,
                                     bucket=300, salt="ws")
    assert sum(started.values()) == 1
    assert second[("plan", digest("ws", "p1"), 2 * DAY)].changes == 1


def test_already_flagged_people_are_not_counted_again() -> None:
    key = ("plan", digest("ws", "p1"), DAY)
    saved = {key: FlapState(changes=9, reversals=8, last_from=None, last_to=None, flagged=True)}
    _, started = track_flapping(flip_flop("p1", DAY, 4), saved, CFG, bucket=300, salt="ws")
    assert not started


def test_people_and_values_are_stored_only_as_hashes() -> None:
    states, _ = track_flapping([change("ann@example.com", DAY, "a", "b")], {}, CFG, bucket=300, salt="ws")
    [(key, state)] = states.items()
    stored = repr((key, state))
    assert "ann@example.com" not in stored and "'a'" not in stored and "'b'" not in stored


def test_changes_without_a_person_are_skipped() -> None:
    anonymous = {**change("x", DAY, "a", "b"), "customer_id": None, "customer_identifiers": {"cio_id": ""}}
    assert flap_key(anonymous, "ws") is None
