"""Leakage detector: staging/test data in production, per event and per source, with evidence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitors.detectors.config import DetectorsConfig
from monitors.detectors.leakage import LeakageDetector
from monitors.models import Severity
from tests.monitors.detectors.semantic_frames import (
    DAY,
    HOUR,
    T0,
    Runner,
    grid,
    metrics,
    samples,
    series,
    violations,
)

ONSET = T0 + 3 * DAY + 15 * HOUR
EVENTS = {"Product Viewed": 40, "Added to Cart": 12, "$identify": 6}
EMAIL_SAMPLE = '{"type":"track","userId":"qa_7","context":{"traits":{"email":"qa+7@example.com"}}}'


def _frames(hours: float = 3, seed: int = 2) -> dict[str, pd.DataFrame]:
    """Three events; during the leak each sends one test message per 5 minutes (about 5 %)."""
    rng = np.random.default_rng(seed)
    times = grid(4)
    on = (times >= ONSET) & (times < ONSET + hours * HOUR)
    parts: dict[str, list[pd.DataFrame]] = {"metrics": [], "violations": []}
    for event, mean in EVENTS.items():
        checked = rng.poisson(mean, len(times))
        leaked = np.where(on, 1, rng.binomial(checked, 0.0005))
        emails = np.where(on & (np.arange(len(times)) % 2 == 0), 1, 0)
        parts["metrics"].append(metrics(event, times, checked))
        parts["violations"] += [violations(event, times, "leak", leaked), violations(event, times, "leak", leaked, "nonprod_host"),
                                violations(event, times, "leak", emails, "test_email")]  # fmt: skip
    frames = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    frames["samples"] = samples("Added to Cart", "leak", "test_email", [EMAIL_SAMPLE], ONSET + HOUR)
    return frames


def test_a_leak_across_a_source_is_one_finding_naming_signals_and_events_with_redacted_samples() -> None:
    frames = _frames()
    runner = Runner(LeakageDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    found = runner.play(ONSET - 2 * HOUR, ONSET + 6 * HOUR, every=15 * 60)
    (d,) = found.values()
    assert (d.kind, d.source, d.event) == ("staging_leak", "web", "*")
    assert runner.opened_at[d.fingerprint] - ONSET <= HOUR
    assert d.ended_at is not None and d.ended_at.timestamp() == ONSET + 3 * HOUR
    assert list(d.evidence["signals"]) == ["nonprod_host", "test_email"]
    assert set(d.evidence["messages_by_event"]) == set(EVENTS)
    (sample,) = d.evidence["samples"]
    assert sample["event"] == "Added to Cart" and sample["violation"] == "leak:test_email"
    assert "q***@example.com" in sample["sample"] and "qa+7@" not in sample["sample"]
    assert d.observed is not None and 0.045 < d.observed < 0.06
    assert d.severity is Severity.CRITICAL and "all web events" in d.title  # ≥ 5 % of the source


def test_a_source_with_one_event_is_judged_on_that_event() -> None:
    frames = _frames()
    one = {k: v[v["event"] == "Product Viewed"] for k, v in frames.items()}
    runner = Runner(LeakageDetector(DetectorsConfig()), one, series([one["metrics"]]))
    (d,) = runner.play(ONSET - HOUR, ONSET + 5 * HOUR, every=HOUR).values()
    assert (d.event, d.evidence["samples"]) == ("Product Viewed", [])


def test_impossible_timestamps_are_reported_and_background_test_users_are_not() -> None:
    rng = np.random.default_rng(4)
    times = grid(4)
    checked = rng.poisson(30, len(times))
    bad = np.where((times >= ONSET) & (times < ONSET + 2 * HOUR), 6, 0)
    frames = {"metrics": metrics("Order Completed", times, checked),
              "violations": pd.concat([violations("Order Completed", times, "impossible_timestamp", bad),
                                       violations("Order Completed", times, "leak", rng.binomial(checked, 0.002))])}  # fmt: skip
    runner = Runner(LeakageDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    found = runner.play(T0 + DAY, T0 + 4 * DAY, every=2 * HOUR)
    assert [(d.kind, d.event, d.started_at.timestamp()) for d in found.values()] == [
        ("impossible_timestamps", "Order Completed", ONSET)
    ]


def test_a_signal_new_to_production_is_found_even_when_the_overall_leak_rate_hides_it() -> None:
    rng = np.random.default_rng(12)
    times = grid(4)
    checked = rng.poisson(50, len(times))
    qa = rng.binomial(checked, 0.02)  # QA accounts test on production every day: 2 % of messages
    debug = np.where(times >= ONSET, 1, 0)  # a debug build ships: 2 % of the messages
    frames = {"metrics": metrics("Product Viewed", times, checked),
              "violations": pd.concat([violations("Product Viewed", times, "leak", qa + debug),
                                       violations("Product Viewed", times, "leak", qa, "test_email"),
                                       violations("Product Viewed", times, "leak", debug, "dev_build")])}  # fmt: skip
    runner = Runner(LeakageDetector(DetectorsConfig()), frames, series([frames["metrics"]]))
    (d,) = runner.play(ONSET - HOUR, ONSET + 3 * HOUR, every=15 * 60).values()
    assert d.kind == "staging_leak" and d.evidence["elevated"] == ["dev_build"]
    assert "show dev_build" in d.title and runner.opened_at[d.fingerprint] - ONSET <= 2 * HOUR
