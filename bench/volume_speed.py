"""Speed of volume detection: a cold replay of 1,000 series × 90 days of 5-minute buckets, the
steady-state ``detect`` run against a SQLite store, and ``backtest`` of a year of hourly points.

    .venv/bin/python bench/volume_speed.py [--quick]

Targets (issue 3): detect over 1,000 series × 90 days < 10 s; backtest of a year hourly < 1 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.config import Config
from monitors.detect import run_detection
from monitors.detectors.backtest import backtest, load_csv
from monitors.detectors.base import DetectorInputs
from monitors.detectors.config import VolumeConfig
from monitors.detectors.volume import VolumeDetector
from monitors.timeutil import from_epoch
from storage import Store
from storage.tables import event_metrics, series

WIDTH, DAY = 300, 86400
T0 = 1_704_067_200


def traffic(n: int, days: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Bucket starts and counts (T, n): a third each of low, mid and high volume series."""
    rng = np.random.default_rng(seed)
    times = T0 + WIDTH * np.arange(days * DAY // WIDTH, dtype=np.int64)
    hours = (times % DAY) / 3600
    base = np.exp(rng.uniform(np.log(0.2), np.log(3000), n))
    shape = 1 + 0.7 * np.sin((hours[:, None] - 9 - rng.uniform(-4, 4, n)) / 24 * 2 * np.pi)
    return times, rng.poisson(base * shape).astype(np.float64)


def frames(times: np.ndarray, counts: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts as the Store returns them (zero buckets absent) and the series frame."""
    t_idx, s_idx = np.nonzero(counts)
    events = np.array([f"event {i}" for i in range(counts.shape[1])])
    frame = pd.DataFrame({"source": "web", "environment": "production", "event": events[s_idx],
                          "bucket_start": times[t_idx], "count": counts[t_idx, s_idx].astype(np.int64)})  # fmt: skip
    known = pd.DataFrame({"source": "web", "environment": "production", "event": events,
                          "first_seen": int(times[0]), "last_seen": int(times[-1]) + WIDTH})  # fmt: skip
    return frame, known


def cold_replay(n: int, days: int) -> tuple[float, int, int]:
    """Seconds to judge every bucket of ``n`` series × ``days`` days from scratch (pure detector)."""
    times, counts = traffic(n, days)
    counts_frame, known = frames(times, counts)
    detector = VolumeDetector(VolumeConfig(bands_write="1d"), replay=None)
    now = from_epoch(int(times[-1]) + WIDTH + detector.lateness)
    started = time.perf_counter()
    out = detector.run(DetectorInputs(now=now, bucket_seconds=WIDTH, series=known, counts=counts_frame))
    return time.perf_counter() - started, len(counts_frame), len(out.drafts)


def _fill(store: Store, times: np.ndarray, counts: np.ndarray) -> None:
    n = counts.shape[1]
    with store.engine.begin() as conn:
        conn.execute(series.insert(), [
            {"id": i + 1, "source": "web", "environment": "production", "event": f"event {i}", "msg_type": "track",
             "first_seen": int(times[0]), "last_seen": int(times[-1]) + WIDTH} for i in range(n)
        ])  # fmt: skip
        t_idx, s_idx = np.nonzero(counts)
        rows = [
            {"series_id": int(s) + 1, "bucket_start": int(times[t]), "count": int(counts[t, s]), "checked": 0,
             "conforming": 0, "identified": 0, "sample_rate": 1.0, "users_hll": b""}
            for t, s in zip(t_idx, s_idx, strict=True)
        ]  # fmt: skip
        conn.execute(event_metrics.insert(), rows)


def store_runs(n: int) -> tuple[float, float]:
    """(first run replaying a day, steady run judging the next hour) against SQLite, in seconds."""
    times, counts = traffic(n, 2, seed=2)
    config = Config.model_validate({"detectors": {"volume": {"replay": "1d", "bands_write": "1h"}}})
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{tmp}/speed.sqlite")
        store.migrate()
        _fill(store, times, counts)
        first_now = from_epoch(int(times[-1]) - 3600 + 600)
        started = time.perf_counter()
        run_detection(store, config, now=first_now)
        first = time.perf_counter() - started
        started = time.perf_counter()
        run_detection(store, config, now=from_epoch(int(times[-1]) + WIDTH + 600))
        steady = time.perf_counter() - started
        store.dispose()
    return first, steady


def backtest_year() -> float:
    """Seconds to load and backtest a year of hourly points from CSV."""
    times = pd.date_range("2025-01-01", periods=24 * 365, freq="h", tz="UTC")
    mu = 150 * (1 + 0.6 * np.sin((times.hour.to_numpy() - 9) / 24 * 2 * np.pi))
    values = np.random.default_rng(3).poisson(mu)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.csv"
        pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": values}).to_csv(
            path, index=False
        )
        started = time.perf_counter()
        backtest(load_csv(path))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 series × 30 days")
    args = parser.parse_args(argv)
    n, days = (200, 30) if args.quick else (1000, 90)
    replay, rows, _drafts = cold_replay(n, days)
    first, steady = store_runs(n)
    year = backtest_year()
    print(f"{'measurement':<58} {'seconds':>8}  target")
    print(f"{f'cold replay, {n} series x {days} days of 5m ({rows:,} rows)':<58} {replay:>8.2f}  < 10 s")
    print(f"{f'detect on SQLite, {n} series, first run (replays 1 day)':<58} {first:>8.2f}")
    print(f"{f'detect on SQLite, {n} series, next run (1 new hour)':<58} {steady:>8.2f}")
    print(f"{'backtest, a year of hourly points (CSV load included)':<58} {year:>8.2f}  < 1 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
