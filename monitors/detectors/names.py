"""Near-duplicate names, a standing check: event names and property names that fold to the same
key (``Added to Cart`` / ``added_to_cart``; ``First_name`` / ``first_name``) but are spelled
differently. Customer.io event and attribute names are case-sensitive: two spellings are two
events (or attributes) there, and segments, triggers and templates see only one of them.

Names are compared per environment across sources (web and app sending different spellings is
the usual way it happens). Every variant seen within ``window`` counts; the finding lists each
spelling with where it comes from and its messages since first seen, and suggests the most
common spelling. It starts when the second spelling first appeared and resolves when only one
is still seen. Per series the detector keeps, in its state, each property's first and last
bucket and message count, so a run reads only the buckets since the previous one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from monitors.detectors._semantic import KEY, factorize, fold, judge_end, series_keys
from monitors.detectors._semantic_draft import METRIC_COLUMNS, PROPERTY_COLUMNS, extra
from monitors.detectors.base import DataRequest, DetectorInputs, DetectorOutput, DetectorState, SeriesKey
from monitors.detectors.config import DetectorsConfig
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch, iso, parse_duration

VERSION = "names-1"
ALL = "*"


class NamesDetector:
    """See the module docstring."""

    name = "names"
    order = 60
    kinds = ("duplicate_event_name", "duplicate_property_name")

    def __init__(self, config: DetectorsConfig) -> None:
        self.window = parse_duration(config.names.window)
        self.hold = parse_duration(config.names.hold)
        self.lateness = parse_duration(config.semantic.lateness)

    def _start(self, key: SeriesKey, end: int, state: Mapping[SeriesKey, DetectorState]) -> int:
        saved = state.get(key)
        return saved.through if saved is not None and saved.version == VERSION else end - self.window

    def plan(
        self, now: datetime, bucket_seconds: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> DataRequest:
        """Counts and property keys since the previous run (a window's worth on the first)."""
        end = judge_end(now, bucket_seconds, self.lateness, series)
        starts = [self._start(k, end, state) for k in series_keys(series)]
        since = min(starts) if starts else None
        return DataRequest(metrics_since=since, props_since=since) if since is not None and since < end else DataRequest()

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Update what each series has seen, then report the spellings that collide."""
        end = judge_end(inputs.now, inputs.bucket_seconds, self.lateness, inputs.series)
        seen = self._update(inputs, end)
        out = DetectorOutput(complete=True)
        for key, info in seen.items():
            out.state[key] = DetectorState(through=end, version=VERSION, blob=json.dumps(info, sort_keys=True).encode())
        out.drafts = self._events(inputs.series, seen, end) + self._properties(seen, end)
        envs = {k.environment for k in seen}
        out.covered = set(seen) | {SeriesKey(ALL, env, d.event) for env in envs for d in out.drafts}
        out.stats = {"series": len(seen), "duplicates": len(out.drafts)}
        return out

    def _update(self, inputs: DetectorInputs, end: int) -> dict[SeriesKey, dict[str, Any]]:
        metrics = extra(inputs.extras, "metrics", METRIC_COLUMNS)
        props = extra(inputs.extras, "props", PROPERTY_COLUMNS)
        starts = {k: self._start(k, end, inputs.state) for k in series_keys(inputs.series)}
        seen: dict[SeriesKey, dict[str, Any]] = {}
        for key in starts:
            saved = inputs.state.get(key)
            seen[key] = json.loads(saved.blob) if saved is not None and saved.version == VERSION else {"count": 0, "props": {}}
        for (key,), (_, _, n) in _sums(metrics, [], starts, end).items():
            seen[key]["count"] += n
        for (key, prop), (lo, hi, n) in _sums(props, ["property"], starts, end).items():
            first, last, total = seen[key]["props"].get(prop, [lo, hi, 0])
            seen[key]["props"][prop] = [min(first, lo), max(last, hi), total + n]
        return seen

    def _events(self, series: pd.DataFrame, seen: dict[SeriesKey, dict[str, Any]], end: int) -> list[FindingDraft]:
        groups: dict[tuple[str, str], list[tuple[str, str, int, int]]] = defaultdict(list)
        for key, first, last in zip(series_keys(series), series["first_seen"], series["last_seen"], strict=True):
            if int(last) >= end - self.window and int(first) < end and not key.event.startswith("$"):
                groups[(key.environment, fold(key.event))].append((key.event, key.source, int(first), seen[key]["count"]))
        drafts = []
        for (env, folded), rows in sorted(groups.items()):
            variants: dict[str, dict[str, int]] = defaultdict(dict)
            firsts: dict[str, int] = {}
            for event, source, first, count in rows:
                variants[event][source] = count
                firsts[event] = min(firsts.get(event, first), first)
            if len(variants) > 1 and sorted(firsts.values())[1] <= end - self.hold:
                drafts.append(_draft("duplicate_event_name", env, folded, variants, firsts, end, Severity.WARNING))
        return drafts

    def _properties(self, seen: dict[SeriesKey, dict[str, Any]], end: int) -> list[FindingDraft]:
        groups: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        firsts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        for key, info in seen.items():
            for prop, (first, last, total) in info["props"].items():
                if last < end - self.window:
                    continue
                group = (key.environment, fold(prop))
                groups[group][prop][f"{key.source}/{key.event}"] = total
                firsts[group][prop] = min(firsts[group].get(prop, first), first)
        drafts = []
        for (env, folded), variants in sorted(groups.items()):
            if len(variants) > 1 and sorted(firsts[(env, folded)].values())[1] <= end - self.hold:
                traits = any(w.endswith("/$identify") for v in variants.values() for w in v)
                severity = Severity.WARNING if traits else Severity.INFO
                drafts.append(_draft("duplicate_property_name", env, folded, variants, firsts[(env, folded)], end, severity))
        return drafts


def _sums(
    frame: pd.DataFrame, cols: list[str], starts: dict[SeriesKey, int], end: int
) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    """Per (series, *cols): first bucket, last bucket and messages, over the buckets each series
    has not counted yet."""
    if frame.empty:
        return {}
    codes, uniques = factorize(frame, KEY)
    lo = pd.Series([starts.get(SeriesKey(*u), end) for u in uniques]).to_numpy()[codes]
    t = frame["bucket_start"].to_numpy()
    rows = frame[(t >= lo) & (t < end)]
    grouped = rows.groupby([*KEY, *cols], sort=False).agg(
        first=("bucket_start", "min"), last=("bucket_start", "max"), n=("count", "sum")
    )
    out: dict[tuple[Any, ...], tuple[int, int, int]] = {}
    for index, first, last, n in zip(grouped.index, grouped["first"], grouped["last"], grouped["n"], strict=True):
        parts = index if isinstance(index, tuple) else (index,)
        out[(SeriesKey(*map(str, parts[:3])), *parts[3:])] = (int(first), int(last), int(n))
    return out


def _draft(
    kind: str, env: str, folded: str, variants: Mapping[str, Mapping[str, int]], firsts: Mapping[str, int], end: int,
    severity: Severity,
) -> FindingDraft:  # fmt: skip
    totals = {name: sum(v.values()) for name, v in variants.items()}
    canonical = max(sorted(totals), key=lambda n: totals[n])
    started = sorted(firsts.values())[1]
    what = "event names" if kind == "duplicate_event_name" else "property names"
    listed = " / ".join(f"{n!r} ({totals[n]:,})" for n in sorted(totals, key=lambda n: -totals[n]))
    return FindingDraft(
        kind=kind, source=ALL, environment=env, event="", subject=folded,
        started_at=from_epoch(started), last_seen_at=from_epoch(end), severity=severity, score=float(len(variants)),
        title=f"Near-duplicate {what} in {env}: {listed} — Customer.io treats them as different",
        evidence={"detector": "names", "folded": folded, "suggested": canonical, "variants": {k: dict(v) for k, v in variants.items()},
                  "first_seen": {k: iso(v) for k, v in firsts.items()}, "counts": "messages since each variant was first seen",
                  "samples": []},
    )  # fmt: skip


def create(config: DetectorsConfig) -> NamesDetector:
    """The registry hook."""
    return NamesDetector(config)
