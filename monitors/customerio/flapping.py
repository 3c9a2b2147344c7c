"""Attribute flapping: the same person's attribute changing back and forth many times a day,
usually because two systems write it. Pure: activities and saved state in, new state and
"became flapping" counts out.

A person flaps on an attribute during a UTC day once that day has at least ``min_changes``
changes of it, ``min_reversals`` of which go back to the value before the previous change
(A→B then B→A). Each (person, attribute, day) is counted once, in the bucket of the change that
crossed the threshold, as an ``attribute_flapping`` metric named after the attribute. People and
values are kept only as salted hashes.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from monitors.customerio.config import FlappingConfig
from monitors.customerio.models import FlapKey, FlapState
from monitors.timeutil import floor_epoch

DAY = 86400


def digest(salt: str, value: str) -> str:
    """A short salted hash (stored instead of person ids and attribute values)."""
    return hashlib.sha256(f"{salt}\x1f{value}".encode()).hexdigest()[:24]


def attribute_of(activity: dict[str, Any]) -> str | None:
    """The attribute an ``attribute_change`` activity is about: its ``name`` or its data's only key."""
    name = activity.get("name")
    if isinstance(name, str) and name:
        return name
    data = activity.get("data")
    return next(iter(data)) if isinstance(data, dict) and len(data) == 1 else None


def _person(activity: dict[str, Any]) -> str | None:
    idents = activity.get("customer_identifiers") or {}
    person = activity.get("customer_id") or (idents.get("cio_id") if isinstance(idents, dict) else None)
    return str(person) if person else None


def _change(activity: dict[str, Any], attribute: str) -> tuple[str, str]:
    data = activity.get("data")
    change = data.get(attribute) if isinstance(data, dict) else None
    if not isinstance(change, dict):
        return "", ""
    return (json.dumps(change.get("from"), sort_keys=True, default=str),
            json.dumps(change.get("to"), sort_keys=True, default=str))


def flap_key(activity: dict[str, Any], salt: str) -> FlapKey | None:
    """The state key of an ``attribute_change`` activity (None without person or attribute)."""
    attribute, person = attribute_of(activity), _person(activity)
    if attribute is None or person is None:
        return None
    return attribute, digest(salt, person), floor_epoch(int(activity.get("timestamp") or 0), DAY)


def track_flapping(changes: Iterable[dict[str, Any]], states: dict[FlapKey, FlapState], config: FlappingConfig,
                   *, bucket: int, salt: str) -> tuple[dict[FlapKey, FlapState], Counter[tuple[str, int]]]:
    """Apply ``changes`` (``attribute_change`` activities, oldest first) to ``states``.

    Returns the updated states (only touched keys) and, per (attribute, bucket_start), how many
    people started flapping.
    """
    updated: dict[FlapKey, FlapState] = {}
    started: Counter[tuple[str, int]] = Counter()
    for activity in changes:
        key = flap_key(activity, salt)
        if key is None:
            continue
        state = updated.get(key) or replace(states.get(key) or FlapState())
        old, new = (digest(salt, v) for v in _change(activity, key[0]))
        state.changes += 1
        if state.last_from is not None and new == state.last_from:
            state.reversals += 1
        state.last_from, state.last_to = old, new
        if not state.flagged and state.changes >= config.min_changes and state.reversals >= config.min_reversals:
            state.flagged = True
            started[(key[0], floor_epoch(int(activity["timestamp"]), bucket))] += 1
        updated[key] = state
    return updated, started
