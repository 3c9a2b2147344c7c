"""The property-key budget: an event keeps at most ``max_property_keys`` distinct unplanned keys.

Property keys that carry ids (``exp_1234``, one key per SKU or per experiment) add a
``property_stats`` row per key and bucket: 200,000 such lines stored 200,800 rows and made the
plan page list every key. An event's known unplanned keys always count as themselves; new ones
are admitted, most frequent first (ties by key), while the event has fewer than
``max_property_keys``; the rest count as :data:`OTHER_KEY`, with their JSON type. Planned keys are
never capped (the plan bounds them).

Applied to a read's aggregates (:func:`monitors.ingest.merge.to_batch`), after either reader, so both
store the same rows. Pure: the known keys come from the store, and admissions are added to them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

OTHER_KEY = "(other properties)"
DEFAULT_MAX_KEYS = 500
MAX_KEY_CHARS = 255  # property_stats.property

PropKey = tuple[str, str, int, str, str]  # event, msg_type, bucket, key, JSON type


@dataclass
class KeyBudget:
    """Unplanned property keys per (event, message type): the known ones and what a read added."""

    budget: int  # 0: no limit
    known: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    overflowed: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)  # new keys counted as OTHER_KEY

    def cap(self, props: dict[PropKey, int]) -> dict[PropKey, int]:
        """``props`` (unplanned keys only) with the keys past the budget counted as :data:`OTHER_KEY`."""
        if self.budget <= 0:
            return props
        totals: dict[tuple[str, str], Counter[str]] = {}
        for (event, msg_type, _, key, _), n in props.items():
            totals.setdefault((event, msg_type), Counter())[key] += n
        over: dict[tuple[str, str], set[str]] = {}
        for series, counts in totals.items():
            known = self.known.setdefault(series, set())
            new = sorted((k for k in counts if k not in known and k != OTHER_KEY), key=lambda k: (-counts[k], k))
            room = max(0, self.budget - len(known - {OTHER_KEY}))
            known.update(new[:room])
            if len(new) > room:
                over[series] = set(new[room:])
                self.overflowed.setdefault(series, Counter()).update({k: counts[k] for k in new[room:]})
        if not over:
            return props
        out: dict[PropKey, int] = {}
        for (event, msg_type, bucket, key, jtype), n in props.items():
            if key in over.get((event, msg_type), ()):
                key = OTHER_KEY
            k = (event, msg_type, bucket, key, jtype)
            out[k] = out.get(k, 0) + n
        return out

    def describe(self) -> str | None:
        """The run's warning, when some keys were counted as :data:`OTHER_KEY`."""
        if not self.overflowed:
            return None
        worst = max(self.overflowed.items(), key=lambda kv: (len(kv[1]), kv[0]))
        (event, _), keys = worst
        shown = ", ".join(repr(k[:60]) for k, _ in sorted(keys.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
        total = sum(len(k) for k in self.overflowed.values())
        return (f"{total:,} new property keys over the budget of {self.budget:,} unplanned keys per event are counted "
                f"as {OTHER_KEY!r} ({len(keys):,} of them in {event!r}, most frequent: {shown}); "
                "keys that carry ids belong in values")  # fmt: skip
