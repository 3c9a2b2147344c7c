"""Behaviour of the volume detector on generated series (pure: frames in, drafts out)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from monitors.models import FindingDraft
from monitors.timeutil import from_epoch
from tests.monitors.detectors.fixtures import DAY, T0, WIDTH, counts_frame, diurnal, grid, run_volume


def _volume(drafts: list[FindingDraft]) -> list[FindingDraft]:
    return [d for d in drafts if d.kind != "new_event"]


def _window(times: np.ndarray, start: float, hours: float) -> np.ndarray:
    begin = T0 + int(start * DAY)
    return (times >= begin) & (times < begin + int(hours * 3600))


def _run(days: float, mu: np.ndarray, seed: int = 1, **kw: Any) -> Any:
    times = grid(days)
    counts = np.random.default_rng(seed).poisson(mu)
    return run_volume([counts_frame(times, counts)], int(times[-1]) + WIDTH + 600, **kw)


def test_small_count_noise_is_not_flagged() -> None:
    times = grid(35)
    twice_an_hour = diurnal(times, 2 / 12)
    few = diurnal(times, 2.0, amplitude=0.8)
    rng = np.random.default_rng(7)
    frames = [
        counts_frame(times, rng.poisson(twice_an_hour), event="Rare Event"),
        counts_frame(times, rng.poisson(few), event="Few Events"),
    ]
    out = run_volume(frames, int(times[-1]) + WIDTH + 600)
    assert _volume(out.drafts) == []


def test_persistent_twenty_percent_drop_on_a_busy_series_is_flagged_within_minutes() -> None:
    times = grid(17)
    mu = diurnal(times, 1000.0)
    drop = times >= T0 + 15 * DAY + 12 * 3600
    mu[drop] *= 0.8
    out = _run(17, mu)
    drops = [d for d in out.drafts if d.kind == "volume_drop"]
    assert len(drops) == 1
    delay = (drops[0].started_at - from_epoch(T0 + 15 * DAY + 12 * 3600)).total_seconds() / WIDTH
    assert 0 <= delay <= 2
    assert drops[0].ended_at is None
    assert drops[0].observed == pytest.approx(0.8 * drops[0].expected, rel=0.05)


def test_silence_is_flagged_as_silence() -> None:
    times = grid(16)
    mu = diurnal(times, 30.0)
    mu[_window(times, 15, 3)] = 0.0
    out = _run(16, mu)
    kinds = [(d.kind, d.severity.value) for d in _volume(out.drafts)]
    assert kinds == [("silence", "critical")]
    started = out.drafts[0].started_at.timestamp()
    assert T0 + 15 * DAY <= started <= T0 + 15 * DAY + 3 * WIDTH


def test_partial_bucket_is_not_judged() -> None:
    times = grid(15)
    counts = np.random.default_rng(3).poisson(diurnal(times, 500.0))
    counts[-1] = 40  # the bucket in progress: only a minute of data so far
    frame = counts_frame(times, counts)
    in_progress = int(times[-1]) + 60
    out = run_volume([frame], in_progress)
    assert _volume(out.drafts) == []
    assert out.stats["judged_until"] <= int(times[-1]) - WIDTH  # also within the 10 minute lateness


def test_a_stalled_ingest_does_not_look_like_silence() -> None:
    times = grid(15)
    frame = counts_frame(times, np.random.default_rng(3).poisson(diurnal(times, 500.0)))
    from tests.monitors.detectors.fixtures import series_frame

    last = int(times[-1]) + WIDTH
    out = run_volume([frame], last + 6 * 3600, last_seen=last)  # hours later, but no data arrived
    assert _volume(out.drafts) == []
    assert out.stats["judged_until"] <= series_frame([frame])["last_seen"].max()


def test_new_event_is_reported_once_and_never_as_a_spike() -> None:
    times = grid(20)
    rng = np.random.default_rng(11)
    old = counts_frame(times, rng.poisson(diurnal(times, 50.0)), event="Old Event")
    late = times >= T0 + 17 * DAY
    new = counts_frame(times[late], rng.poisson(diurnal(times[late], 400.0)), event="Brand New")
    out = run_volume([old, new], int(times[-1]) + WIDTH + 600)
    assert [(d.kind, d.event) for d in out.drafts] == [("new_event", "Brand New")]
    assert out.drafts[0].started_at == from_epoch(T0 + 17 * DAY)
    assert out.drafts[0].ended_at is None  # still learning its baseline


def test_one_incident_per_episode_resolved_after_normal_buckets() -> None:
    times = grid(16)
    mu = diurnal(times, 300.0)
    mu[_window(times, 15, 2)] *= 0.3
    out = _run(16, mu)
    drops = _volume(out.drafts)
    assert [d.kind for d in drops] == ["volume_drop"]
    ended = drops[0].ended_at
    assert ended is not None
    end_of_drop = T0 + 15 * DAY + 2 * 3600
    assert end_of_drop <= ended.timestamp() <= end_of_drop + 12 * WIDTH


def test_anomalous_buckets_stay_out_of_the_baseline_so_the_next_week_does_not_echo() -> None:
    times = grid(30)
    mu = diurnal(times, 200.0, weekend=0.6)
    mu[_window(times, 21, 4)] *= 3.0  # a bot on a Monday
    out = _run(30, mu, seed=5)
    spikes = _volume(out.drafts)
    assert len(spikes) == 1
    assert spikes[0].started_at.timestamp() < T0 + 22 * DAY  # nothing the Monday after


def test_baseline_does_not_drift_toward_the_broken_level() -> None:
    times = grid(16)
    mu = diurnal(times, 400.0)
    mu[_window(times, 15, 12)] *= 0.5
    out = _run(16, mu, seed=2)
    bands = out.bands
    last = bands[bands["bucket_start"] == T0 + 15 * DAY + 11 * 3600]
    truth = diurnal(np.array([T0 + 15 * DAY + 11 * 3600]), 400.0)[0]
    assert last["expected"].iloc[0] == pytest.approx(truth, rel=0.1)
    assert bool(last["anomalous"].iloc[0])


def test_weekly_rhythm_is_learned_and_monday_mornings_are_not_flagged() -> None:
    times = grid(35)
    mu = diurnal(times, 300.0, amplitude=0.8, weekend=0.4)
    out = _run(35, mu, seed=9)
    assert _volume(out.drafts) == []


def test_no_alert_before_minimum_history() -> None:
    times = grid(14)
    mu = diurnal(times, 300.0)
    mu[_window(times, 12, 3)] = 0.0  # day 12: too early to judge
    out = _run(14, mu)
    assert _volume(out.drafts) == []


@pytest.mark.parametrize("sensitivity,expected", [("low", 1), ("medium", 2), ("high", 3)])
def test_sensitivity_changes_what_is_flagged(sensitivity: str, expected: int) -> None:
    times = grid(18)
    mu = diurnal(times, 200.0)
    mu[_window(times, 15, 2)] *= 0.3  # obvious: every level flags it
    mu[_window(times, 16, 2)] *= 0.8  # subtle: medium and high
    mu[_window(times, 17, 2)] *= 0.88  # faint: only high
    out = _run(18, mu, seed=4, config={"sensitivity": sensitivity})
    assert len(_volume(out.drafts)) == expected


def test_bands_bracket_normal_buckets() -> None:
    out = _run(15, diurnal(grid(15), 100.0))
    bands = out.bands
    assert set(bands.columns) >= {"expected", "lower", "upper", "observed"}
    assert (bands["lower"] <= bands["expected"]).all() and (bands["expected"] <= bands["upper"]).all()
    inside = (bands["observed"] >= bands["lower"]) & (bands["observed"] <= bands["upper"])
    assert inside.mean() > 0.99


def test_quiet_night_hours_across_a_weekly_step_are_not_flagged() -> None:
    # a shop's rhythm: night trough at 08:00 UTC, weekends 25 % busier from midnight UTC; at
    # night a 5-minute bucket holds a few events, so the night profile is learned from a few
    # hundred of them and is that much less certain (the baseline's own error counts too)
    times = grid(22)
    hours = (times % DAY) / 3600.0
    weekend = ((times // DAY) + 3) % 7 >= 5
    mu = 8.0 * (0.55 + 0.45 * np.cos((hours - 20.0) / 24.0 * 2 * np.pi)) * np.where(weekend, 1.25, 1.0)
    out = _run(22, mu, seed=5)
    assert _volume(out.drafts) == []
