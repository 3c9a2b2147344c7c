"""The collector's narrow interface: read a batch of activities per stream, newest first, stopping
at the resume point (or the end of history, the first-run horizon, or the request budget).

``/v1/activities`` has no time filter, so each run pages from the newest activity down to the
newest one an earlier run saw: ``ResumePoint.newest_ts`` plus the ids seen in that second
(several activities share a second; ids of deleted people may vanish, so the time check is the
backstop). Nothing is written here: the caller commits the metrics and the new resume point
together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from monitors.customerio.client import Page
from monitors.customerio.models import ResumePoint, StreamRead, stream_key


class ActivitySource(Protocol):
    """What the collector needs from a client (``AppAPIClient`` or a test double)."""

    def list_activities(self, *, type: str | None = None, name: str | None = None, start: str | None = None,
                        limit: int = 100) -> Page:
        """One page of activities, newest first."""
        ...


def activity_ts(activity: dict[str, Any]) -> int:
    """The activity's unix timestamp (0 when missing or malformed)."""
    try:
        return int(activity.get("timestamp") or 0)
    except (TypeError, ValueError):
        return 0


def _is_seen(activity: dict[str, Any], previous: ResumePoint) -> bool:
    ts = activity_ts(activity)
    return ts < previous.newest_ts or (ts == previous.newest_ts and activity.get("id") in previous.boundary_ids)


def never() -> bool:
    """A ``stopping`` that never says stop."""
    return False


def read_stream(source: ActivitySource, activity_type: str | None, previous: ResumePoint | None, *,
                pages: int, page_size: int, horizon: int, stopping: Callable[[], bool] = never) -> StreamRead:
    """Page one stream until the resume point, the end, the ``horizon`` (first run), ``pages``
    requests, or ``stopping()`` (the worker is shutting down: what was read is kept, like a read
    cut by the budget)."""
    read = StreamRead(stream_key(activity_type), [], "budget", 0, previous)
    start: str | None = None
    while read.pages < pages:
        if stopping():
            read.stop = "stopped"
            return read
        page = source.list_activities(type=activity_type, start=start, limit=page_size)
        read.pages += 1
        for activity in page.activities:
            if previous is not None and _is_seen(activity, previous):
                read.stop = "resume"
                return read
            if previous is None and activity_ts(activity) < horizon:
                read.stop = "backfill"
                return read
            read.activities.append(activity)
        if not page.next:
            read.stop = "end"
            return read
        start = page.next
    return read


def read_streams(source: ActivitySource, activity_types: Sequence[str | None], previous: dict[str, ResumePoint], *,
                 budget: int, page_size: int, horizon: int, stopping: Callable[[], bool] = never) -> list[StreamRead]:
    """Read every stream, sharing ``budget`` page requests; what one stream leaves goes to the next."""
    reads: list[StreamRead] = []
    remaining = budget
    for index, activity_type in enumerate(activity_types):
        share = max(1, remaining // (len(activity_types) - index))
        read = read_stream(source, activity_type, previous.get(stream_key(activity_type)),
                           pages=share, page_size=page_size, horizon=horizon, stopping=stopping)
        remaining = max(0, remaining - read.pages)
        reads.append(read)
    return reads
