"""Leakage detector: staging and test data in production, per event, against its own baseline.

Ingest flags every message with test/staging signals (test email domains and forms, QA user
ids, non-production hosts in ``context.page.url`` / referrer, development builds, non-production
environment markers, known QA identities; patterns in the ``leakage:`` config section) and stores
the count per event and bucket (violation type ``leak``). This detector watches the **leak rate**
(leaked / checked messages) and the rate of each signal on its own (a development build or a
staging host usually never shows in production: its rate rises from nothing) of every event and
source, and raises one ``staging_leak`` per episode when any rises above its baseline, naming the
signals and showing redacted samples. Strong signals (``strong_signals``: no customer sends them)
are judged on per-source totals with the exact Poisson tail, so two test sessions on a source
that never sends test data are a finding while one stray session, or a QA trickle the baseline
already carries, is not. Impossible timestamps (in the
future, or around the epoch) are a sign of test fixtures too: ``impossible_timestamps``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from monitors.detectors._semantic import KEY, Samples, pct
from monitors.detectors._semantic_book import Annotate, Check, Found, RateBook
from monitors.detectors._semantic_draft import (
    METRIC_COLUMNS,
    VIOLATION_COLUMNS,
    checked_dens,
    draft,
    extra,
    fold_totals,
    groups,
    label,
    numbers,
    rates_of,
    tally,
)
from monitors.detectors._semantic_long import Long
from monitors.detectors._semantic_totals import ALL
from monitors.detectors.base import DataRequest, DetectorInputs, DetectorOutput, DetectorState, SeriesKey
from monitors.detectors.config import DetectorsConfig
from monitors.models import FindingDraft, Severity
from monitors.timeutil import parse_duration

KINDS = {"leak": "staging_leak", "signal": "staging_leak", "strong": "staging_leak", "impossible_timestamp": "impossible_timestamps"}
LEAKS = ("leak", "signal", "strong")


class LeakageDetector:
    """See the module docstring."""

    name = "leakage"
    order = 30
    kinds = ("staging_leak", "impossible_timestamps")

    def __init__(self, config: DetectorsConfig) -> None:
        self.config = config
        self._books: dict[int, RateBook] = {}

    def book(self, width: int) -> RateBook:
        """The rate book for buckets of ``width`` seconds."""
        if width not in self._books:
            sem, cfg = self.config.semantic, self.config.leakage
            checks = {
                "leak": Check(cfg.leak.rule(), total_rule=cfg.leak.total_rule()),
                "signal": Check(cfg.leak.rule(), total_rule=cfg.leak.total_rule()),
                # a strong signal on a per-source total: the exact tail (sessions are the unit)
                "strong": Check(cfg.leak.rule(), total_rule=cfg.leak.total_rule(exact=True)),
                "impossible_timestamp": Check(cfg.impossible_timestamps.rule(), total_rule=cfg.impossible_timestamps.total_rule()),
            }
            self._books[width] = RateBook(
                self.name, sem.timing(width), checks, lateness=parse_duration(sem.lateness),
                replay=parse_duration(sem.replay), settings=cfg.model_dump_json(), totals=list(checks),
            )  # fmt: skip
        return self._books[width]

    def plan(
        self, now: datetime, bucket_seconds: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> DataRequest:
        """Bucket metrics and violations since the oldest hour not yet in the baselines."""
        since = self.book(bucket_seconds).since(now, series, state)
        return DataRequest(metrics_since=since, violations_since=since, samples=True)

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Judge the leak and impossible-timestamp rates of every event."""
        book = self.book(inputs.bucket_seconds)
        violations = extra(inputs.extras, "violations", VIOLATION_COLUMNS)
        nums = Long.of(violations, [*KEY, "vtype", "property"], _keyer(set(self.config.leakage.strong_signals)), "count")
        dens = checked_dens(extra(inputs.extras, "metrics", METRIC_COLUMNS))
        result = book.run(inputs.now, inputs.series, inputs.state, nums, dens, annotate=_notes(violations))
        samples = Samples(inputs.extras.get("samples"))
        gap = book.timing.resolve_after * book.timing.width
        leaks = groups([f for f in result.found if f.check in LEAKS], gap)
        drafts = [self._draft(g[0], book, samples, g) for g in leaks]
        drafts += [self._draft(f, book, samples, [f]) for f in result.found if f.check == "impossible_timestamp"]
        drafts = fold_totals(drafts, result, KINDS.__getitem__, subjects=False)
        return DetectorOutput(
            drafts=drafts, state=result.states, complete=True, covered=result.covered,
            stats={"series": len(result.covered), "judged": result.judged, "episodes": len(drafts), "judged_until": result.end},
        )  # fmt: skip

    def _draft(self, found: Found, book: RateBook, samples: Samples, group: list[Found]) -> FindingDraft:
        """One finding per series and time for the leak rate and the rates of single signals."""
        evidence: dict[str, Any] = {"detector": self.name, **numbers(found, book.timing)}
        observed, expected = rates_of(found)
        event = label(found.series)
        if found.check in LEAKS:
            signals = found.episode["notes"]["signals"]["counts"]
            evidence["signals"] = signals
            evidence["elevated"] = sorted({f.subject or "any signal" for f in group})
            evidence["samples"] = _samples(samples, found, [*(("leak", s) for s in signals), ("leak", None)])
            named = ", ".join(list(signals)[:3]) or "test/staging signals"
            what = f"{pct(observed)} of messages" if found.check == "leak" else f"{pct(observed)} of messages show {found.subject}"
            title = f"Test or staging data in production {event}: {what} ({named}; usually {pct(expected)})"
        else:
            evidence["samples"] = _samples(samples, found, [("impossible_timestamp", None)])
            title = f"Impossible timestamps in {event}: {pct(observed)} of messages (usually {pct(expected)})"
        if found.series.event == ALL:
            evidence["messages_by_event"] = found.episode["notes"]["events"]["counts"]
        critical = observed >= self.config.leakage.critical_rate
        ended = None if any(f.ended_at is None for f in group) else max(int(f.ended_at or 0) for f in group)
        whole = Found(found.series, found.check, "", found.episode, ended, any(f.adapted for f in group))
        return draft(whole, KINDS[found.check], title, Severity.CRITICAL if critical else Severity.WARNING, evidence)


def _keyer(strong: set[str]) -> Callable[[tuple[str, ...]], tuple[SeriesKey, str, str] | None]:
    """Numerator keys: the leak rate (any signal), each signal's rate (``strong`` or weak
    ``signal``), impossible timestamps."""

    def key_of(u: tuple[str, ...]) -> tuple[SeriesKey, str, str] | None:
        """The rate key of one (series, violation type, signal) row."""
        source, environment, event, vtype, prop = u
        key = SeriesKey(source, environment, event)
        if vtype == "leak":
            return (key, "leak", "") if prop == "" else (key, "strong" if prop in strong else "signal", prop)
        return (key, "impossible_timestamp", "") if vtype == "impossible_timestamp" else None

    return key_of


def _notes(violations: pd.DataFrame) -> Annotate:
    """Counts per leak signal and per event, gathered over the episode's buckets run by run."""
    v = violations
    leak = (v["vtype"] == "leak") if not v.empty else None
    signal = None if leak is None else leak & (v["property"] != "")
    any_leak = None if leak is None else leak & (v["property"] == "")
    stamps = None if v.empty else v["vtype"] == "impossible_timestamp"

    def annotate(found: Found, notes: dict[str, Any] | None) -> dict[str, Any]:
        """The episode's notes: counts per signal and per event so far."""
        prev = notes or {}
        events_mask = stamps if found.check == "impossible_timestamp" else any_leak
        return {"signals": tally(v, found, prev.get("signals"), "property", signal),
                "events": tally(v, found, prev.get("events"), "event", events_mask)}  # fmt: skip

    return annotate


def _samples(samples: Samples, found: Found, wanted: list[tuple[str, str | None]]) -> list[dict[str, Any]]:
    """Samples of the series, or for a per-source total, of its events (most affected first)."""
    if found.series.event != ALL:
        return samples.pick(found.series, wanted)
    return samples.pick_source(found.series, wanted, list(found.episode["notes"]["events"]["counts"]))


def create(config: DetectorsConfig) -> LeakageDetector:
    """The registry hook."""
    return LeakageDetector(config)
