"""The detection pipeline: load what each detector needs, run every registered detector with an
explicit ``now``, and reconcile their drafts with the stored findings.

Order of a pass:

1. every enabled detector, in ``order``, plans its data, gets it from the Store and runs; it sees
   the drafts of the detectors before it;
2. drafts that a later detector explains (``suppress``) are dropped, and resolved if stored open;
3. the remaining drafts are upserted by fingerprint: new ones open, changed ones update, ended
   ones resolve; detectors that report every open episode (``complete``) also resolve stored
   findings they no longer report;
4. detector state and expected bands are saved; old bands are pruned.

Running twice with the same ``now`` changes nothing the second time. Findings are written
before state, so a crash in between only repeats work on the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from monitors.config import Config
from monitors.detectors import registry
from monitors.detectors.base import (
    DataRequest,
    Detector,
    DetectorInputs,
    DetectorOutput,
    DetectorState,
    SeriesKey,
)
from monitors.models import FindingDraft
from monitors.timeutil import iso, parse_duration, to_epoch
from storage import Store

log = logging.getLogger(__name__)
COUNT_COLUMNS = ["source", "environment", "event", "bucket_start", "count"]


@dataclass
class DetectReport:
    """What one pass did."""

    now: datetime
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    bands_written: int = 0

    def as_record(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "now": iso(self.now),
            "detectors": self.detectors,
            "opened": len(self.opened),
            "updated": len(self.updated),
            "resolved": len(self.resolved),
            "suppressed": len(self.suppressed),
            "bands_written": self.bands_written,
        }


def _saved(store: Store, name: str) -> dict[SeriesKey, DetectorState]:
    return {SeriesKey(*key): DetectorState(*value) for key, value in store.load_detector_state(name).items()}


# DataRequest field → (extras name, Store reader); frames are read once per pass and shared
EXTRAS = {
    "metrics_since": ("metrics", "read_bucket_metrics"),
    "violations_since": ("violations", "read_violations"),
    "props_since": ("props", "read_property_stats"),
    "latency_since": ("latency", "read_latency_bins"),
    "identity_since": ("identity", "read_identity_blobs"),
}
Cache = dict[str, tuple[int, pd.DataFrame]]


def _extras(store: Store, request: DataRequest, until: int, cache: Cache) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for field_name, (name, reader) in EXTRAS.items():
        since = getattr(request, field_name)
        if since is None:
            continue
        held = cache.get(name)
        if held is None or held[0] > since:
            held = (since, getattr(store, reader)(since, until))
            cache[name] = held
        frame = held[1]
        out[name] = frame if held[0] == since else frame[frame["bucket_start"] >= since].reset_index(drop=True)
    if request.samples:
        if "samples" not in cache:
            cache["samples"] = (0, store.read_sample_payloads())
        out["samples"] = cache["samples"][1]
    return out


def _inputs(
    store: Store,
    detector: Detector,
    config: Config,
    now: datetime,
    series: pd.DataFrame,
    prior: list[FindingDraft],
    cache: Cache,
) -> DetectorInputs:
    width = config.bucket_seconds
    saved = _saved(store, detector.name)
    request = detector.plan(now, width, series, saved)
    if request.counts_since is None:
        counts = pd.DataFrame(columns=COUNT_COLUMNS)
    else:
        counts = store.read_counts(since=request.counts_since, until=to_epoch(now))
    extras = _extras(store, request, to_epoch(now), cache)
    return DetectorInputs(
        now=now, bucket_seconds=width, series=series, counts=counts, state=saved, prior=tuple(prior), extras=extras,
        expected=store.expected_baselines(detector.kinds),
    )


def run_detection(
    store: Store,
    config: Config,
    *,
    now: datetime,
    only: list[str] | None = None,
    rebuild: bool = False,
    detectors: Sequence[Detector] | None = None,
) -> DetectReport:
    """One detection pass at ``now`` (see the module docstring). ``detectors`` replaces the
    registry (tests, embedding)."""
    report = DetectReport(now=now)
    series = store.list_series()
    detectors = (
        registry(config.detectors, only) if detectors is None else sorted(detectors, key=lambda d: d.order)
    )
    prior: list[FindingDraft] = []
    outputs: list[tuple[Detector, DetectorOutput]] = []
    cache: Cache = {}
    for detector in detectors:
        if rebuild:
            store.clear_detector_state(detector.name)
        output = detector.run(_inputs(store, detector, config, now, series, prior, cache))
        log.info("detector %s: %s", detector.name, output.stats)
        report.detectors[detector.name] = output.stats
        prior.extend(output.drafts)
        outputs.append((detector, output))
    suppressed = set().union(*(out.suppress for _, out in outputs)) if outputs else set()
    drafts = [d for d in prior if d.fingerprint not in suppressed]
    upserted = store.upsert_findings(drafts, now=now)
    report.opened, report.updated, report.resolved = upserted.opened, upserted.updated, upserted.resolved
    report.suppressed = store.auto_resolve(sorted(suppressed), now=now, note="explained by another finding")
    for detector, output in outputs:
        _finish(store, config, detector, output, now, report)
    return report


def _finish(
    store: Store,
    config: Config,
    detector: Detector,
    output: DetectorOutput,
    now: datetime,
    report: DetectReport,
) -> None:
    if output.complete:
        keep = {d.fingerprint for d in output.drafts}
        scope = {(k.source, k.environment, k.event) for k in output.covered}
        note = f"no longer reported by the {detector.name} detector"
        report.resolved += store.resolve_missing(detector.kinds, keep, scope, now=now, note=note)
    states = {
        (k.source, k.environment, k.event): (s.through, s.version, s.blob) for k, s in output.state.items()
    }
    store.save_detector_state(detector.name, states, now=now)
    if output.bands is not None and not output.bands.empty:
        report.bands_written += store.write_bands(output.bands)
    keep_for = parse_duration(config.detectors.volume.bands_keep)
    store.prune_bands(to_epoch(now) - keep_for)
