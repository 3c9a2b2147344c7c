"""Activities → metric rows per (type, name, bucket), the gap estimate of budget-limited runs,
and the next resume point. Pure functions.

Names: ``event`` / ``failed_event`` / ``screen`` by event name, ``attribute_change`` /
``failed_attribute_change`` by attribute; everything else (``profile_create``, ``anon_merge``,
message outcomes such as ``bounced_email``, ``page`` whose names are URLs) under ``""``.

``event`` and ``failed_event`` activities that carry the sender's own timestamp
(``data.event_timestamp``) are bucketed by it, so they line up with the outgoing logs; their
end-to-end latency is the activity time minus that timestamp.

When a run runs out of budget before reaching the resume point, the unread interval between
the resume point and the oldest activity read is filled with an estimate: each (type, name)
keeps the rate it had in the interval that was read. Those rows are ``estimated`` and carry the
share of time actually read as ``sample_rate``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitors.customerio.collector import activity_ts
from monitors.customerio.flapping import attribute_of
from monitors.customerio.models import MetricRow, ResumePoint, StreamRead
from monitors.timeutil import floor_epoch

NAMED_BY_EVENT = {"event", "failed_event", "screen"}
NAMED_BY_ATTRIBUTE = {"attribute_change", "failed_attribute_change"}
MAX_CLOCK_SKEW = 300
BOUNDARY_IDS = 20
"""Newest ids kept at the resume second: enough to stop exactly even if a few of them vanish
(activities of deleted people leave the default listing)."""


@dataclass
class _Acc:
    count: int = 0
    latency_n: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0


def activity_name(activity: dict[str, Any]) -> str:
    """The metric name of an activity (see the module doc)."""
    atype = activity.get("type")
    if atype in NAMED_BY_EVENT:
        return str(activity.get("name") or "")[:255]
    if atype in NAMED_BY_ATTRIBUTE:
        return (attribute_of(activity) or "")[:255]
    return ""


def event_timestamp(activity: dict[str, Any]) -> int | None:
    """The sender's own event time carried by ``event`` / ``failed_event`` activities, if plausible."""
    data = activity.get("data")
    value = data.get("event_timestamp") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    ts = activity_ts(activity)
    return int(value) if 0 < value <= ts + MAX_CLOCK_SKEW else None


def count_activities(activities: Iterable[dict[str, Any]], bucket: int) -> dict[tuple[str, str, int], _Acc]:
    """Exact counts (and event latency) per (type, name, bucket_start)."""
    accs: dict[tuple[str, str, int], _Acc] = defaultdict(_Acc)
    for activity in activities:
        atype = str(activity.get("type") or "")
        if not atype:
            continue
        ts = activity_ts(activity)
        sent_at = event_timestamp(activity) if atype in ("event", "failed_event") else None
        acc = accs[(atype, activity_name(activity), floor_epoch(sent_at if sent_at is not None else ts, bucket))]
        acc.count += 1
        if sent_at is not None and atype == "event":
            latency = float(max(0, ts - sent_at))
            acc.latency_n += 1
            acc.latency_sum += latency
            acc.latency_max = max(acc.latency_max, latency)
    return accs


def _spread(total: float, start: int, end: int, bucket: int) -> dict[int, int]:
    """``total`` spread over ``[start, end)`` by overlap with each bucket, rounded (largest remainder)."""
    shares: dict[int, float] = {}
    edge = floor_epoch(start, bucket)
    while edge < end:
        overlap = min(end, edge + bucket) - max(start, edge)
        shares[edge] = total * overlap / (end - start)
        edge += bucket
    rounded = {b: int(v) for b, v in shares.items()}
    missing = round(total) - sum(rounded.values())
    for b in sorted(shares, key=lambda k: shares[k] - rounded[k], reverse=True)[:max(0, missing)]:
        rounded[b] += 1
    return {b: n for b, n in rounded.items() if n > 0}


def gap_estimate(read: StreamRead, bucket: int) -> tuple[list[MetricRow], float]:
    """Estimated rows for the unread interval of a budget-limited read, and the sample rate."""
    if read.complete or read.previous is None or not read.activities:
        return [], 1.0
    times = [activity_ts(a) for a in read.activities]
    oldest, newest = min(times), max(times)
    # the resume second itself was read by the previous run
    gap_start, span = read.previous.newest_ts + 1, newest - oldest + 1
    gap = oldest - gap_start
    if gap <= 0:
        return [], 1.0
    rate = span / (span + gap)
    per_name: dict[tuple[str, str], int] = defaultdict(int)
    for activity in read.activities:
        per_name[(str(activity.get("type") or ""), activity_name(activity))] += 1
    rows = [MetricRow(atype, name, b, n, estimated=True, sample_rate=rate)
            for (atype, name), count in per_name.items() if atype
            for b, n in _spread(count * gap / span, gap_start, oldest, bucket).items()]
    return rows, rate


def metric_rows(reads: list[StreamRead], bucket: int) -> tuple[list[MetricRow], float]:
    """All rows of a run (exact and estimated, merged per key) and the run's lowest sample rate."""
    merged: dict[tuple[str, str, int], MetricRow] = {}
    rate = 1.0
    for read in reads:
        for (atype, name, start), acc in count_activities(read.activities, bucket).items():
            _merge(merged, MetricRow(atype, name, start, acc.count, latency_n=acc.latency_n,
                                     latency_sum=acc.latency_sum, latency_max=acc.latency_max))
        estimated, read_rate = gap_estimate(read, bucket)
        rate = min(rate, read_rate)
        for row in estimated:
            _merge(merged, row)
    return list(merged.values()), rate


def _merge(rows: dict[tuple[str, str, int], MetricRow], row: MetricRow) -> None:
    key = (row.atype, row.name, row.bucket_start)
    old = rows.get(key)
    if old is None:
        rows[key] = row
        return
    rows[key] = MetricRow(row.atype, row.name, row.bucket_start, old.count + row.count,
                          old.estimated or row.estimated, min(old.sample_rate, row.sample_rate),
                          old.latency_n + row.latency_n, old.latency_sum + row.latency_sum,
                          max(old.latency_max, row.latency_max))


def next_resume(read: StreamRead, *, now: int, horizon: int) -> ResumePoint:
    """The resume point after ``read``; coverage starts where the first run's reading did."""
    prev = read.previous
    if read.activities:
        newest = max(activity_ts(a) for a in read.activities)
        ids = [str(a["id"]) for a in read.activities if activity_ts(a) == newest and a.get("id")]
        if prev is not None and prev.newest_ts == newest:
            ids += [i for i in prev.boundary_ids if i not in ids]
    else:
        newest, ids = (prev.newest_ts, list(prev.boundary_ids)) if prev else (0, [])
    if prev is not None:
        covered_from = prev.covered_from
    elif read.stop == "end":
        covered_from = 0
    elif read.stop == "backfill":
        covered_from = horizon
    else:
        covered_from = min(activity_ts(a) for a in read.activities) + 1 if read.activities else now
    return ResumePoint(read.stream, newest, tuple(ids[:BOUNDARY_IDS]), covered_from, now)
