"""Quality of the volume detector on generated event traffic, next to an Elementary-style z-score.

    .venv/bin/python bench/volume_quality.py [--quick] [--series N] [--days D] [--seed S]

Series look like product events: a daily cycle with a random phase and shape, a weekend dip
(most series), trend, two holiday days, day-to-day level drift, bursty over-dispersed counts with
heavy-tailed noise, and three volume classes (low: under 5 per 5-minute bucket, where most
buckets have no row at all; mid; high). Injected after the 14-day learning period: spikes and
drops of varied size and length, silences, and level shifts. An incident's size is its change per
bucket divided by the normal variation of one bucket (the generator's noise s.d.); the targets
are about incidents of at least 3× that.

A detected incident counts as found if it overlaps an injected one (up to 2 h after its end);
any other detected incident is a false one. Delay = first flagged bucket − injected start, in
buckets. Both detectors are judged on the same buckets (after day 14) of the same series.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.detectors.base import DetectorInputs
from monitors.detectors.config import VolumeConfig
from monitors.detectors.volume import VolumeDetector
from monitors.timeutil import from_epoch

WIDTH, DAY, LEARN_DAYS = 300, 86400, 14
T0 = 1_704_067_200  # Monday
SLACK = 24  # buckets after an injected incident still attributed to it


@dataclass
class Injected:
    series: int
    kind: str
    start: int  # bucket index
    end: int  # exclusive
    size: float  # change per bucket / normal s.d. of one bucket


def _shape(hours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    phase = rng.uniform(-4, 4)
    depth = rng.uniform(0.4, 0.9)
    first = np.sin((hours - 9 - phase) / 24 * 2 * np.pi)
    second = rng.uniform(0, 0.3) * np.sin((hours - phase) / 12 * 2 * np.pi)
    return np.maximum(1 + depth * first + second, 0.05)


def _weekend(times: np.ndarray, factor: float) -> np.ndarray:
    week_h = ((times + 3 * DAY) % (7 * DAY)) / 3600
    into = np.clip((week_h - 117) / 6, 0, 1)
    out = np.clip((171 - week_h) / 6, 0, 1)
    back = np.clip((3 - week_h) / 6, 0, 1)
    return 1 + (factor - 1) * np.maximum(np.minimum(into, out), back)


def generate(
    n: int, days: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Injected], list[str]]:
    """Counts (T, n), the clean mean (T, n), per-bucket s.d. (T, n), injected incidents, volume classes."""
    times = T0 + WIDTH * np.arange(days * DAY // WIDTH, dtype=np.int64)
    steps = len(times)
    hours = (times % DAY) / 3600
    day_idx = (times - T0) // DAY
    classes = ["low", "mid", "high"]
    cls = [classes[i % 3] for i in range(n)]
    ranges = {"low": (0.2, 5), "mid": (5, 100), "high": (100, 3000)}
    mu = np.empty((steps, n))
    burst = rng.uniform(1.0, 2.5, n)  # variance / mean of the bursty count process
    jitter = rng.uniform(0.01, 0.03, n)  # scale of the heavy-tailed (Student t, 4 d.f.) multiplicative noise
    for i in range(n):
        lo, hi = ranges[cls[i]]
        base = np.exp(rng.uniform(np.log(lo), np.log(hi)))
        weekly = _weekend(times, rng.uniform(0.5, 1.1)) if rng.random() < 0.7 else 1.0
        trend = 1 + rng.uniform(-0.3, 0.3) * (times - T0) / (days * DAY)
        drift = np.exp(np.cumsum(rng.normal(0, 0.03, days + 1)) * 0.5)[day_idx]
        holidays = np.ones(steps)
        for d in rng.choice(np.arange(20, days), size=2, replace=False):
            holidays[day_idx == d] = rng.uniform(0.8, 0.92)
        mu[:, i] = base * _shape(hours, rng) * weekly * trend * drift * holidays
    sd = np.sqrt(mu * burst + (jitter * mu) ** 2 * 2.0)  # t(4) has variance 2
    injected = _inject(mu, sd, rng, days)
    noisy = mu.copy()
    for inc in injected:
        noisy[inc.start : inc.end, inc.series] = _apply(
            inc, mu[inc.start : inc.end, inc.series], sd[inc.start : inc.end, inc.series]
        )
    heavy = 1 + jitter * np.clip(rng.standard_t(4, size=(steps, n)), -10, 10)
    rate = np.maximum(noisy * heavy, 0) / burst
    counts = rng.poisson(rng.gamma(np.maximum(rate, 1e-9) * 4, 0.25)) * 1.0
    counts = np.round(counts * burst)
    return counts, mu, sd, injected, cls


def _inject(mu: np.ndarray, sd: np.ndarray, rng: np.random.Generator, days: int) -> list[Injected]:
    steps, n = mu.shape
    first = (LEARN_DAYS + 2) * DAY // WIDTH
    out = []
    for i in range(n):
        at = first + int(rng.integers(0, DAY // WIDTH))
        while at < steps - DAY // WIDTH:
            kind = str(rng.choice(["spike", "drop", "silence", "shift"], p=[0.35, 0.35, 0.2, 0.1]))
            length = (
                int(np.exp(rng.uniform(np.log(3), np.log(288))))
                if kind != "silence"
                else int(rng.integers(6, 144))
            )
            if kind == "shift":
                length = steps - at
            seg = slice(at, min(at + length, steps))
            snr = float(np.exp(rng.uniform(np.log(1.5), np.log(15))))
            ratio_sd = float(np.mean(sd[seg, i] / mu[seg, i]))
            if kind == "spike":
                size = snr
            elif kind in ("drop", "shift"):
                size = min(snr, 0.95 / ratio_sd)
            else:
                size = 1 / ratio_sd
            out.append(Injected(i, kind, at, seg.stop, size))
            if kind == "shift":
                break
            at = seg.stop + int(rng.integers(2 * DAY // WIDTH, 5 * DAY // WIDTH))
    return out


def _apply(inc: Injected, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    delta = inc.size * np.mean(sd)
    if inc.kind == "silence":
        return np.zeros_like(mu)
    if inc.kind == "spike":
        return mu + delta * mu / np.mean(mu)
    return np.maximum(mu - delta * mu / np.mean(mu), 0)


def ours(counts: np.ndarray) -> list[tuple[int, int, int, str]]:
    """(series, start bucket, end bucket, direction) of every incident of the volume detector."""
    steps, n = counts.shape
    times = T0 + WIDTH * np.arange(steps, dtype=np.int64)
    frames = []
    for i in range(n):
        keep = counts[:, i] > 0
        frames.append(pd.DataFrame({"source": "bench", "environment": "prod", "event": f"e{i}",
                                    "bucket_start": times[keep], "count": counts[keep, i]}))  # fmt: skip
    end = int(times[-1]) + WIDTH
    series = pd.DataFrame({"source": "bench", "environment": "prod", "event": [f"e{i}" for i in range(n)],
                           "first_seen": T0, "last_seen": end})  # fmt: skip
    detector = VolumeDetector(VolumeConfig(), replay=None)
    now = from_epoch(end + detector.lateness)
    output = detector.run(
        DetectorInputs(now=now, bucket_seconds=WIDTH, series=series, counts=pd.concat(frames))
    )
    found = []
    for d in output.drafts:
        if d.kind == "new_event":
            continue
        start = (int(d.started_at.timestamp()) - T0) // WIDTH
        stop = steps if d.ended_at is None else (int(d.ended_at.timestamp()) - T0) // WIDTH
        found.append((int(d.event[1:]), start, stop, "spike" if d.kind == "volume_spike" else "drop"))
    return found


def _trailing(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, s.d. and count of the ``window`` values before each one (axis 0)."""
    c1 = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    c2 = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values**2, axis=0)])
    idx = np.arange(values.shape[0])
    lo = np.maximum(idx - window, 0)
    count = (idx - lo)[:, None].astype(float)
    s1, s2 = c1[idx] - c1[lo], c2[idx] - c2[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / count
        var = (s2 - count * mean**2) / np.maximum(count - 1, 1)
    return mean, np.sqrt(np.maximum(var, 0)), count


def elementary(
    counts: np.ndarray, seasonal: bool, threshold: float = 3.0, days: int = 14
) -> list[tuple[int, int, int, str]]:
    """Elementary's volume_anomalies: z of each bucket against the trailing training window
    (the bucket itself excluded, their fix for elementary#1560), optionally partitioned by hour of day."""
    steps = counts.shape[0]
    z = np.zeros_like(counts)
    per_day = DAY // WIDTH
    if seasonal:
        hour = ((np.arange(steps) * WIDTH) % DAY) // 3600
        for h in range(24):
            rows = np.flatnonzero(hour == h)
            mean, sd, count = _trailing(counts[rows], days * per_day // 24)
            with np.errstate(invalid="ignore", divide="ignore"):
                z[rows] = np.where((count > 1) & (sd > 0), (counts[rows] - mean) / sd, 0)
    else:
        mean, sd, count = _trailing(counts, days * per_day)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where((count > 1) & (sd > 0), (counts - mean) / sd, 0)
    flagged = np.abs(z) > threshold
    flagged[: LEARN_DAYS * per_day] = False
    return _episodes(flagged, np.sign(z))


def _episodes(
    flagged: np.ndarray, sign: np.ndarray, resolve_after: int = 6
) -> list[tuple[int, int, int, str]]:
    out = []
    for i in range(flagged.shape[1]):
        hits = np.flatnonzero(flagged[:, i])
        if not hits.size:
            continue
        start = prev = int(hits[0])
        for h in hits[1:]:
            if h - prev > resolve_after:
                out.append((i, start, prev + 1, "spike" if sign[start, i] > 0 else "drop"))
                start = int(h)
            prev = int(h)
        out.append((i, start, prev + 1, "spike" if sign[start, i] > 0 else "drop"))
    return out


def score(
    found: list[tuple[int, int, int, str]], injected: list[Injected], n: int, days: int
) -> dict[str, float]:
    """Recall (size ≥ 3 and all), median delay, false incidents per series-day."""
    by_series: dict[int, list[tuple[int, int, int, str]]] = {}
    for f in found:
        by_series.setdefault(f[0], []).append(f)
    used: set[tuple[int, int, int, str]] = set()
    hit, delays = [], []
    for inc in injected:
        match = [f for f in by_series.get(inc.series, []) if f[1] < inc.end + SLACK and f[2] > inc.start]
        used.update(match)
        hit.append(bool(match))
        if match:
            delays.append(max(min(f[1] for f in match) - inc.start, 0))
    big = [h for h, inc in zip(hit, injected, strict=True) if inc.size >= 3]
    big_delays = [
        d
        for d, inc in zip(delays, [i for i, h in zip(injected, hit, strict=True) if h], strict=True)
        if inc.size >= 3
    ]
    false = len(found) - len(used)
    return {
        "recall_3x": float(np.mean(big)) if big else float("nan"),
        "recall_all": float(np.mean(hit)) if hit else float("nan"),
        "median_delay": float(np.median(big_delays)) if big_delays else float("nan"),
        "false_per_series_day": false / (n * (days - LEARN_DAYS)),
        "incidents": float(len(found)),
        "false": float(false),
    }


def _breakdown(
    found: list[tuple[int, int, int, str]], injected: list[Injected], cls: list[str], n: int, days: int
) -> None:
    print("\nvolume detector, incidents of size >= 3 by kind and volume class (recall, found/injected):")
    for label, keep in [
        *[(k, lambda inc, k=k: inc.kind == k) for k in ("spike", "drop", "silence", "shift")],
        *[(f"{c} volume", lambda inc, c=c: cls[inc.series] == c) for c in ("low", "mid", "high")],
        ("length <= 6 buckets", lambda inc: inc.end - inc.start <= 6),
        ("size 3-5", lambda inc: 3 <= inc.size < 5),
    ]:
        subset = [inc for inc in injected if keep(inc) and inc.size >= 3]
        if subset:
            r = score(found, subset, n, days)
            print(
                f"  {label:<22} {r['recall_all']:6.1%}  ({round(r['recall_all'] * len(subset))}/{len(subset)})"
            )


def main(argv: list[str] | None = None) -> int:
    """Generate, detect with both, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 series × 28 days")
    parser.add_argument("--series", type=int, default=150)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    n, days = (30, 28) if args.quick else (args.series, args.days)
    rng = np.random.default_rng(args.seed)
    counts, _mu, _sd, injected, cls = generate(n, days, rng)
    print(f"{n} series × {days} days of 5-minute buckets; {len(injected)} injected incidents "
          f"({sum(i.size >= 3 for i in injected)} of size >= 3); judged after day {LEARN_DAYS}")  # fmt: skip
    rows = []
    for name, run in [
        ("event-health volume (medium)", lambda: ours(counts)),
        ("elementary z>3, 14d, no seasonality", lambda: elementary(counts, seasonal=False)),
        ("elementary z>3, 14d, hour_of_day", lambda: elementary(counts, seasonal=True)),
    ]:
        started = time.perf_counter()
        found = run()
        rows.append((name, score(found, injected, n, days), time.perf_counter() - started))
        if name.startswith("event-health"):
            ours_found = found
    print(
        f"\n{'detector':<38} {'recall>=3x':>10} {'recall all':>10} {'median delay':>12} {'false/series-day':>17} {'seconds':>8}"
    )
    for name, r, secs in rows:
        print(f"{name:<38} {r['recall_3x']:>10.1%} {r['recall_all']:>10.1%} {r['median_delay']:>10.1f} b "
              f"{r['false_per_series_day']:>17.3f} {secs:>8.1f}")  # fmt: skip
    print("targets: recall>=3x >= 95%, median delay <= 2 buckets, false <= 0.05 per series-day")
    _breakdown(ours_found, injected, cls, n, days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
