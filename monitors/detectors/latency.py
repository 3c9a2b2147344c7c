"""Latency: per-event SLOs on a chosen hop and percentile, and slow-downs against each event's
own latency baseline.

Latencies are stored per bucket as mergeable sketches for three hops: ``send`` (timestamp →
sentAt), ``deliver`` (sentAt → receivedAt) and ``e2e`` (timestamp → receivedAt). Both checks are
rates of the rate engine, over the events of the hop:

* ``latency_slo`` — "p95 of e2e ≤ 5 minutes" means at most 5 % of events over 5 minutes; the
  finding opens when the share over the SLO is significantly above 5 % (fixed baseline). The
  defaults follow the seed: Added to Cart and Checkout Started e2e p95 ≤ 5m (abandon timers start
  from them), Order Completed e2e p95 ≤ 2m (it is the journeys' exit condition);
* ``latency_anomaly`` — the share of events slower than 30s / 2m / 10m / 1h, each against its own
  baseline (a threshold most events are usually over is not judged); one finding per event.

Both name the hop that got slow (the hop whose share of slow events rose most, ``e2e`` only when
neither component hop explains it), show p50/p95/p99 per hop in the latest hour, and explain a
concurrent volume drop of the same event (late events are missing from recent buckets).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from monitors.detectors._semantic import KEY, explained, factorize, pct, rnd, series_keys, window
from monitors.detectors._semantic_book import BookResult, Check, Found, RateBook
from monitors.detectors._semantic_config import SLOConfig
from monitors.detectors._semantic_draft import (
    LATENCY_COLUMNS,
    draft,
    extra,
    fold_totals,
    groups,
    label,
    numbers,
    rates_of,
)
from monitors.detectors._semantic_long import Long
from monitors.detectors._semantic_sketch import latency_entries
from monitors.detectors._semantic_totals import ALL
from monitors.detectors.base import DataRequest, DetectorInputs, DetectorOutput, DetectorState, SeriesKey
from monitors.detectors.config import DetectorsConfig
from monitors.models import FindingDraft, Severity
from monitors.sketch import LatencySketch, bin_index
from monitors.timeutil import format_duration, parse_duration

HOPS = ("send", "deliver", "e2e")
SLACK = 3600


def slo_name(slo: SLOConfig) -> str:
    """``e2e p95 ≤ 5m``: the finding's subject."""
    return f"{slo.hop} p{slo.percentile:g} ≤ {slo.max}"


class LatencyDetector:
    """See the module docstring."""

    name = "latency"
    order = 40
    kinds = ("latency_slo", "latency_anomaly")

    def __init__(self, config: DetectorsConfig) -> None:
        self.config = config
        cfg = config.latency
        self.thresholds = sorted(parse_duration(t) for t in cfg.thresholds)
        self._books: dict[int, RateBook] = {}

    def book(self, width: int) -> RateBook:
        """The rate book for buckets of ``width`` seconds."""
        if width not in self._books:
            sem, cfg = self.config.semantic, self.config.latency
            anomaly = cfg.anomaly.rule(max_baseline=cfg.max_baseline_share)
            total = cfg.anomaly.total_rule(max_baseline=cfg.max_baseline_share)
            checks = {f"slow:{t}": Check(anomaly, den="hop", per_subject=True, total_rule=total) for t in self.thresholds}
            for i, slo in enumerate(cfg.slos):
                checks[f"slo:{i}"] = Check(cfg.slo.rule(), den="hop", per_subject=True, fixed=1 - slo.percentile / 100)
            self._books[width] = RateBook(
                self.name, sem.timing(width), checks, lateness=parse_duration(sem.lateness),
                replay=parse_duration(cfg.replay), settings=cfg.model_dump_json(),
                totals=[f"slow:{t}" for t in self.thresholds],
            )  # fmt: skip
        return self._books[width]

    def plan(
        self, now: datetime, bucket_seconds: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> DataRequest:
        """Latency sketches since the oldest hour not yet in the baselines."""
        return DataRequest(latency_since=self.book(bucket_seconds).since(now, series, state))

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Judge SLOs and slow-downs of every event and hop."""
        book = self.book(inputs.bucket_seconds)
        frame = extra(inputs.extras, "latency", LATENCY_COLUMNS)
        decoded = _Decoded(frame)
        nums, dens = self._frames(decoded)
        result = book.run(inputs.now, inputs.series, inputs.state, nums, dens)
        slos = [f for f in result.found if f.check.startswith("slo:")]
        slow = [f for f in result.found if f.check.startswith("slow:")]
        drafts = [self._slo_draft(f, book, result, decoded, slow) for f in slos]
        anomalies = self._anomaly_drafts(slow, slos, book, result, decoded)
        drafts += fold_totals(anomalies, result, lambda c: "latency_anomaly" if c.startswith("slow:") else c, subjects=False)
        suppress: set[str] = set()
        for d in drafts:
            end = None if d.ended_at is None else int(d.ended_at.timestamp())
            for key in _events_of(inputs.series, d):
                suppress |= explained(inputs.prior, ["volume_drop", "silence"], key, int(d.started_at.timestamp()), end, SLACK)
        return DetectorOutput(
            drafts=drafts, state=result.states, suppress=suppress, complete=True, covered=result.covered,
            stats={"series": len(result.covered), "judged": result.judged, "episodes": len(drafts)},
        )  # fmt: skip

    def _frames(self, d: _Decoded) -> tuple[Long, Long]:
        if d.frame.empty:
            return Long.empty(), Long.empty()
        codes, uniques = d.codes()
        bucket = d.frame["bucket_start"].to_numpy(np.int64)
        dens = Long.coded(codes, uniques, lambda u: (SeriesKey(*u[:3]), f"hop:{u[3]}"), bucket, d.total)
        parts = [Long.coded(codes, uniques, partial(_slow_key, check=f"slow:{t}"), bucket, d.above(t)) for t in self.thresholds]
        for i, slo in enumerate(self.config.latency.slos):
            key_of = partial(_slo_key, slo=slo, check=f"slo:{i}")
            parts.append(Long.coded(codes, uniques, key_of, bucket, d.above(parse_duration(slo.max))))
        return Long.concat(parts), dens

    # -- drafts -----------------------------------------------------------------------------

    def _slo_draft(self, found: Found, book: RateBook, result: BookResult, d: _Decoded, episodes: list[Found]) -> FindingDraft:
        slo = self.config.latency.slos[int(found.check.split(":")[1])]
        observed, allowed = rates_of(found)
        hops = self._hops(found, book, result, d)
        slow = _slow_hop(found, episodes, hops)
        evidence: dict[str, Any] = {
            "detector": self.name, **numbers(found, book.timing), "slo": slo.model_dump(), "share_over_slo": rnd(observed),
            "allowed_share": rnd(allowed), "slow_hop": slow, "hops": hops, "samples": [],
        }  # fmt: skip
        why = f" — {slo.reason}" if slo.reason else ""
        title = (f"{found.series.event} misses its latency SLO ({slo_name(slo)}): {pct(observed)} of events slower than "
                 f"{slo.max} (allowed {pct(allowed)}); slow hop: {slow}{why}")  # fmt: skip
        severity = Severity.CRITICAL if observed >= 2 * allowed + 0.1 else Severity.WARNING
        return draft(found, "latency_slo", title, severity, evidence, subject=slo_name(slo))

    def _anomaly_drafts(
        self, slow: list[Found], slos: list[Found], book: RateBook, result: BookResult, d: _Decoded
    ) -> list[FindingDraft]:
        out = []
        for group in groups(slow, book.timing.resolve_after * book.timing.width):
            first = group[0]
            if any(_overlap(first, s) for s in slos if s.series == first.series):
                continue  # the SLO finding names the slow hop already
            hops = self._hops(first, book, result, d)
            hop = _slow_hop(first, slow, hops)
            ended = None if any(f.ended_at is None for f in group) else max(int(f.ended_at or 0) for f in group)
            found = Found(first.series, first.check, "", first.episode, ended, any(f.adapted for f in group))
            threshold = int(first.check.split(":")[1])
            observed, expected = rates_of(first)
            evidence = {"detector": self.name, **numbers(found, book.timing), "slow_hop": hop, "hops": hops,
                        "threshold_s": threshold, "keys": sorted({f"{f.subject}>{f.check[5:]}s" for f in group}),
                        "samples": []}  # fmt: skip
            title = (f"{label(first.series)} got slower on the {hop} hop: {pct(observed)} of events over "
                     f"{format_duration(threshold)} (usually {pct(expected)})")  # fmt: skip
            out.append(draft(found, "latency_anomaly", title, Severity.WARNING, evidence, subject=""))
        return out

    def _hops(self, found: Found, book: RateBook, result: BookResult, d: _Decoded) -> dict[str, dict[str, Any]]:
        """Per hop: p50/p95/p99 over the latest hour and the share over each threshold then and usually."""
        w = book.timing.width
        end = int(found.episode.get("now_at", found.episode["last_cont"])) + w
        start = end - max(book.timing.windows) * w
        out: dict[str, dict[str, Any]] = {}
        for hop in HOPS:
            sketch = d.merged(found.series, hop, start, end)
            if sketch.count == 0:
                continue
            q = sketch.quantiles((0.5, 0.95, 0.99))
            shares = {}
            for t in self.thresholds:
                usual = result.baseline(found.series, f"slow:{t}", hop)
                shares[f"over_{t}s"] = {"now": rnd(sketch.share_above(t)), "usual": rnd(usual)}
            out[hop] = {"events": sketch.count, **window(start, end),
                        **{f"p{k}": rnd(v, 3) for k, v in zip((50, 95, 99), q, strict=True)}, "shares": shares}  # fmt: skip
        return out


class _Decoded:
    """The latency frame with every sketch decoded once: totals and counts above thresholds per row."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self.rows, self.bins, self.counts = latency_entries(frame["bins"].tolist()) if len(frame) else (np.empty(0, np.int64),) * 3
        self.total = np.bincount(self.rows, weights=self.counts, minlength=len(frame))
        self._keys: tuple[np.ndarray, list[tuple[str, ...]]] | None = None

    def above(self, seconds: int) -> np.ndarray:
        """Events over ``seconds`` per row."""
        over = self.bins > bin_index(float(seconds))
        return np.bincount(self.rows[over], weights=self.counts[over], minlength=len(self.frame))

    def codes(self) -> tuple[np.ndarray, list[tuple[str, ...]]]:
        """Row codes by (source, environment, event, hop) and the distinct combinations."""
        if self._keys is None:
            self._keys = factorize(self.frame, [*KEY, "hop"])
        return self._keys

    def merged(self, key: SeriesKey, hop: str, start: int, end: int) -> LatencySketch:
        """The merged sketch of one series and hop over ``[start, end)``."""
        f = self.frame
        if f.empty:
            return LatencySketch.empty()
        codes, uniques = self.codes()
        wanted = [i for i, u in enumerate(uniques)
                  if u[0] == key.source and u[1] == key.environment and u[3] == hop and key.event in (u[2], ALL)]  # fmt: skip
        t = f["bucket_start"].to_numpy()
        mine = np.flatnonzero(np.isin(codes, wanted) & (t >= start) & (t < end))
        take = np.isin(self.rows, mine)
        bins, inverse = np.unique(self.bins[take], return_inverse=True)
        counts = np.bincount(inverse, weights=self.counts[take]).astype(np.int64) if len(bins) else np.empty(0, np.int64)
        return LatencySketch({int(b): int(c) for b, c in zip(bins, counts, strict=True)})


def _slow_key(u: tuple[str, ...], check: str) -> tuple[SeriesKey, str, str]:
    return SeriesKey(*u[:3]), check, u[3]


def _slo_key(u: tuple[str, ...], slo: SLOConfig, check: str) -> tuple[SeriesKey, str, str] | None:
    """The SLO's key for a (source, environment, event, hop) combination it covers."""
    source, environment, event, hop = u
    covered = (hop == slo.hop and fnmatch.fnmatchcase(source, slo.source)
               and fnmatch.fnmatchcase(environment, slo.environment) and fnmatch.fnmatchcase(event, slo.event))  # fmt: skip
    return (SeriesKey(source, environment, event), check, hop) if covered else None


def _slow_hop(found: Found, episodes: list[Found], hops: dict[str, dict[str, Any]]) -> str:
    """The hop that got slow: the component hop (send, deliver) with the strongest slow-down
    episode of the same series or its source's total around the same time; else the component
    whose share of slow events rose most in the latest hour; ``e2e`` when neither explains it."""
    mine = {found.series, SeriesKey(found.series.source, found.series.environment, ALL)}
    strength: dict[str, float] = {}
    for e in episodes:
        if e.series in mine and e.subject in ("send", "deliver") and _overlap(found, e):
            strength[e.subject] = max(strength.get(e.subject, 0.0), float(e.episode["peak_z"]))
    if strength:
        return max(sorted(strength), key=lambda h: strength[h])

    def rise(hop: str) -> float:
        """How much more of the hop's events are over a threshold than usually."""
        shares = hops.get(hop, {}).get("shares", {})
        return max(((v["now"] or 0.0) - (v["usual"] or 0.0) for v in shares.values()), default=0.0)

    best = max(("send", "deliver"), key=rise)
    return best if rise(best) >= 0.05 else "e2e"


def _events_of(series: pd.DataFrame, d: FindingDraft) -> list[SeriesKey]:
    """The series a draft is about: its own, or every event of the source for a total."""
    if d.event != ALL:
        return [SeriesKey(d.source, d.environment, d.event)]
    return [k for k in series_keys(series) if (k.source, k.environment) == (d.source, d.environment)]


def _overlap(a: Found, b: Found) -> bool:
    a_end = a.ended_at if a.ended_at is not None else 2**62
    b_end = b.ended_at if b.ended_at is not None else 2**62
    return bool(a.episode["start"] < b_end + SLACK and b.episode["start"] < a_end + SLACK)


def create(config: DetectorsConfig) -> LatencyDetector:
    """The registry hook."""
    return LatencyDetector(config)
