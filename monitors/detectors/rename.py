"""Renames: one finding "probable rename A → B since T" instead of a drop plus a new event.

**Event renames.** A new event B (first seen after monitoring began) is paired with an event A
of the same source and environment when, since B appeared, A fell while B rose so that A + B
stays near A's usual level (A's expected count: the mean of the same buckets one day and one week
earlier), B carries at least ``min_share`` of it, and B looks like A: names that fold to the
same key (``Order Completed`` ≈ ``order_completed`` ≈ ``orderCompleted``) or are similar, and
similar property keys and types (:mod:`._semantic_pairs`). The pairing is decided within a day
of B's first event and kept in B's detector state; while it is ``pending`` (the first hour), B's
new-event findings and the drops of events named like B wait for the verdict.

**Property renames.** Inside one event, a usually present property P goes missing while a new
property Q appears, with a similar name, the same JSON type and about the share P lost: the
schema detector's ``property_missing`` of P and ``new_property`` of Q become one
``property_rename`` finding, kept in the event's state.

A rename finding stays open while the new name keeps arriving (it ends when the new name has
been quiet for 6 hours: a rollback) and for at most ``lookback``; meanwhile it suppresses the
findings it explains: the drop or silence of A, the new-event, unplanned-event and
near-duplicate-name findings of B (for properties: P missing, Q new, their duplicate names).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from monitors.detectors import _semantic_pairs as pairs
from monitors.detectors._semantic import Samples, explained, judge_end, name_similarity, pct, series_keys
from monitors.detectors._semantic_draft import PROPERTY_COLUMNS, extra
from monitors.detectors.base import DataRequest, DetectorInputs, DetectorOutput, DetectorState, SeriesKey
from monitors.detectors.config import DetectorsConfig
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch, iso, parse_duration, to_epoch

VERSION = "rename-2"
DAY = 86400
PAIR_WITHIN = DAY
QUIET = 6 * 3600
SLACK = 2 * 3600
Kept = dict[str, Any]


def _load(state: DetectorState | None) -> Kept:
    if state is None or state.version != VERSION:
        return {"decided": False, "event": None, "properties": {}}
    value = json.loads(state.blob)
    return value if isinstance(value, dict) else {"decided": False, "event": None, "properties": {}}


class RenameDetector:
    """See the module docstring."""

    name = "rename"
    order = 90
    kinds = ("event_rename", "property_rename")

    def __init__(self, config: DetectorsConfig) -> None:
        self.config = config
        self.lookback = parse_duration(config.rename.lookback)
        self.pending = parse_duration(config.rename.pending)
        self.grace = parse_duration(config.volume.new_event_grace)
        self.lateness = parse_duration(config.semantic.lateness)

    # -- planning ---------------------------------------------------------------------------

    def _candidates(self, end: int, w: int, series: pd.DataFrame, kept: Mapping[SeriesKey, Kept]) -> list[tuple[SeriesKey, int]]:
        """New events not paired yet and young enough to be (also those not judged yet)."""
        if series.empty:
            return []
        origin = int(series["first_seen"].min()) + self.grace
        kinds = series["msg_type"] if "msg_type" in series else pd.Series("track", index=series.index)
        out = []
        for key, first, kind in zip(series_keys(series), series["first_seen"], kinds, strict=True):
            first = int(first) // w * w
            if kind != "track" or first < origin or end - first > PAIR_WITHIN or kept.get(key, {}).get("decided"):
                continue
            out.append((key, first))
        return out

    def _kept(self, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]) -> dict[SeriesKey, Kept]:
        return {k: _load(state.get(k)) for k in series_keys(series)}

    def plan(
        self, now: datetime, bucket_seconds: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> DataRequest:
        """Counts and property types around new events not paired yet; recent property types
        while a property rename is open."""
        end = judge_end(now, bucket_seconds, self.lateness, series)
        kept = self._kept(series, state)
        todo = [(k, f) for k, f in self._candidates(end, bucket_seconds, series, kept) if f < end]
        props = end - 2 * 3600 if any(v["properties"] for v in kept.values()) else None
        if not todo:
            return DataRequest(props_since=props)
        first = min(f for _, f in todo)
        return DataRequest(counts_since=first - 7 * DAY - bucket_seconds, props_since=first - 2 * 3600, samples=True)

    # -- running ----------------------------------------------------------------------------

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Pair new events with the events they replace; pair property drops with new properties."""
        w = inputs.bucket_seconds
        end = judge_end(inputs.now, w, self.lateness, inputs.series)
        kept = self._kept(inputs.series, inputs.state)
        props = extra(inputs.extras, "props", PROPERTY_COLUMNS)
        self._decide_events(inputs, kept, end, props)
        self._decide_properties(inputs.prior, kept, end)
        _refresh(kept, props, end)
        out = DetectorOutput(complete=True, covered=set(series_keys(inputs.series)))
        last_seen = {k: int(v) for k, v in zip(series_keys(inputs.series), inputs.series["last_seen"], strict=True)}
        for key, k in kept.items():
            v = k["event"]
            if v is not None and end - int(v["since"]) <= self.lookback:
                d = self._event_draft(key, v, last_seen.get(key, end), end)
                out.drafts.append(d)
                out.suppress |= self._event_explains(inputs.prior, key, v, d)
            for pv in k["properties"].values():
                if end - int(pv["since"]) <= self.lookback:
                    d = self._property_draft(key, pv, end)
                    out.drafts.append(d)
                    out.suppress |= _property_explains(inputs.prior, key, pv, d)
            if k["decided"] or k["properties"]:
                out.state[key] = DetectorState(through=end - w, version=VERSION, blob=json.dumps(k, sort_keys=True).encode())
        out.suppress |= self._pending(inputs, kept, end)
        out.stats = {"candidates": len(self._candidates(end, w, inputs.series, kept)), "renames": len(out.drafts)}
        return out

    def _decide_events(self, inputs: DetectorInputs, kept: dict[SeriesKey, Kept], end: int, props: pd.DataFrame) -> None:
        w = inputs.bucket_seconds
        for key, first in self._candidates(end, w, inputs.series, kept):
            if first >= end:
                continue
            verdict = pairs.best_pair(key, first, end, w, inputs.series, inputs.counts, props, self.config.rename)
            if verdict is not None:
                verdict["samples"] = Samples(inputs.extras.get("samples")).pick(key, [("unplanned_event", None)])
            if verdict is not None or end - first >= PAIR_WITHIN:
                kept[key].update(decided=True, event=verdict)

    def _decide_properties(self, prior: Sequence[FindingDraft], kept: dict[SeriesKey, Kept], end: int) -> None:
        missing = [d for d in prior if d.kind == "property_missing" and "[]" not in d.subject]
        for q in (d for d in prior if d.kind == "new_property"):
            key = SeriesKey(q.source, q.environment, q.event)
            if key not in kept or any(v["to"] == q.subject for v in kept[key]["properties"].values()):
                continue
            scored = []
            for p in missing:
                s = pairs.property_pair(p, q) if (p.source, p.environment, p.event) == key else None
                if s is not None and s[0] >= self.config.rename.min_confidence:
                    scored.append((s[0], s[1], p))
            if not scored:
                continue
            confidence, detail, p = max(scored, key=lambda item: item[0])
            kept[key]["properties"][f"{p.subject}\t{q.subject}"] = {
                "from": p.subject, "to": q.subject, "since": to_epoch(q.started_at), "last_seen": end,
                "confidence": round(confidence, 4), **detail, "name_similarity": name_similarity(p.subject, q.subject),
                "missing": {"title": p.title, "window": p.evidence.get("window")},
                "new": {"title": q.title, "window": q.evidence.get("window")},
                "samples": [*q.evidence.get("samples", []), *p.evidence.get("samples", [])][:5],
            }  # fmt: skip

    def _pending(self, inputs: DetectorInputs, kept: Mapping[SeriesKey, Kept], end: int) -> set[str]:
        """Findings that wait while a young new event may still turn out to be a rename: its
        new-event / unplanned / duplicate-name findings, and drops of events named like it."""
        out: set[str] = set()
        for b, first in self._candidates(end, inputs.bucket_seconds, inputs.series, kept):
            if end - first > self.pending:
                continue
            out |= explained(inputs.prior, ["new_event", "unplanned_event", "volume_spike"], b, first, None, SLACK)
            for p in inputs.prior:
                same = (p.source, p.environment) == (b.source, b.environment)
                if p.kind in ("volume_drop", "silence") and same and name_similarity(p.event, b.event) >= 0.8:
                    out.add(p.fingerprint)
                if p.kind == "duplicate_event_name" and p.environment == b.environment and b.event in p.evidence.get("variants", {}):
                    out.add(p.fingerprint)
        return out

    # -- drafts -----------------------------------------------------------------------------

    def _event_draft(self, key: SeriesKey, v: dict[str, Any], last_seen: int, end: int) -> FindingDraft:
        old = str(v["from"])
        quiet = end - last_seen >= QUIET
        title = (f"Probable rename: {old} → {key.event} since {iso(int(v['since']))} "
                 f"(confidence {v['confidence']:.2f}; {pct(v['share'])} of {old}'s volume moved)")  # fmt: skip
        return FindingDraft(
            kind="event_rename", source=key.source, environment=key.environment, event=old, subject=key.event,
            started_at=from_epoch(int(v["since"])), ended_at=from_epoch(last_seen) if quiet else None,
            last_seen_at=from_epoch(min(last_seen, end)),
            severity=Severity.CRITICAL if v["share"] >= 0.5 else Severity.WARNING,
            score=round(float(v["confidence"]), 4), title=title, observed=v["observed_to"], expected=v["expected_from"],
            evidence={"detector": self.name, **v, "from": old, "to": key.event},
        )  # fmt: skip

    def _event_explains(self, prior: Sequence[FindingDraft], key: SeriesKey, v: dict[str, Any], d: FindingDraft) -> set[str]:
        old = SeriesKey(key.source, key.environment, str(v["from"]))
        start = int(v["since"])
        stop = None if d.ended_at is None else to_epoch(d.ended_at)
        out = explained(prior, ["volume_drop", "silence"], old, start, stop, SLACK)
        out |= explained(prior, ["new_event", "unplanned_event", "volume_spike", "conformance_drop"], key, start, stop, SLACK)
        return out | _duplicates(prior, "duplicate_event_name", key.environment, {old.event, key.event})

    @staticmethod
    def _property_draft(key: SeriesKey, v: dict[str, Any], end: int) -> FindingDraft:
        quiet = end - int(v["last_seen"]) >= QUIET
        title = (f"Probable property rename on {key.event}: {v['from']} → {v['to']} since {iso(int(v['since']))} "
                 f"(confidence {v['confidence']:.2f})")  # fmt: skip
        return FindingDraft(
            kind="property_rename", source=key.source, environment=key.environment, event=key.event,
            subject=f"{v['from']} → {v['to']}", started_at=from_epoch(int(v["since"])),
            ended_at=from_epoch(int(v["last_seen"])) if quiet else None, last_seen_at=from_epoch(int(v["last_seen"])),
            severity=Severity.CRITICAL, score=round(float(v["confidence"]), 4), title=title,
            observed=v.get("presence_gained"), expected=v.get("presence_lost"), evidence={"detector": "rename", **v},
        )  # fmt: skip


def _refresh(kept: dict[SeriesKey, Kept], props: pd.DataFrame, end: int) -> None:
    """Move each open property rename's ``last_seen`` to the newest bucket carrying the new name."""
    if props.empty:
        return
    for key, k in kept.items():
        for v in k["properties"].values():
            p = props
            rows = p[(p["source"] == key.source) & (p["environment"] == key.environment) & (p["event"] == key.event)
                     & (p["property"] == v["to"]) & (p["bucket_start"] < end)]  # fmt: skip
            if not rows.empty:
                v["last_seen"] = max(int(v["last_seen"]), int(rows["bucket_start"].max()))


def _duplicates(prior: Sequence[FindingDraft], kind: str, environment: str, names: set[str]) -> set[str]:
    return {d.fingerprint for d in prior if d.kind == kind and d.environment == environment
            and names <= set(d.evidence.get("variants", {}))}  # fmt: skip


def _property_explains(prior: Sequence[FindingDraft], key: SeriesKey, v: dict[str, Any], d: FindingDraft) -> set[str]:
    start = int(v["since"])
    stop = None if d.ended_at is None else to_epoch(d.ended_at)
    out = explained(prior, ["property_missing"], key, start, stop, SLACK, str(v["from"]))
    out |= explained(prior, ["new_property"], key, start, stop, SLACK, str(v["to"]))
    out |= explained(prior, ["conformance_drop"], key, start, stop, SLACK)
    return out | _duplicates(prior, "duplicate_property_name", key.environment, {str(v["from"]), str(v["to"])})


def create(config: DetectorsConfig) -> RenameDetector:
    """The registry hook."""
    return RenameDetector(config)
