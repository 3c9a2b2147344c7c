"""Schema drift and conformance, each finding naming the property and showing samples.

From the property keys and JSON types ingest records per checked message (planned and unplanned
keys alike) and the tracking plan's violations:

* ``unplanned_event`` — an event name outside the tracking plan that appeared after monitoring
  began (reported for ``new_event_window``; it explains the volume detector's ``new_event``);
* ``new_property`` — a key that was (almost) never there is now in a share of the messages;
* ``type_change`` — a property's values arrive with a JSON type they did not have (a number that
  starts arriving as a string), as a share of the messages carrying it; item fields
  (``items[].price``) from the plan's ``wrong_type`` violations;
* ``property_missing`` — a usually present property (presence ≥ ``min_presence``) is missing from
  a share of the messages; required item fields from ``missing_required_property``;
* ``conformance_drop`` — the share of messages breaking the plan rose, when no finding above (or of
  a later detector) explains it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from monitors.detectors._semantic import KEY, Samples, explained, factorize, pct, series_keys
from monitors.detectors._semantic_book import Annotate, BookResult, Check, Found, RateBook
from monitors.detectors._semantic_draft import (
    METRIC_COLUMNS,
    PROPERTY_COLUMNS,
    VIOLATION_COLUMNS,
    change,
    checked_dens,
    draft,
    extra,
    numbers,
    rates_of,
    tally,
)
from monitors.detectors._semantic_long import Long
from monitors.detectors.base import DataRequest, DetectorInputs, DetectorOutput, DetectorState, SeriesKey
from monitors.detectors.config import DetectorsConfig
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch, iso, parse_duration

FAMILIES = {"VARCHAR": "string", "BIGINT": "number", "DOUBLE": "number", "BOOLEAN": "boolean", "ARRAY": "array",
            "OBJECT": "object"}  # fmt: skip
TYPE_CHECKS = tuple(f"type:{f}" for f in sorted(set(FAMILIES.values())))
KIND_OF = {"present": "property_missing", "new": "new_property", "conformance": "conformance_drop",
           "nested_missing": "property_missing", "nested_type": "type_change",
           **{c: "type_change" for c in TYPE_CHECKS}}  # fmt: skip
SLACK = 3600


class SchemaDetector:
    """See the module docstring."""

    name = "schema"
    order = 20
    kinds = ("unplanned_event", "new_property", "type_change", "property_missing", "conformance_drop")

    def __init__(self, config: DetectorsConfig) -> None:
        self.config = config
        self._books: dict[int, RateBook] = {}

    def book(self, width: int) -> RateBook:
        """The rate book for buckets of ``width`` seconds."""
        if width not in self._books:
            sem, cfg = self.config.semantic, self.config.schema_drift
            checks = {
                "present": Check(cfg.presence.rule(complement=True, max_baseline=1 - cfg.min_presence)),
                "new": Check(cfg.new_property.rule(max_baseline=0.01)),
                "conformance": Check(cfg.conformance.rule(max_baseline=0.95)),
                "nested_missing": Check(cfg.nested.rule()),
                "nested_type": Check(cfg.nested.rule()),
                **{c: Check(cfg.type_change.rule(max_baseline=0.01), den_from="present") for c in TYPE_CHECKS},
            }
            self._books[width] = RateBook(
                self.name, sem.timing(width), checks, lateness=parse_duration(sem.lateness),
                replay=parse_duration(sem.replay), settings=cfg.model_dump_json(),
            )  # fmt: skip
        return self._books[width]

    def plan(
        self, now: datetime, bucket_seconds: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> DataRequest:
        """Metrics, violations and property types since the oldest hour not yet in the baselines."""
        since = self.book(bucket_seconds).since(now, series, state)
        return DataRequest(metrics_since=since, violations_since=since, props_since=since, samples=True)

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Judge presence, types and conformance of every event; report new unplanned events."""
        book = self.book(inputs.bucket_seconds)
        metrics = extra(inputs.extras, "metrics", METRIC_COLUMNS)
        violations = extra(inputs.extras, "violations", VIOLATION_COLUMNS)
        props = extra(inputs.extras, "props", PROPERTY_COLUMNS)
        nums = Long.concat([_property_nums(props), _conformance_nums(metrics), _nested_nums(violations)])
        unplanned = self._unplanned(book, inputs, violations)
        result = book.run(inputs.now, inputs.series, inputs.state, nums, checked_dens(metrics), unplanned,
                          annotate=_notes(props, violations))  # fmt: skip
        samples = Samples(inputs.extras.get("samples"))
        drafts = [self._draft(f, book, result, samples, violations, props) for f in result.found]
        hold = parse_duration(self.config.schema_drift.conformance_hold)
        drafts = [d for d in _without_explained_conformance(drafts, result) if not _held(d, result.end, hold)]
        news, suppress = self._new_events(unplanned, result.end, inputs, samples)
        return DetectorOutput(
            drafts=drafts + news, state=result.states, suppress=suppress, complete=True, covered=result.covered,
            stats={"series": len(result.covered), "judged": result.judged, "episodes": len(drafts) + len(news)},
        )  # fmt: skip

    # -- rate findings ----------------------------------------------------------------------

    def _draft(
        self, found: Found, book: RateBook, result: BookResult, samples: Samples, violations: pd.DataFrame,
        props: pd.DataFrame,
    ) -> FindingDraft:  # fmt: skip
        evidence: dict[str, Any] = {"detector": self.name, **numbers(found, book.timing)}
        observed, _ = rates_of(found)
        event, prop, check = found.series.event, found.subject, found.check
        kind = KIND_OF[check]
        severity = Severity.WARNING
        if check == "present":
            evidence["types"] = _usual_types(result, found.series, prop)
            required = _has(violations, found.series, "missing_required_property", prop)
            title = f"{event} without {prop} in {pct(observed)} of messages ({change(found)})"
            evidence["required_by_plan"] = required
            wanted: list[tuple[str, str | None]] = [("missing_required_property", prop), ("missing_entity_id", prop)]
            severity = Severity.CRITICAL if required else Severity.WARNING
        elif check == "new":
            evidence["types"] = found.episode["notes"]["counts"]
            title = f"New property {prop} on {event} (in {pct(observed)} of messages)"
            wanted = [("unplanned_property", "")]
            severity = Severity.INFO
        elif check in TYPE_CHECKS:
            family = check.split(":", 1)[1]
            was = {k: v for k, v in _usual_types(result, found.series, prop).items() if k != family}
            evidence.update(new_type=family, usual_types=was)
            usual = "/".join(sorted(was)) or "another type"
            title = f"{event}.{prop} arrives as {family} in {pct(observed)} of messages (usually {usual})"
            wanted = [("wrong_type", prop), ("unplanned_property", "")]
        elif check == "nested_missing":
            title = f"{event} items without {prop.split('.')[-1]} ({prop}) in {pct(observed)} of messages ({change(found)})"
            wanted = [("missing_required_property", prop)]
        elif check == "nested_type":
            title = f"{event}: {prop} has the wrong type in {pct(observed)} of messages ({change(found)})"
            wanted = [("wrong_type", prop)]
        else:
            title = f"{event} breaks the tracking plan in {pct(observed)} of messages ({change(found)})"
            evidence["violations"] = dict(list(found.episode["notes"]["counts"].items())[:8])
            wanted = [(v.split(":", 1)[0], v.split(":", 1)[1] if ":" in v else None) for v in evidence["violations"]]
        evidence["samples"] = samples.pick(found.series, wanted)
        return draft(found, kind, title, severity, evidence)

    # -- new unplanned events ---------------------------------------------------------------

    def _unplanned(self, book: RateBook, inputs: DetectorInputs, violations: pd.DataFrame) -> dict[SeriesKey, dict[str, Any]]:
        """Per series, the kept ``{"unplanned_since": first bucket}`` of events outside the plan."""
        flagged = set()
        if not violations.empty:
            rows = violations[violations["vtype"] == "unplanned_event"][KEY].drop_duplicates()
            flagged = set(series_keys(rows))
        out: dict[SeriesKey, dict[str, Any]] = {}
        w = inputs.bucket_seconds
        for key, first in zip(series_keys(inputs.series), inputs.series["first_seen"], strict=True):
            saved = book.extra_of(inputs.state.get(key)) or {}
            if "unplanned_since" in saved or key in flagged:
                out[key] = {"unplanned_since": saved.get("unplanned_since", int(first) // w * w)}
        return out

    def _new_events(
        self, unplanned: dict[SeriesKey, dict[str, Any]], end: int, inputs: DetectorInputs, samples: Samples
    ) -> tuple[list[FindingDraft], set[str]]:
        cfg = self.config.schema_drift
        if inputs.series.empty:
            return [], set()
        origin = int(inputs.series["first_seen"].min()) + parse_duration(cfg.new_event_grace)
        span = parse_duration(cfg.new_event_window)
        drafts, suppress = [], set()
        for key, kept in sorted(unplanned.items()):
            since = int(kept["unplanned_since"])
            if since < origin or since >= end or end - since > span:
                continue
            drafts.append(FindingDraft(
                kind="unplanned_event", source=key.source, environment=key.environment, event=key.event,
                started_at=from_epoch(since), last_seen_at=from_epoch(end), severity=Severity.WARNING, score=0.0,
                title=f"New event {key.event!r} is not in the tracking plan (since {iso(since)})",
                evidence={"detector": self.name, "first_bucket_at": iso(since), "reported_for_s": span,
                          "samples": samples.pick(key, [("unplanned_event", None)])},
            ))  # fmt: skip
            suppress |= explained(inputs.prior, ["new_event"], key, since, None, SLACK)
        return drafts, suppress


def _property_nums(props: pd.DataFrame) -> Long:
    """``present`` and ``new`` (non-null messages carrying the key) and ``type:<family>``."""
    if props.empty:
        return Long.empty()
    codes, uniques = factorize(props, [*KEY, "property", "json_type"])
    bucket = props["bucket_start"].to_numpy(np.int64)
    count = props["count"].to_numpy(np.float64)

    def keyed(check: str | None) -> Long:
        """Rows under one check (``None``: the check of their JSON type family)."""
        def key_of(u: tuple[str, ...]) -> tuple[SeriesKey, str, str] | None:
            """The key of a combination, or None when it is not judged."""
            family = FAMILIES.get(u[4])
            return None if family is None else (SeriesKey(*u[:3]), check or f"type:{family}", u[3])

        return Long.coded(codes, uniques, key_of, bucket, count)

    return Long.concat([keyed("present"), keyed("new"), keyed(None)])


def _conformance_nums(metrics: pd.DataFrame) -> Long:
    if metrics.empty:
        return Long.empty()
    bad = (metrics["checked"] - metrics["conforming"]).to_numpy(np.float64)
    return Long.of(metrics, KEY, lambda u: (SeriesKey(*u), "conformance", ""), bad)


def _nested_nums(violations: pd.DataFrame) -> Long:
    checks = {"missing_required_property": "nested_missing", "wrong_type": "nested_type"}

    def key_of(u: tuple[str, ...]) -> tuple[SeriesKey, str, str] | None:
        """The key of a combination, or None when it is not judged."""
        check = checks.get(u[3])
        return None if check is None or "[]." not in u[4] else (SeriesKey(*u[:3]), check, u[4])

    return Long.of(violations, [*KEY, "vtype", "property"], key_of, "count")


def _usual_types(result: BookResult, key: SeriesKey, prop: str) -> dict[str, float]:
    """JSON type families of a property over its baseline (share of its values, > 1 %)."""
    shares = {c.split(":", 1)[1]: result.baseline(key, c, prop) or 0.0 for c in TYPE_CHECKS}
    return {k: round(v, 4) for k, v in sorted(shares.items()) if v > 0.01}


def _notes(props: pd.DataFrame, violations: pd.DataFrame) -> Annotate:
    """Counts gathered over an episode's buckets run by run: the JSON type families of a new
    property, the violations behind a conformance drop."""
    prepared: dict[str, pd.DataFrame] = {}

    def frame(name: str) -> pd.DataFrame:
        """The frame a kind of notes counts from, prepared once per run."""
        if name not in prepared:
            if name == "types":
                prepared[name] = props.assign(family=props["json_type"].map(lambda t: FAMILIES.get(str(t), "null")))
            else:
                v = violations[violations["vtype"] != "leak"]
                prepared[name] = v.assign(label=v["vtype"] + v["property"].map(lambda p: f":{p}" if p else ""))
        return prepared[name]

    def annotate(found: Found, notes: dict[str, Any] | None) -> dict[str, Any]:
        """The episode's notes for new properties and conformance drops."""
        if found.check == "new":
            f = frame("types")
            return tally(f, found, notes, "family", f["property"] == found.subject if not f.empty else None)
        if found.check == "conformance":
            return tally(frame("violations"), found, notes, "label")
        return notes or {}

    return annotate


def _has(violations: pd.DataFrame, key: SeriesKey, vtype: str, prop: str) -> bool:
    if violations.empty:
        return False
    v = violations
    mask = (v["vtype"] == vtype) & (v["property"] == prop) & (v["event"] == key.event) & (v["source"] == key.source)
    return bool(mask.any())


def _held(d: FindingDraft, end: int, hold: int) -> bool:
    """A conformance drop younger than ``hold`` waits (still open: it has not ended)."""
    return d.kind == "conformance_drop" and d.ended_at is None and end - int(d.started_at.timestamp()) < hold


def _without_explained_conformance(drafts: list[FindingDraft], result: BookResult) -> list[FindingDraft]:
    """Drop conformance drops that another schema finding on the same event explains: one
    reported now, or another check's episode (open, or the last one that ended) around it."""
    others = [d for d in drafts if d.kind != "conformance_drop"]
    keep = []
    for d in drafts:
        if d.kind == "conformance_drop":
            key = SeriesKey(d.source, d.environment, d.event)
            start, end = int(d.started_at.timestamp()), None if d.ended_at is None else int(d.ended_at.timestamp())
            if explained(others, [o.kind for o in others], key, start, end, SLACK) or _spans_explain(result, key, start, end):
                continue
        keep.append(d)
    return keep


def _spans_explain(result: BookResult, key: SeriesKey, start: int, end: int | None) -> bool:
    for (series, check, _), (s_start, s_end) in result.spans.items():
        if series != key or check in ("conformance", "~den"):
            continue
        if s_start < (end if end is not None else 2**62) + SLACK and start < (s_end if s_end is not None else 2**62) + SLACK:
            return True
    return False


def create(config: DetectorsConfig) -> SchemaDetector:
    """The registry hook."""
    return SchemaDetector(config)
