"""What one read commits: NUL characters, which PostgreSQL text refuses, are stored as U+FFFD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from monitors.report import metric_records
from storage import Store
from storage.tables import quarantine
from tests.monitors.ingest.helpers import run_ingest, track, write_lines


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
def test_nul_in_names_keys_and_rejected_lines_is_stored_as_replacement(store: Store, tmp_path: Path, native: bool) -> None:
    lines = [
        track("Order\x00Completed"),                      # a \u0000 escape in the event name
        track("Coupon Applied", **{"co\x00de": "X"}),     # … in a property key
        b"\x00" * 600,                                    # a block of NUL bytes (a crash, a copytruncate hole)
        json.dumps(track()),
    ]  # fmt: skip
    run_ingest(store, write_lines(tmp_path / "nul.jsonl", lines), native=native)
    counts = {r["event"]: r["count"] for r in metric_records(store)}
    assert counts == {"Order\ufffdCompleted": 1, "Coupon Applied": 1, "Added to Cart": 1}
    assert "co\ufffdde" in set(store.read_property_stats(None, None)["property"])
    with store.engine.connect() as conn:
        assert [r.line for r in conn.execute(select(quarantine))] == ["\ufffd" * 600]


@pytest.mark.parametrize("native", [True, False], ids=["native", "duckdb"])
def test_a_copytruncate_hole_before_a_line_does_not_lose_it(store: Store, tmp_path: Path, native: bool) -> None:
    """logrotate's copytruncate with a writer that keeps its offset: the file restarts with a run
    of NUL bytes, then the next line, on the same line. The message was sent: it counts; only a
    line of nothing but NULs is invalid."""
    lines = [json.dumps(track(user="a")), b"\x00" * 4096 + json.dumps(track(user="b")).encode(),
             json.dumps(track(user="c")), b"\x00" * 10]  # fmt: skip
    report = run_ingest(store, write_lines(tmp_path / "hole.jsonl", lines), native=native)
    assert (report.events, report.rejected) == (3, 1)
    assert {r["event"]: r["count"] for r in metric_records(store)} == {"Added to Cart": 3}
    with store.engine.connect() as conn:
        assert [r.line for r in conn.execute(select(quarantine))] == ["\ufffd" * 10]
