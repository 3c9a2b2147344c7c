"""Evaluates the tracking plan on one *combination* of a message's numeric features.

The hot path reduces every message to (event, type, flags, packed JSON types of the plan's
properties, count of keys outside the plan); messages that share a combination get the same
verdict, so the plan is evaluated once per distinct combination (a handful per event), in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from monitors.ingest.leakage import signals_of
from monitors.ingest.sqlgen import (
    CODE_NAMES,
    CODES_OF,
    F_CHECKED,
    F_EMAIL_ID,
    F_IMPOSSIBLE_TS,
    F_NO_IDENTITY,
    F_TOO_LARGE,
    Layout,
)
from monitors.plan import ObjectSpec, Plan

FLAG_VIOLATIONS = (
    (F_EMAIL_ID, "email_as_user_id"),
    (F_NO_IDENTITY, "missing_identity"),
    (F_TOO_LARGE, "payload_too_large"),
    (F_IMPOSSIBLE_TS, "impossible_timestamp"),
)


@dataclass(frozen=True)
class Verdict:
    """What a combination means: its violations (type, property) and observed property types."""

    checked: bool
    violations: tuple[tuple[str, str], ...]
    props: tuple[tuple[str, str], ...]
    leaks: tuple[str, ...] = ()

    @property
    def conforming(self) -> bool:
        """Checked and without violations."""
        return self.checked and not self.violations


class Evaluator:
    """Caches verdicts per combination for one plan.

    A combination is (event, message type, flags, packed type codes, number of keys); keys beyond
    the planned ones that are present are the *extra* keys (unplanned for every event)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.layout = Layout(plan)
        self.verdict = lru_cache(maxsize=65536)(self._verdict)

    def _spec(self, event: str, msg_type: str) -> tuple[ObjectSpec | None, str | None, bool]:
        if msg_type == "track":
            ev = self.plan.events.get(event)
            return (ev.spec, ev.entity_id, False) if ev else (None, None, True)
        if msg_type == "identify":
            return self.plan.identify, None, False
        return None, None, False

    def _verdict(self, event: str, msg_type: str, flags: int, codes: tuple[int, ...], nkeys: int) -> Verdict:
        present = self.layout.codes_of(event, msg_type, codes)
        nextra = nkeys - len(present)
        props = tuple((k, CODE_NAMES[c]) for k, c in present.items())
        if not flags >> F_CHECKED & 1:
            return Verdict(False, (), props)
        out: list[tuple[str, str]] = []
        spec, entity, unplanned_event = self._spec(event, msg_type)
        if unplanned_event:
            out.append(("unplanned_event", ""))
        if spec is not None:
            for prop in spec.props.values():
                code = present.get(prop.name, 0)
                if code in (0, 7):
                    if prop.required:
                        out.append(("missing_required_property", prop.name))
                elif not any(code in CODES_OF[t] for t in prop.types):
                    out.append(("wrong_type", prop.name))
                if prop.items is not None:
                    out.extend(self._item_violations(prop.name, prop.items, flags))
            if entity and present.get(entity, 0) in (0, 7):
                out.append(("missing_entity_id", entity))
            if nextra > 0:
                out.append(("unplanned_property", ""))
        out.extend((name, "") for bit, name in FLAG_VIOLATIONS if flags >> bit & 1)
        return Verdict(True, tuple(out), props, tuple(signals_of(flags)))

    def _item_violations(self, array: str, items: ObjectSpec, flags: int) -> list[tuple[str, str]]:
        out = []
        for j, (arr, item) in enumerate(self.layout.items):
            if arr != array or item not in items.props:
                continue
            if items.props[item].required and flags >> self.layout.item_bit(j, False) & 1:
                out.append(("missing_required_property", f"{array}[].{item}"))
            if flags >> self.layout.item_bit(j, True) & 1:
                out.append(("wrong_type", f"{array}[].{item}"))
        return out
