"""Turn the volume engine's episodes into finding drafts people can read.

Titles say what happened in numbers ("Checkout Started dropped 52% (48 vs 100 per 5m)");
evidence holds the window, the peak, the totals, the model in use and the bucket series around
the episode (a few buckets before it started, then the episode).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monitors.detectors.base import SeriesKey
from monitors.detectors.episodes import Episode
from monitors.detectors.seasonal import CANDIDATES
from monitors.models import FindingDraft, Severity
from monitors.timeutil import format_duration, from_epoch, iso

KINDS = {"spike": "volume_spike", "drop": "volume_drop", "silence": "silence"}
SERIES_LIMIT = 60


def _num(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 3)


def severity(ep: Episode) -> Severity:
    """Critical for silences and for halving / tripling, warning otherwise."""
    ratio = ep.observed / max(ep.expected, 1e-9)
    if (
        ep.direction == "silence"
        or (ep.direction == "drop" and ratio <= 0.5)
        or (ep.direction == "spike" and ratio >= 3)
    ):
        return Severity.CRITICAL
    return Severity.WARNING


def title(key: SeriesKey, ep: Episode, width: int) -> str:
    """One line a person understands."""
    per = format_duration(width)
    obs, exp = ep.observed, ep.expected
    if ep.direction == "silence":
        return f"{key.event} went silent (expected {ep.expected_total:.0f} events since {iso(ep.onset_at)})"
    if ep.direction == "drop":
        return (
            f"{key.event} dropped {100 * (1 - obs / max(exp, 1e-9)):.0f}% ({obs:.4g} vs {exp:.4g} per {per})"
        )
    factor = obs / max(exp, 1e-9)
    change = f"{factor:.1f}×" if factor >= 2 else f"+{100 * (factor - 1):.0f}%"
    return f"{key.event} spiked {change} ({obs:.4g} vs {exp:.4g} per {per})"


def evidence(
    ep: Episode, width: int, model: int, sensitivity: str, threshold: float, tail: list[dict[str, Any]]
) -> dict[str, Any]:
    """JSON-ready evidence of one episode."""
    before = [
        {"t": iso(ep.started_at - (len(ep.context) - i) * width), "observed": _num(o), "expected": _num(e)}
        for i, (o, e) in enumerate(ep.context)
    ]
    return {
        "detector": "volume",
        "direction": ep.direction,
        "bucket_s": width,
        "onset_at": iso(ep.onset_at),
        "last_anomalous_at": iso(ep.last_at),
        "peak": {
            "at": iso(ep.peak_at),
            "score": _num(ep.peak_score),
            "observed": _num(ep.peak_observed),
            "expected": _num(ep.peak_expected),
        },
        "totals": {
            "observed": _num(ep.observed_total),
            "expected": _num(ep.expected_total),
            "buckets": ep.buckets,
        },
        "model": CANDIDATES[model],
        "sensitivity": sensitivity,
        "threshold": threshold,
        "adapted": ep.adapted,
        "series": (before + tail)[-SERIES_LIMIT:],
    }


def draft(
    key: SeriesKey,
    ep: Episode,
    width: int,
    model: int,
    sensitivity: str,
    threshold: float,
    tail: list[dict[str, Any]],
) -> FindingDraft:
    """The finding of one episode (``ended_at`` None while it lasts)."""
    return FindingDraft(
        kind=KINDS[ep.direction],
        source=key.source,
        environment=key.environment,
        event=key.event,
        started_at=from_epoch(ep.started_at),
        ended_at=None if ep.ended_at is None else from_epoch(ep.ended_at),
        last_seen_at=from_epoch(ep.last_at),
        severity=severity(ep),
        score=round(ep.peak_score, 3),
        title=title(key, ep, width),
        observed=round(ep.observed, 3),
        expected=round(ep.expected, 3),
        evidence=evidence(ep, width, model, sensitivity, threshold, tail),
    )


def new_event(key: SeriesKey, first: int, learned_at: int, now_bucket: int, width: int) -> FindingDraft:
    """A series that appeared after monitoring began: reported once, never as a spike from zero.

    Open while the detector learns its baseline; resolved when volume checks start for it.
    """
    ended = from_epoch(learned_at) if learned_at <= now_bucket else None
    return FindingDraft(
        kind="new_event",
        source=key.source,
        environment=key.environment,
        event=key.event,
        started_at=from_epoch(first),
        ended_at=ended,
        last_seen_at=from_epoch(min(now_bucket, learned_at)),
        severity=Severity.INFO,
        score=0.0,
        title=f"New event {key.event!r} in {key.source}/{key.environment}",
        evidence={
            "detector": "volume",
            "first_bucket_at": iso(first),
            "volume_checks_from": iso(learned_at),
            "bucket_s": width,
        },
    )


def tail_rows(
    times: np.ndarray, observed: np.ndarray, expected: np.ndarray, start: int, stop: int
) -> list[dict[str, Any]]:
    """Recorded buckets in ``[start, stop)`` as evidence rows."""
    lo, hi = np.searchsorted(times, start), np.searchsorted(times, stop)
    return [
        {"t": iso(int(times[i])), "observed": _num(observed[i]), "expected": _num(expected[i])}
        for i in range(int(lo), int(hi))
    ]
