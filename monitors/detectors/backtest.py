"""Backtest: run the volume detector, causally, over a user's own time series.

:func:`load_csv` reads any CSV of counts or rates with a regular step between 1 minute and
1 day (found automatically), tolerating gaps, unsorted rows, duplicate timestamps (summed, or an
error), timezone-suffixed, naive (UTC) or epoch timestamps. :func:`backtest` feeds the series to
the very same :class:`~monitors.detectors.volume.VolumeDetector` the ``detect`` command runs,
with empty state, so its incidents are exactly the ones live detection would have raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from monitors.detectors.base import DetectorInputs, SeriesKey
from monitors.detectors.config import VolumeConfig
from monitors.detectors.volume import VolumeDetector
from monitors.errors import InputError
from monitors.models import FindingDraft
from monitors.timeutil import format_duration, from_epoch, iso

MIN_STEP, MAX_STEP = 60, 86400
KEY = SeriesKey("csv", "backtest", "series")
ValuesKind = Literal["auto", "counts", "rates"]


@dataclass(frozen=True)
class Series:
    """A regular series: ``values[i]`` belongs to the bucket starting at ``times[i]`` (NaN = no row)."""

    times: np.ndarray
    values: np.ndarray
    width: int
    kind: Literal["counts", "rates"]
    notes: list[str] = field(default_factory=list)


def _epochs(column: pd.Series) -> np.ndarray:
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all():
        values = numeric.to_numpy(np.float64)
        scale = 1000.0 if np.nanmedian(values) > 1e11 else 1.0
        return np.array(np.floor(values / scale), dtype=np.int64)
    text = column.astype(str).str.strip()
    try:
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        try:
            parsed = pd.to_datetime(text, utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"cannot read the timestamps: {exc} — use ISO 8601 (2024-05-01T13:00:00Z) or epoch seconds"
            ) from exc
    return np.array((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta("1s"), dtype=np.int64)


def _read(path: Path, time_col: str, value_col: str) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path, dtype={time_col: str}, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path} as CSV: {exc}") from exc
    missing = [c for c in (time_col, value_col) if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(
            f"{path}: no column {missing[0]!r} (columns: {have}) — name them with --time-col / --value-col"
        )
    frame = frame[[time_col, value_col]].dropna(subset=[time_col])
    if frame.empty:
        raise InputError(f"{path}: no rows with a timestamp")
    return frame


def _values(frame: pd.DataFrame, value_col: str, path: Path) -> np.ndarray:
    raw = frame[value_col]
    values: np.ndarray = np.array(pd.to_numeric(raw, errors="coerce"), dtype=np.float64)
    bad = np.flatnonzero(
        np.isnan(values) & raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    )
    if bad.size:
        raise InputError(
            f"{path}: value {raw.iloc[bad[0]]!r} in row {int(frame.index[bad[0]]) + 2} is not a number"
        )
    if (values < 0).any():
        row = int(frame.index[np.flatnonzero(values < 0)[0]]) + 2
        raise InputError(f"{path}: negative value in row {row} — counts and rates must be >= 0")
    return values


def detect_step(epochs: np.ndarray) -> int:
    """The regular step (seconds) of sorted unique timestamps: the most common gap, which must
    be 1 minute to 1 day and put nearly every timestamp on one grid."""
    if epochs.size < 3:
        raise InputError("need at least 3 distinct timestamps to find the step")
    gaps = np.diff(epochs)
    values, counts = np.unique(gaps, return_counts=True)
    step = int(values[np.argmax(counts)])
    if step < MIN_STEP or step > MAX_STEP:
        raise InputError(f"the step between timestamps is {format_duration(step)}; supported: 1m to 1d")
    on_grid = np.mean((epochs - epochs[0]) % step == 0)
    if on_grid < 0.9:
        raise InputError(
            f"timestamps are not on a regular {format_duration(step)} grid ({100 * (1 - on_grid):.0f}% off it)"
        )
    return step


def load_csv(
    path: str | Path,
    *,
    time_col: str = "timestamp",
    value_col: str = "value",
    values: ValuesKind = "auto",
    duplicates: Literal["sum", "error"] = "sum",
) -> Series:
    """Read, check and regularise a CSV series; every problem is an :class:`InputError`."""
    path = Path(path)
    frame = _read(path, time_col, value_col)
    vals = _values(frame, value_col, path)
    epochs = _epochs(frame[time_col])
    order = np.argsort(epochs, kind="stable")
    epochs, vals = epochs[order], vals[order]
    notes = []
    unique, inverse, counts = np.unique(epochs, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        if duplicates == "error":
            raise InputError(
                f"{path}: timestamp {iso(int(unique[np.argmax(counts > 1)]))} appears more than once"
            )
        notes.append(f"{int((counts > 1).sum())} duplicate timestamps summed")
    summed = np.bincount(inverse, weights=np.nan_to_num(vals), minlength=unique.size)
    seen = np.bincount(inverse, weights=~np.isnan(vals), minlength=unique.size) > 0
    step = detect_step(unique)
    grid0 = int(unique[0])
    slot = (unique - grid0) // step
    if ((unique - grid0) % step != 0).any():
        notes.append("timestamps off the grid were moved to the bucket that contains them")
    n = int(slot[-1]) + 1
    sums = np.bincount(slot[seen], weights=summed[seen], minlength=n)
    has = np.bincount(slot[seen], minlength=n) > 0
    series = np.where(has, sums, np.nan)
    kind: Literal["counts", "rates"] = "counts"
    if values == "rates" or (values == "auto" and not np.allclose(vals[~np.isnan(vals)] % 1, 0)):
        kind = "rates"
    missing = int(np.isnan(series).sum())
    if missing:
        notes.append(f"{missing} missing buckets ({'treated as 0' if kind == 'counts' else 'not judged'})")
    times = grid0 + step * np.arange(n, dtype=np.int64)
    return Series(times=times, values=series, width=step, kind=kind, notes=notes)


def _config(sensitivity: str | None, kind: str) -> VolumeConfig:
    changes: dict[str, Any] = {"replay": "1d"}
    if sensitivity:
        changes["sensitivity"] = sensitivity
    if kind == "rates":
        changes["min_abs_change"] = 0.0
    return VolumeConfig.model_validate(changes)


def backtest(series: Series, sensitivity: str | None = None) -> list[FindingDraft]:
    """Every volume incident the detector raises over ``series``, judged causally bucket by bucket."""
    config = _config(sensitivity, series.kind)
    counting = series.kind == "counts"
    detector = VolumeDetector(config, replay=None, floor=1.0 if counting else 1e-9, zero_fill=counting)
    ok = ~np.isnan(series.values)
    values = series.values if series.kind == "rates" else np.nan_to_num(series.values)
    keep = ok if series.kind == "rates" else np.ones_like(ok)
    counts = pd.DataFrame(
        {
            "source": KEY.source,
            "environment": KEY.environment,
            "event": KEY.event,
            "bucket_start": series.times[keep],
            "count": values[keep],
        }
    )
    last = int(series.times[-1]) + series.width
    frame = pd.DataFrame(
        [
            {
                "source": KEY.source,
                "environment": KEY.environment,
                "event": KEY.event,
                "first_seen": int(series.times[0]),
                "last_seen": last,
            }
        ]
    )
    now = from_epoch(last) + timedelta(seconds=detector.lateness)
    output = detector.run(DetectorInputs(now=now, bucket_seconds=series.width, series=frame, counts=counts))
    drafts = [d for d in output.drafts if d.kind != "new_event"]
    return sorted(drafts, key=lambda d: d.started_at)


def incidents(drafts: list[FindingDraft]) -> list[dict[str, Any]]:
    """One record per incident, for printing."""
    return [
        {
            "started_at": iso(d.started_at),
            "ended_at": iso(d.ended_at) if d.ended_at else None,
            "direction": "spike" if d.kind == "volume_spike" else "drop",
            "kind": d.kind,
            "peak_score": d.score,
            "observed": d.observed,
            "expected": d.expected,
            "title": d.title,
        }
        for d in drafts
    ]
