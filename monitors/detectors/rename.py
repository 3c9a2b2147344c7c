"""Renames: one finding "probable rename A → B since T" instead of a drop plus a new event.

**Event renames.** A new event B (first seen after monitoring began) is paired with an event A
of the same source and environment when, since B appeared, A fell while B rose so that A + B
stays near A's usual level (A's expected count: the mean of the same buckets one day and one week
earlier), B carries at least ``min_share`` of it, and B looks like A: names that fold to the
same key (``Order Completed`` ≈ ``order_completed`` ≈ ``orderCompleted``) or are similar, and
similar property keys and types. The pairing is decided within a day of B's first event and kept
in B's detector state; the finding stays open while B keeps arriving and suppresses the volume
drop or silence of A, the new-event and unplanned-event findings of B and their near-duplicate
name finding.

**Property renames.** Inside one event, a usually present property P goes missing while a new
property Q appears in the same window, with a similar name and about the share P lost: the
schema detector's ``property_missing`` of P and ``new_property`` of Q become one
``property_rename`` finding.
"""

from __future__ import annotations

from collections.abc import Mapping
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

VERSION = "rename-1"
DAY = 86400
PAIR_WITHIN = DAY
QUIET = 6 * 3600
SLACK = 2 * 3600


class RenameDetector:
    """See the module docstring."""

    name = "rename"
    order = 90
    kinds = ("event_rename", "property_rename")

    def __init__(self, config: DetectorsConfig) -> None:
        self.config = config
        cfg = config.rename
        self.lookback = parse_duration(cfg.lookback)
        self.grace = parse_duration(config.volume.new_event_grace)
        self.lateness = parse_duration(config.semantic.lateness)

    # -- planning ---------------------------------------------------------------------------

    def _candidates(
        self, end: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> list[tuple[SeriesKey, int]]:
        """New series not paired yet and still young enough to be paired: (key, first bucket)."""
        if series.empty:
            return []
        origin = int(series["first_seen"].min()) + self.grace
        out = []
        for key, first, kind in zip(series_keys(series), series["first_seen"], series["msg_type"], strict=True):
            first = int(first)
            if kind != "track" or first < origin or first >= end or end - first > PAIR_WITHIN:
                continue
            saved = state.get(key)
            if saved is not None and saved.version == VERSION:
                continue
            out.append((key, first))
        return out

    def plan(
        self, now: datetime, bucket_seconds: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> DataRequest:
        """Counts and property types around new events that are not paired yet (else nothing)."""
        end = judge_end(now, bucket_seconds, self.lateness, series)
        todo = self._candidates(end, series, state)
        if not todo:
            return DataRequest()
        first = min(f for _, f in todo)
        return DataRequest(counts_since=first - 7 * DAY - bucket_seconds, props_since=first - 2 * 3600, samples=True)

    # -- running ----------------------------------------------------------------------------

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Pair new events with the events they replace; pair property drops with new properties."""
        w = inputs.bucket_seconds
        end = judge_end(inputs.now, w, self.lateness, inputs.series)
        out = DetectorOutput(complete=True)
        out.state = {k: v for k, v in inputs.state.items() if v.version == VERSION}
        props = extra(inputs.extras, "props", PROPERTY_COLUMNS)
        for key, first in self._candidates(end, inputs.series, inputs.state):
            verdict = pairs.best_pair(key, first, end, w, inputs.series, inputs.counts, props, self.config.rename)
            if verdict is not None:
                verdict["samples"] = Samples(inputs.extras.get("samples")).pick(key, [("unplanned_event", None)])
            if verdict is not None or end - first >= PAIR_WITHIN:
                blob = pairs.encode(verdict)
                out.state[key] = DetectorState(through=end - w, version=VERSION, blob=blob)
        last_seen = {k: int(v) for k, v in zip(series_keys(inputs.series), inputs.series["last_seen"], strict=True)}
        for key, saved in out.state.items():
            verdict = pairs.decode(saved.blob)
            if verdict is None or end - int(verdict["since"]) > self.lookback:
                continue
            d = self._event_draft(key, verdict, last_seen.get(key, end), end, w)
            out.drafts.append(d)
            out.suppress |= self._explained(inputs, key, verdict, d)
        props_drafts, props_suppress = self._property_renames(inputs.prior)
        out.drafts += props_drafts
        out.suppress |= props_suppress
        out.covered = {SeriesKey(d.source, d.environment, d.event) for d in out.drafts} | set(series_keys(inputs.series))
        out.stats = {"candidates": len(self._candidates(end, inputs.series, inputs.state)), "renames": len(out.drafts)}
        return out

    def _event_draft(self, key: SeriesKey, v: dict[str, Any], last_seen: int, end: int, w: int) -> FindingDraft:
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
            evidence={"detector": self.name, "from": old, "to": key.event, **v},
        )  # fmt: skip

    def _explained(self, inputs: DetectorInputs, key: SeriesKey, v: dict[str, Any], d: FindingDraft) -> set[str]:
        old = SeriesKey(key.source, key.environment, str(v["from"]))
        start = int(v["since"])
        stop = None if d.ended_at is None else to_epoch(d.ended_at)
        out = explained(inputs.prior, ["volume_drop", "silence"], old, start, stop, SLACK)
        out |= explained(inputs.prior, ["new_event", "unplanned_event", "volume_spike", "conformance_drop"], key, start, stop, SLACK)
        for p in inputs.prior:
            variants = set(p.evidence.get("variants", {})) if p.kind == "duplicate_event_name" else set()
            if {old.event, key.event} <= variants and p.environment == key.environment:
                out.add(p.fingerprint)
        return out

    # -- property renames -------------------------------------------------------------------

    def _property_renames(self, prior: list[FindingDraft] | Any) -> tuple[list[FindingDraft], set[str]]:
        missing = [d for d in prior if d.kind == "property_missing" and "[]" not in d.subject]
        new = [d for d in prior if d.kind == "new_property"]
        drafts, suppress = [], set()
        for q in new:
            best = None
            for p in missing:
                if (p.source, p.environment, p.event) != (q.source, q.environment, q.event):
                    continue
                score = pairs.property_pair(p, q)
                if score is not None and score[0] >= self.config.rename.min_confidence and (best is None or score[0] > best[0]):
                    best = (score[0], score[1], p)
            if best is None:
                continue
            confidence, detail, p = best
            drafts.append(self._property_draft(p, q, confidence, detail))
            suppress |= {p.fingerprint, q.fingerprint}
        return drafts, suppress

    @staticmethod
    def _property_draft(p: FindingDraft, q: FindingDraft, confidence: float, detail: dict[str, Any]) -> FindingDraft:
        samples = [*q.evidence.get("samples", []), *p.evidence.get("samples", [])][:5]
        title = (f"Probable property rename on {q.event}: {p.subject} → {q.subject} since {iso(q.started_at)} "
                 f"(confidence {confidence:.2f})")  # fmt: skip
        return FindingDraft(
            kind="property_rename", source=q.source, environment=q.environment, event=q.event,
            subject=f"{p.subject} → {q.subject}", started_at=q.started_at,
            ended_at=q.ended_at if p.ended_at is not None or q.ended_at is not None else None,
            last_seen_at=q.last_seen_at, severity=Severity.CRITICAL, score=round(confidence, 4), title=title,
            observed=q.observed, expected=p.expected,
            evidence={"detector": "rename", "from": p.subject, "to": q.subject, "confidence": round(confidence, 4),
                      **detail, "name_similarity": name_similarity(p.subject, q.subject),
                      "missing": {"title": p.title, "window": p.evidence.get("window")},
                      "new": {"title": q.title, "window": q.evidence.get("window")}, "samples": samples},
        )  # fmt: skip


def create(config: DetectorsConfig) -> RenameDetector:
    """The registry hook."""
    return RenameDetector(config)
