"""The rate engine under the semantic detectors: episodes, baselines, state between runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitors.detectors import _semantic_rates as rates
from monitors.detectors.config import DetectorsConfig
from monitors.detectors.leakage import LeakageDetector
from monitors.timeutil import iso
from tests.monitors.detectors.semantic_frames import (
    DAY,
    HOUR,
    T0,
    Runner,
    W,
    grid,
    metrics,
    series,
    violations,
)

ONSET = T0 + 10 * DAY + 14 * HOUR


def _leak(days: float = 12, rate: float = 0.04, hours: float = 3, seed: int = 1, daily: bool = False) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    times = grid(days)
    checked = rng.poisson(60, len(times))
    leaked = rng.binomial(checked, 0.001)
    on = (times >= ONSET) & (times < ONSET + hours * HOUR)
    if daily:  # a QA routine every morning
        on = ((times % DAY) >= 10 * HOUR) & ((times % DAY) < 11 * HOUR)
    leaked[on] = np.ceil(checked[on] * rate)  # every bucket of the incident has some
    return {"metrics": metrics("Added to Cart", times, checked), "violations": violations("Added to Cart", times, "leak", leaked)}


def _runner(frames: dict[str, pd.DataFrame], config: DetectorsConfig | None = None) -> Runner:
    return Runner(LeakageDetector(config or DetectorsConfig()), frames, series(frames.values()))


def _episodes(drafts: object) -> list[tuple[str, str, str | None]]:
    return sorted((d.event, iso(d.started_at), iso(d.ended_at) if d.ended_at else None) for d in drafts)  # type: ignore[attr-defined]


def test_a_rate_rise_is_one_finding_from_onset_to_the_end_of_the_last_elevated_bucket() -> None:
    runner = _runner(_leak())
    found = runner.play(T0 + 10 * DAY, T0 + 11 * DAY, every=HOUR)
    per_event = [d for d in found.values() if d.event == "Added to Cart"]
    assert _episodes(per_event) == [("Added to Cart", iso(ONSET), iso(ONSET + 3 * HOUR))]
    (d,) = per_event
    assert d.kind == "staging_leak" and d.ended_at is not None
    assert runner.opened_at[d.fingerprint] - ONSET <= HOUR
    assert d.evidence["episode"]["rate"] == pytest.approx(0.04, abs=0.015)
    assert d.evidence["baseline"]["rate"] < 0.004


def test_live_passes_give_the_findings_of_one_replay() -> None:
    config = DetectorsConfig.model_validate({"semantic": {"replay": "12d"}})
    live = _runner(_leak(), config).play(T0 + 2 * DAY, T0 + 12 * DAY, every=5 * HOUR + 5 * 60)
    replay = _runner(_leak(), config).play(T0 + 12 * DAY, T0 + 12 * DAY)
    assert _episodes(live.values()) == _episodes(replay.values())
    assert {d.fingerprint for d in live.values()} == {d.fingerprint for d in replay.values()}


def test_a_second_run_at_the_same_time_reports_the_same_open_finding() -> None:
    runner = _runner(_leak(hours=30))
    runner.play(T0 + 9 * DAY, ONSET + 2 * HOUR)
    first = runner.step(ONSET + 2 * HOUR)
    second = runner.step(ONSET + 2 * HOUR)
    assert [d for d in first.drafts] == [d for d in second.drafts]
    assert all(d.ended_at is None for d in second.drafts) and second.drafts


def test_a_qa_routine_every_morning_is_learned_by_hour_of_day() -> None:
    frames = _leak(days=10, rate=0.05, daily=True)
    assert _runner(frames).play(T0 + 8 * DAY, T0 + 10 * DAY, every=3 * HOUR) == {}
    v = frames["violations"]
    late = v.assign(bucket_start=v["bucket_start"] + np.where(v["bucket_start"] >= T0 + 9 * DAY, 5 * HOUR, 0))
    moved = _runner({**frames, "violations": late}).play(T0 + 8 * DAY, T0 + 10 * DAY, every=3 * HOUR)
    (d,) = moved.values()  # the same routine at a new hour is reported (onset ± a background blip)
    assert T0 + 9 * DAY + 15 * HOUR - 15 * 60 <= d.started_at.timestamp() <= T0 + 9 * DAY + 15 * HOUR


def test_clean_traffic_with_bursty_test_users_raises_nothing() -> None:
    rng = np.random.default_rng(7)
    times = grid(12)
    checked = rng.poisson(80, len(times))
    bursts = rng.poisson(0.02, len(times)) * rng.integers(1, 9, len(times))  # a QA user now and then
    frames = {"metrics": metrics("Product Viewed", times, checked), "violations": violations("Product Viewed", times, "leak", bursts)}
    assert _runner(frames).play(T0 + 8 * DAY, T0 + 12 * DAY, every=3 * HOUR) == {}


def _panel(n: np.ndarray, d: np.ndarray, rule: rates.Rule, fixed: float | None = None) -> rates.Panel:
    times = T0 + W * np.arange(len(n), dtype=np.int64)
    return rates.Panel(times, n[:, None].astype(float), d[:, None].astype(float), np.array([0]), [rule], np.array([0]),
                       None if fixed is None else np.array([fixed]))  # fmt: skip


def test_absence_of_a_usually_present_property_is_judged_as_a_rise() -> None:
    timing = rates.Timing(width=W)
    d = np.full(9 * DAY // W, 50)
    present = d.copy()
    onset = 8 * DAY // W
    present[onset:] = 35  # 30 % of messages lose the property
    track = rates.fresh(timing, T0)
    out = rates.run(_panel(present, d, rates.Rule(complement=True, max_baseline=0.5)), [track], timing, T0 + 9 * DAY)
    (o,) = out.outcomes
    assert o.episode["start"] == T0 + onset * W
    assert o.episode["acc_n"] / o.episode["acc_d"] == pytest.approx(0.3)


def test_a_fixed_baseline_needs_no_history() -> None:
    timing = rates.Timing(width=W)
    d = np.full(24, 20)
    slow = np.zeros(24)
    slow[12:] = 10  # half the events over the SLO, 5 % allowed
    rule = rates.Rule(threshold=4, cont=2.5, min_count=3, min_abs=0, min_rel=0, dispersion=1)
    out = rates.run(_panel(slow, d, rule, fixed=0.05), [rates.fresh(timing, T0)], timing, T0 + 24 * W)
    (o,) = out.outcomes
    assert o.ended_at is None and o.episode["start"] == T0 + 12 * W
    assert out.tracks[0].through == T0 + 23 * W
