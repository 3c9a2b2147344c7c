"""The detector part of the Store on SQLite and PostgreSQL: expected bands and detector state."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from storage import Store
from tests.monitors.detectors.fixtures import T0, WIDTH, store_counts

NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)


def test_bands_round_trip_and_prune(store: Store) -> None:
    frame = pd.DataFrame({"source": "web", "environment": "production", "event": "Checkout Started",
                          "bucket_start": [T0, T0 + WIDTH], "count": [5, 7]})  # fmt: skip
    store_counts(store, frame)
    bands = pd.DataFrame(
        {"source": ["web", "web", "web"], "environment": "production", "event": ["Checkout Started"] * 2 + ["Unknown"],
         "bucket_start": [T0, T0 + WIDTH, T0], "observed": [5.0, None, 1.0], "expected": [6.0, 6.5, 1.0],
         "lower": [1.0, 1.5, 0.0], "upper": [12.0, 13.0, 3.0], "score": [-0.4, None, 0.0],
         "anomalous": [False, True, False]}
    )  # fmt: skip
    assert store.write_bands(bands) == 2
    assert store.write_bands(bands.assign(expected=[6.1, 6.6, 1.0])) == 2  # upsert, not duplicate
    read = store.read_bands(since=T0, event="Checkout Started")
    assert read["bucket_start"].tolist() == [T0, T0 + WIDTH]
    assert read["expected"].tolist() == [6.1, 6.6]
    assert read["anomalous"].tolist() == [False, True]
    assert pd.isna(read["observed"].iloc[1])
    assert store.prune_bands(T0 + WIDTH) == 1
    assert len(store.read_bands()) == 1


def test_detector_state_round_trip(store: Store) -> None:
    frame = pd.DataFrame({"source": "web", "environment": "production", "event": ["A", "B"],
                          "bucket_start": [T0, T0], "count": [1, 2]})  # fmt: skip
    store_counts(store, frame)
    blob = bytes(range(256)) * 20
    key = ("web", "production", "A")
    assert (
        store.save_detector_state(
            "volume", {key: (T0, "v1", blob), ("x", "y", "z"): (T0, "v1", b"")}, now=NOW
        )
        == 1
    )
    assert store.load_detector_state("volume") == {key: (T0, "v1", blob)}
    store.save_detector_state("volume", {key: (T0 + WIDTH, "v2", b"new")}, now=NOW)
    assert store.load_detector_state("volume") == {key: (T0 + WIDTH, "v2", b"new")}
    assert store.clear_detector_state("volume") == 1
    assert store.load_detector_state("volume") == {}
