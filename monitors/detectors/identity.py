"""Identity hygiene: rates that break profiles and journeys in Customer.io, with findings when they rise.

* ``email_as_user_id`` — the userId is an email address (profiles fragment when emails change);
* ``missing_identity`` — neither userId nor anonymousId (the event cannot land on a profile);
* ``missing_entity_id`` — a cart or order event without its ``cart_id`` / ``order_id`` (without it,
  one cart can start several abandon flows), subject = the property;
* ``never_identified`` / ``never_linked`` — profile checks from the identity HyperLogLogs, once per
  completed UTC day (see :mod:`._semantic_profiles`), reported on the source's ``$identify``
  series.

The first three are violation rates (per checked message) judged by the rate engine against each
event's baseline, with redacted samples. Findings here explain a concurrent ``conformance_drop``
and the schema detector's ``property_missing`` of the same entity id (they are suppressed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from monitors.detectors import _semantic_profiles as profiles
from monitors.detectors._semantic import Samples, explained, factorize, pct, window
from monitors.detectors._semantic_book import Annotate, Check, Found, RateBook
from monitors.detectors._semantic_draft import (
    METRIC_COLUMNS,
    VIOLATION_COLUMNS,
    change,
    checked_dens,
    draft,
    extra,
    fold_totals,
    label,
    numbers,
    rates_of,
    tally,
    violation_nums,
)
from monitors.detectors._semantic_totals import ALL
from monitors.detectors.base import DataRequest, DetectorInputs, DetectorOutput, DetectorState, SeriesKey
from monitors.detectors.config import DetectorsConfig
from monitors.models import FindingDraft, Severity
from monitors.timeutil import from_epoch, iso, parse_duration

VIOLATIONS: dict[tuple[str, str | None], str] = {
    ("email_as_user_id", ""): "email_as_user_id",
    ("missing_identity", ""): "missing_identity",
    ("missing_entity_id", None): "missing_entity_id",
}
"""(vtype, property) → check; only missing_entity_id keeps the property (cart_id, order_id)"""
IDENTITY_COLUMNS = ["source", "environment", "event", "bucket_start", "uid_hll", "anon_only_hll", "linked_hll"]
HOST = "$identify"
SLACK = 3600
DAY = 86400


class IdentityDetector:
    """See the module docstring."""

    name = "identity"
    order = 50
    kinds = ("email_as_user_id", "missing_identity", "missing_entity_id", "never_identified", "never_linked")

    def __init__(self, config: DetectorsConfig) -> None:
        self.config = config
        cfg = config.identity
        days = {k: max(parse_duration(v) // DAY, 1) for k, v in
                (("window", cfg.window), ("horizon", cfg.identify_horizon), ("link_within", cfg.link_within))}  # fmt: skip
        self.settings = profiles.ProfileSettings(**days, min_increase=cfg.min_increase, min_ids=cfg.min_ids)
        self._books: dict[int, RateBook] = {}

    def book(self, width: int) -> RateBook:
        """The rate book for buckets of ``width`` seconds."""
        if width not in self._books:
            sem, cfg = self.config.semantic, self.config.identity
            checks = {
                "email_as_user_id": Check(cfg.email_as_user_id.rule(), total_rule=cfg.email_as_user_id.total_rule()),
                "missing_identity": Check(cfg.missing_identity.rule(), total_rule=cfg.missing_identity.total_rule()),
                "missing_entity_id": Check(cfg.missing_entity_id.rule()),
            }
            self._books[width] = RateBook(
                self.name, sem.timing(width), checks, lateness=parse_duration(sem.lateness),
                replay=parse_duration(sem.replay), settings=cfg.model_dump_json(),
                totals=["email_as_user_id", "missing_identity"],
            )  # fmt: skip
        return self._books[width]

    # -- planning ---------------------------------------------------------------------------

    def _due(self, book: RateBook, now: datetime, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]) -> int | None:
        """The first sketch bucket the profile checks need now (None: no completed day to judge)."""
        day = book.end(now, series) // DAY
        starts = []
        for host in _hosts(series):
            kept = book.extra_of(state.get(host)) or {}
            if int(kept.get("day", 0)) >= day:
                continue
            saved = kept.get("days")
            starts.append(int(saved["first"]) + int(saved["days"]) if saved else day - self.settings.cold())
        return min(starts) * DAY if starts else None

    def plan(
        self, now: datetime, bucket_seconds: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> DataRequest:
        """Metrics and violations for the rates; identity sketches when the profile checks are due."""
        book = self.book(bucket_seconds)
        since = book.since(now, series, state)
        return DataRequest(metrics_since=since, violations_since=since, identity_since=self._due(book, now, series, state),
                           samples=True)  # fmt: skip

    # -- running ----------------------------------------------------------------------------

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Judge the identity rates of every event, and the profile checks when due."""
        book = self.book(inputs.bucket_seconds)
        violations = extra(inputs.extras, "violations", VIOLATION_COLUMNS)
        nums = violation_nums(violations, VIOLATIONS, subject=True)
        dens = checked_dens(extra(inputs.extras, "metrics", METRIC_COLUMNS))
        kept, profile_drafts = self._profiles(book, inputs)
        result = book.run(inputs.now, inputs.series, inputs.state, nums, dens, kept, annotate=_notes(violations))
        samples = Samples(inputs.extras.get("samples"))
        drafts = fold_totals([self._draft(f, book, samples, violations) for f in result.found], result, str)
        suppress = set()
        for f in result.found:
            suppress |= explained(inputs.prior, ["conformance_drop"], f.series, f.episode["start"], f.ended_at, SLACK)
            if f.check == "missing_entity_id":
                suppress |= explained(
                    inputs.prior, ["property_missing"], f.series, f.episode["start"], f.ended_at, SLACK, f.subject
                )
        covered = result.covered | {SeriesKey(*k[:2], HOST) for k in kept}
        return DetectorOutput(
            drafts=drafts + profile_drafts, state=result.states, suppress=suppress, complete=True, covered=covered,
            stats={"series": len(result.covered), "judged": result.judged, "episodes": len(drafts) + len(profile_drafts)},
        )  # fmt: skip

    def _draft(self, found: Found, book: RateBook, samples: Samples, violations: pd.DataFrame) -> FindingDraft:
        evidence: dict[str, Any] = {"detector": self.name, **numbers(found, book.timing)}
        observed, _ = rates_of(found)
        event, prop = label(found.series), found.subject
        if found.check == "email_as_user_id":
            title = f"userId is an email address in {pct(observed)} of {event} ({change(found)})"
            why = "email as the primary id fragments profiles when emails change (guest checkout, aliases)"
            wanted: list[tuple[str, str | None]] = [("email_as_user_id", None)]
        elif found.check == "missing_identity":
            title = f"{event} without userId or anonymousId in {pct(observed)} of messages ({change(found)})"
            why = "these events cannot land on any profile"
            wanted = [("missing_identity", None)]
        else:
            title = f"{event} without {prop} in {pct(observed)} of messages ({change(found)})"
            why = f"without {prop} one cart or order can start several flows and cannot be deduplicated"
            wanted = [("missing_entity_id", prop)]
        evidence["why"] = why
        if found.series.event == ALL:
            evidence["messages_by_event"] = found.episode["notes"]["counts"]
            evidence["samples"] = samples.pick_source(found.series, wanted, list(evidence["messages_by_event"]))
        else:
            evidence["samples"] = samples.pick(found.series, wanted)
        severe = observed >= 0.05 or (found.check == "missing_entity_id" and observed >= 0.02)
        return draft(found, found.check, title, Severity.CRITICAL if severe else Severity.WARNING, evidence)

    # -- profile checks ---------------------------------------------------------------------

    def _profiles(self, book: RateBook, inputs: DetectorInputs) -> tuple[dict[SeriesKey, dict[str, Any]], list[FindingDraft]]:
        """Kept JSON per host series and the profile drafts (open episodes re-reported each pass)."""
        day = book.end(inputs.now, inputs.series) // DAY
        frame = inputs.extras.get("identity")
        hosts = _hosts(inputs.series)
        saved = {h: book.extra_of(inputs.state.get(h)) or {"day": 0, "episodes": {}, "days": None} for h in hosts}
        due = [h for h in hosts if int(saved[h].get("day", 0)) < day and frame is not None]
        merged = self._merge(due, saved, frame, day) if due and frame is not None else {}
        kept: dict[SeriesKey, dict[str, Any]] = {}
        drafts: list[FindingDraft] = []
        for host in hosts:
            episodes = dict(saved[host].get("episodes", {}))
            if host in merged:
                for check, ep, end in self._judge(merged[host], day, episodes):
                    drafts.append(self._profile_draft(host, check, ep, end))
                saved[host] = {"day": day, "days": merged[host].encode()}
            drafts += [self._profile_draft(host, check, ep, None) for check, ep in sorted(episodes.items())]
            kept[host] = {"day": saved[host].get("day", 0), "days": saved[host].get("days"), "episodes": episodes}
        return kept, drafts

    def _merge(
        self, hosts: list[SeriesKey], saved: dict[SeriesKey, dict[str, Any]], frame: pd.DataFrame, day: int
    ) -> dict[SeriesKey, profiles.Days]:
        """Each due source's days with the new days of the frame merged in (one decode per column)."""
        s = self.settings
        days = {i: profiles.Days.decode(saved[h]["days"]) if saved[h].get("days") else profiles.Days.empty(day - s.cold())
                for i, h in enumerate(hosts)}  # fmt: skip
        index = {(h.source, h.environment): i for i, h in enumerate(hosts)}
        codes, uniques = factorize(frame, ["source", "environment"]) if not frame.empty else (np.empty(0, np.int64), [])
        lookup = np.array([index.get((u[0], u[1]), -1) for u in uniques] + [-1], dtype=np.int64)
        group = lookup[codes] if len(codes) else codes
        mine = group >= 0
        merged = profiles.merge_days(days, group[mine], frame[mine], day, s.keep())
        return {h: merged[i] for i, h in enumerate(hosts)}

    def _judge(self, days: profiles.Days, day: int, episodes: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
        """Read both checks at ``day`` and move the episodes; the episodes that just ended."""
        ended = []
        for reading in profiles.readings(days, day, self.settings):
            episode, end = profiles.advance(episodes.get(reading.check), reading, self.settings)
            if end is not None:
                ended.append((reading.check, episodes[reading.check], end))
            if episode is None:
                episodes.pop(reading.check, None)
            else:
                episodes[reading.check] = episode
        return ended

    def _profile_draft(self, host: SeriesKey, check: str, ep: dict[str, Any], ended: int | None) -> FindingDraft:
        s = self.settings
        last = int(ep["last"])
        if check == "never_identified":
            title = f"{pct(ep['rate'])} of ids sending track events were never identified (usually {pct(ep['median'])})"
            detail = {"window": window(last - s.window * DAY, last), "identify_horizon_days": s.horizon}
        else:
            title = (f"{pct(ep['rate'])} of anonymous visitors not linked to a profile within "
                     f"{s.link_within} day(s) (usually {pct(ep['median'])})")  # fmt: skip
            lo = last - (s.link_within + s.window) * DAY
            detail = {"window": window(lo, lo + s.window * DAY), "link_within_days": s.link_within}
        return FindingDraft(
            kind=check, source=host.source, environment=host.environment, event=host.event, subject=check,
            started_at=from_epoch(ep["start"]), ended_at=None if ended is None else from_epoch(ended),
            last_seen_at=from_epoch(ep["last"]), severity=Severity.WARNING, score=round(ep["rate"] - ep["median"], 4),
            title=title, observed=round(ep["rate"], 4), expected=round(ep["median"], 4),
            evidence={"detector": self.name, **detail, "rate": ep["rate"], "baseline_median": ep["median"],
                      "baseline_days": ep["baseline"], "ids": round(ep["ids"]), "peak": ep["peak"],
                      "detected_at": iso(ep["opened_at"]), "samples": [],
                      "noise": ep.get("noise"), "method": "HyperLogLog estimates (±1.6 % per set); the difference of two large sets is rough"},
        )  # fmt: skip


def _notes(violations: pd.DataFrame) -> Annotate:
    """Messages per event behind a per-source total, gathered run by run."""

    def annotate(found: Found, notes: dict[str, Any] | None) -> dict[str, Any]:
        """The episode's notes: messages per event so far (per-source totals)."""
        if found.series.event != ALL or violations.empty:
            return notes or {"counts": {}}
        return tally(violations, found, notes, "event", violations["vtype"] == found.check)

    return annotate


def _hosts(series: pd.DataFrame) -> list[SeriesKey]:
    """The ``$identify`` series: one per source and environment, holding the profile checks."""
    if series.empty:
        return []
    rows = series[series["event"] == HOST]
    return [SeriesKey(str(s), str(e), HOST) for s, e in rows[["source", "environment"]].itertuples(index=False)]


def create(config: DetectorsConfig) -> IdentityDetector:
    """The registry hook."""
    return IdentityDetector(config)
