"""Shared test data: generated bucket counts as frames, and a writer that stores them in the
``series`` / ``event_metrics`` tables through the Store's engine (until ingest writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

from storage import Store
from storage.tables import event_metrics, series

WIDTH = 300
DAY = 86400
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday


def diurnal(times: np.ndarray, mean: float, amplitude: float = 0.6, weekend: float = 1.0) -> np.ndarray:
    """Expected counts: a daily cycle (low at 3-4 a.m.), optionally lower on weekends."""
    hours = (times % DAY) / 3600.0
    shape = 1.0 + amplitude * np.sin((hours - 9.0) / 24.0 * 2 * np.pi)
    week_hours = ((times + 3 * DAY) % (7 * DAY)) / 3600.0  # 0 = Monday 00:00 UTC
    # the weekend dip fades in and out over the night (people do not switch at midnight UTC)
    into = np.clip((week_hours - 5 * 24 + 3) / 6.0, 0.0, 1.0)
    out_of = np.clip((7 * 24 + 3 - week_hours) / 6.0, 0.0, 1.0)
    back = np.clip((3 - week_hours) / 6.0, 0.0, 1.0)
    dip = np.maximum(np.minimum(into, out_of), back)
    return mean * shape * (1.0 + (weekend - 1.0) * dip)


def grid(days: float, start: int = T0, width: int = WIDTH) -> np.ndarray:
    """Bucket starts covering ``days`` days."""
    return start + width * np.arange(int(days * DAY // width), dtype=np.int64)


def counts_frame(
    times: np.ndarray,
    counts: np.ndarray,
    event: str = "Checkout Started",
    source: str = "web",
    environment: str = "production",
) -> pd.DataFrame:
    """A counts frame as the Store returns it; zero buckets are left out, as ingest would."""
    keep = counts > 0
    return pd.DataFrame(
        {
            "source": source,
            "environment": environment,
            "event": event,
            "bucket_start": times[keep],
            "count": counts[keep].astype(np.int64),
        }
    )


def series_frame(frames: Sequence[pd.DataFrame], last_seen: int | None = None) -> pd.DataFrame:
    """The ``series`` frame for some counts frames (first/last seen from their buckets)."""
    rows = []
    for frame in frames:
        s, e, v = frame.iloc[0][["source", "environment", "event"]]
        end = int(frame["bucket_start"].max()) + WIDTH if last_seen is None else last_seen
        rows.append(
            {
                "source": s,
                "environment": e,
                "event": v,
                "first_seen": int(frame["bucket_start"].min()),
                "last_seen": end,
            }
        )
    return pd.DataFrame(rows)


def store_counts(store: Store, frame: pd.DataFrame, last_seen: int | None = None) -> None:
    """Write a counts frame into ``series`` and ``event_metrics`` (one series per key)."""
    with store.engine.begin() as conn:
        for (s, e, v), part in frame.groupby(["source", "environment", "event"]):
            end = int(part["bucket_start"].max()) + WIDTH if last_seen is None else last_seen
            sid = conn.execute(
                select(series.c.id).where(
                    series.c.source == s, series.c.environment == e, series.c.event == v
                )
            ).scalar()
            if sid is None:
                sid = conn.execute(
                    insert(series).values(
                        source=s,
                        environment=e,
                        event=v,
                        msg_type="track",
                        first_seen=int(part["bucket_start"].min()),
                        last_seen=end,
                    )
                ).inserted_primary_key[0]
            rows = [
                {
                    "series_id": sid,
                    "bucket_start": int(b),
                    "count": int(c),
                    "checked": int(c),
                    "conforming": int(c),
                    "identified": int(c),
                    "sample_rate": 1.0,
                    "users_hll": b"",
                }
                for b, c in zip(part["bucket_start"], part["count"], strict=True)
            ]
            conn.execute(insert(event_metrics), rows)


def run_volume(
    frames: Sequence[pd.DataFrame],
    now: int,
    config: object = None,
    last_seen: int | None = None,
    **kwargs: object,
) -> Any:
    """Run the volume detector on counts frames as of ``now`` (epoch s), with empty state."""
    from monitors.detectors.base import DetectorInputs
    from monitors.detectors.config import VolumeConfig
    from monitors.detectors.volume import VolumeDetector
    from monitors.timeutil import from_epoch

    cfg = config if isinstance(config, VolumeConfig) else VolumeConfig.model_validate(config or {})
    detector = VolumeDetector(cfg, **kwargs)  # type: ignore[arg-type]
    counts = pd.concat(frames, ignore_index=True)
    inputs = DetectorInputs(
        now=from_epoch(now),
        bucket_seconds=WIDTH,
        series=series_frame(frames, last_seen=last_seen or now),
        counts=counts,
    )
    return detector.run(inputs)
