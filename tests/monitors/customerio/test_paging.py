"""The collector's paging rules against a scripted activity source (no HTTP)."""

from __future__ import annotations

from typing import Any

from monitors.customerio.client import Page
from monitors.customerio.collector import read_stream, read_streams
from monitors.customerio.models import ResumePoint


class Source:
    """Activities newest first, served in pages like /v1/activities."""

    def __init__(self, activities: list[dict[str, Any]]) -> None:
        self.activities = activities
        self.calls: list[tuple[str | None, str | None]] = []

    def list_activities(self, *, type: str | None = None, name: str | None = None, start: str | None = None,
                        limit: int = 100) -> Page:
        self.calls.append((type, start))
        rows = [a for a in self.activities if type is None or a["type"] == type]
        offset = int(start or 0)
        page = rows[offset:offset + limit]
        return Page(page, str(offset + limit) if offset + limit < len(rows) else None)


def acts(*stamps: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"id": i, "type": "event", "timestamp": ts} for i, ts in stamps]


def test_stops_at_a_boundary_id_without_reading_further() -> None:
    source = Source(acts(("e", 30), ("d", 20), ("c", 20), ("b", 10), ("a", 5)))
    read = read_stream(source, None, ResumePoint("*", 20, ("d",), 0, 0), pages=10, page_size=2, horizon=0)
    assert ([a["id"] for a in read.activities], read.stop, read.pages) == (["e"], "resume", 1)


def test_unseen_activity_in_the_resume_second_is_read() -> None:
    source = Source(acts(("e", 30), ("x", 20), ("d", 20), ("c", 20)))
    read = read_stream(source, None, ResumePoint("*", 20, ("d",), 0, 0), pages=10, page_size=10, horizon=0)
    assert [a["id"] for a in read.activities] == ["e", "x"]


def test_vanished_boundary_ids_fall_back_to_the_time() -> None:
    source = Source(acts(("e", 30), ("b", 10)))
    read = read_stream(source, None, ResumePoint("*", 20, ("gone",), 0, 0), pages=10, page_size=1, horizon=0)
    assert ([a["id"] for a in read.activities], read.stop) == (["e"], "resume")


def test_first_run_stops_at_the_backfill_horizon() -> None:
    source = Source(acts(("c", 300), ("b", 200), ("a", 100)))
    read = read_stream(source, None, None, pages=10, page_size=10, horizon=150)
    assert ([a["id"] for a in read.activities], read.stop) == (["c", "b"], "backfill")


def test_budget_ends_the_read() -> None:
    source = Source(acts(*((str(i), 100 - i) for i in range(10))))
    read = read_stream(source, None, None, pages=2, page_size=3, horizon=0)
    assert (len(read.activities), read.stop, read.complete) == (6, "budget", False)


def test_streams_pass_unused_budget_on() -> None:
    source = Source([*acts(("a", 3)), *({"id": f"f{i}", "type": "failed_event", "timestamp": i} for i in range(9))])
    reads = read_streams(source, ["event", "failed_event"], {}, budget=4, page_size=3, horizon=0)
    assert [(r.stream, r.pages, r.stop) for r in reads] == [("event", 1, "end"), ("failed_event", 3, "end")]
