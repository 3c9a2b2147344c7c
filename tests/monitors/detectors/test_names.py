"""Names detector: near-duplicate event and property names, a standing check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitors.detectors.config import DetectorsConfig
from monitors.detectors.names import NamesDetector
from monitors.models import Severity
from monitors.timeutil import iso
from tests.monitors.detectors.semantic_frames import DAY, HOUR, T0, Runner, grid, metrics, props, series


def _frames() -> dict[str, pd.DataFrame]:
    times = grid(3)
    late = times[times >= T0 + DAY]
    return {
        "metrics": pd.concat([
            metrics("Added to Cart", times, np.full(len(times), 4), source="web"),
            metrics("added_to_cart", late, np.full(len(late), 2), source="ios"),
            metrics("$identify", times, np.full(len(times), 3), source="web"),
        ], ignore_index=True),
        "props": pd.concat([
            props("$identify", times, "first_name", np.full(len(times), 3), "VARCHAR"),
            props("$identify", late, "First_name", np.full(len(late), 1), "VARCHAR"),
            props("Added to Cart", times, "cart_id", np.full(len(times), 4), "VARCHAR"),
        ], ignore_index=True),
    }


def test_spellings_that_fold_together_are_reported_with_counts_per_variant() -> None:
    frames = _frames()
    runner = Runner(NamesDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    found = runner.play(T0 + DAY + 2 * HOUR, T0 + 2 * DAY, every=6 * HOUR)
    by = {d.kind: d for d in found.values()}
    assert set(by) == {"duplicate_event_name", "duplicate_property_name"}
    event = by["duplicate_event_name"]
    assert (event.source, event.subject, iso(event.started_at)) == ("*", "added_to_cart", iso(T0 + DAY))
    assert event.evidence["suggested"] == "Added to Cart"
    assert set(event.evidence["variants"]) == {"Added to Cart", "added_to_cart"}
    seen = (T0 + DAY + 20 * HOUR - 5 * 60 - (T0 + DAY)) // 300  # buckets judged by the last pass (+20h)
    assert event.evidence["variants"]["added_to_cart"] == {"ios": 2 * seen}
    prop = by["duplicate_property_name"]
    assert prop.subject == "first_name" and prop.severity is Severity.WARNING  # Customer.io attributes
    assert prop.evidence["variants"]["First_name"] == {"web/$identify": seen}
    assert "Customer.io treats them as different" in prop.title


def test_a_spelling_no_longer_seen_within_the_window_ends_the_finding() -> None:
    frames = _frames()
    gone = T0 + DAY + 6 * HOUR
    frames = {k: v[(v["event"] != "added_to_cart") | (v["bucket_start"] < gone)] for k, v in frames.items()}
    frames["props"] = frames["props"][(frames["props"]["property"] != "First_name") | (frames["props"]["bucket_start"] < gone)]
    runner = Runner(NamesDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    runner.play(T0 + DAY + 2 * HOUR, T0 + DAY + 8 * HOUR, every=3 * HOUR)
    assert {d.kind for d in runner.last.drafts} == {"duplicate_event_name", "duplicate_property_name"}  # type: ignore[union-attr]
    assert runner.step(gone + DAY + HOUR).drafts == []
