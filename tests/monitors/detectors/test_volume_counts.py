"""Counts frames to the engine's (T, n) matrix: rows land in their series' column whatever the
frame's string storage, rows of other series or times are dropped, missing buckets hold the fill."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitors.detectors.base import SeriesKey
from monitors.detectors.volume_counts import matrix

WIDTH = 300
TIMES = 1_000_200 + WIDTH * np.arange(4, dtype=np.int64)
KEYS = [SeriesKey("web", "production", "Signed Up"), SeriesKey("web", "production", "Order Completed")]


def _frame(rows: list[tuple[str, str, str, int, float]], dtype: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["source", "environment", "event", "bucket_start", "count"])
    for name in ("source", "environment", "event"):
        frame[name] = frame[name].astype(dtype)
    return frame


@pytest.mark.parametrize("dtype", ["str", "object"], ids=["arrow-strings", "python-objects"])
def test_rows_land_in_their_series_column_and_the_rest_is_dropped(dtype: str) -> None:
    t = [int(x) for x in TIMES]
    frame = _frame(
        [
            ("web", "production", "Order Completed", t[1], 5.0),
            ("web", "production", "Signed Up", t[3], 2.0),
            ("web", "production", "Unknown Event", t[0], 9.0),  # another series
            ("web", "production", "Signed Up", t[0] - WIDTH, 7.0),  # before the first bucket
            ("web", "production", "Signed Up", t[3] + WIDTH, 7.0),  # after the last
            ("web", "production", "Signed Up", t[0] + 10, 1.0),  # inside the first bucket
        ],
        dtype,
    )
    out = matrix(frame, KEYS, TIMES, WIDTH, 0.0)
    expected = np.zeros((4, 2))
    expected[1, 1], expected[3, 0], expected[0, 0] = 5.0, 2.0, 1.0
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", ["str", "object"], ids=["arrow-strings", "python-objects"])
def test_series_are_told_apart_by_source_and_environment_too(dtype: str) -> None:
    keys = [SeriesKey("web", "production", "Signed Up"), SeriesKey("ios", "staging", "Signed Up")]
    t = int(TIMES[2])
    frame = _frame(
        [
            ("ios", "staging", "Signed Up", t, 3.0),
            ("web", "production", "Signed Up", t, 4.0),
            ("ios", "production", "Signed Up", t, 8.0),  # a combination no series has
        ],
        dtype,
    )
    out = matrix(frame, keys, TIMES, WIDTH, 0.0)
    np.testing.assert_array_equal(out[2], [4.0, 3.0])
    assert out.sum() == 7.0


def test_missing_buckets_hold_the_fill_and_non_finite_counts_are_cleaned_only_with_a_finite_fill() -> None:
    t = [int(x) for x in TIMES]
    frame = _frame(
        [("web", "production", "Signed Up", t[0], np.nan), ("web", "production", "Signed Up", t[1], np.inf)],
        "str",
    )
    zero = matrix(frame, KEYS, TIMES, WIDTH, 0.0)
    np.testing.assert_array_equal(zero[:2, 0], [0.0, np.finfo(np.float64).max])
    missing = matrix(frame, KEYS, TIMES, WIDTH, np.nan)
    assert np.isnan(missing[0, 0]) and np.isinf(missing[1, 0]) and np.isnan(missing[2:]).all()


def test_an_empty_frame_gives_the_fill() -> None:
    frame = _frame([], "str")
    np.testing.assert_array_equal(matrix(frame, KEYS, TIMES, WIDTH, 0.0), np.zeros((4, 2)))
