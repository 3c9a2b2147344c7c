"""The detector contract: pure functions from data frames and a context to finding drafts.

A detector never issues SQL, HTTP or reads the clock. The pipeline (:mod:`monitors.detect`)
asks each detector what data it needs (:meth:`Detector.plan`), loads it from the Store, and
calls :meth:`Detector.run` with a :class:`DetectorInputs`. Detectors run in ``order``; each sees
the drafts of the ones before it (``inputs.prior``) and may suppress them (a rename finding
explains the drop of the old name and the new event of the new one).

Detectors that keep state between runs (the volume detector's online model) receive their state
per series in ``inputs.state`` and return the new state in :class:`DetectorOutput`; the pipeline
stores it as opaque bytes. Running a detector over history with empty state and running it live
run by run must give the same findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import pandas as pd

from monitors.models import FindingDraft


class SeriesKey(NamedTuple):
    """One event stream: (source, environment, event)."""

    source: str
    environment: str
    event: str


@dataclass(frozen=True)
class DetectorState:
    """What a stateful detector keeps for one series between runs (opaque to the pipeline)."""

    through: int
    """Start (epoch s) of the last bucket already judged."""
    version: str
    """Changes when the detector's settings or state format change; a mismatch means: rebuild."""
    blob: bytes


@dataclass(frozen=True)
class DataRequest:
    """What a detector needs loaded. Later detectors add fields (property stats, violations…)."""

    counts_since: int | None = None
    """Epoch s of the first bucket of counts needed (None: no counts)."""
    metrics_since: int | None = None
    """``extras["metrics"]``: count, checked, conforming, identified per series and bucket."""
    violations_since: int | None = None
    """``extras["violations"]``: plan violations and leak signals per series, bucket, type, property."""
    props_since: int | None = None
    """``extras["props"]``: property keys and JSON types per series and bucket."""
    latency_since: int | None = None
    """``extras["latency"]``: encoded latency sketch bins per series, bucket and hop."""
    identity_since: int | None = None
    """``extras["identity"]``: identity HyperLogLogs (stored bytes) per series and bucket."""
    samples: bool = False
    """``extras["samples"]``: the redacted sample payloads of ``violation_samples``."""


@dataclass(frozen=True)
class DetectorInputs:
    """Everything a detector may look at. Frames may be empty but always have their columns.

    * ``series``: every known series — source, environment, event, first_seen, last_seen (epoch s);
    * ``counts``: source, environment, event, bucket_start, count for buckets since the requested
      start (missing buckets of a known series mean zero events);
    * ``state``: this detector's saved state per series;
    * ``prior``: drafts of the detectors that ran before this one, in this pass;
    * ``extras``: further frames by name, for detectors added later;
    * ``expected``: ongoing episodes of this detector's kinds that a person marked expected — per
      series, (episode start in epoch s, ``adapt`` or ``keep``: what to do with the baseline).
    """

    now: datetime
    bucket_seconds: int
    series: pd.DataFrame
    counts: pd.DataFrame
    state: Mapping[SeriesKey, DetectorState] = field(default_factory=dict)
    prior: Sequence[FindingDraft] = ()
    extras: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    expected: Mapping[tuple[str, str, str], tuple[int, str]] = field(default_factory=dict)


BAND_COLUMNS = (
    "source",
    "environment",
    "event",
    "bucket_start",
    "observed",
    "expected",
    "lower",
    "upper",
    "score",
    "anomalous",
)


@dataclass
class DetectorOutput:
    """A detector's result.

    ``complete`` means ``drafts`` include every episode of ``kinds`` still open for the series
    in ``covered``: the pipeline then resolves stored open findings of those kinds and series
    that were not re-emitted. ``suppress`` lists fingerprints of earlier drafts this detector
    explains (they are not opened, and resolved if already open). ``bands`` has
    :data:`BAND_COLUMNS` (expected range per series and bucket, for charts).
    """

    drafts: list[FindingDraft] = field(default_factory=list)
    state: dict[SeriesKey, DetectorState] = field(default_factory=dict)
    bands: pd.DataFrame | None = None
    suppress: set[str] = field(default_factory=set)
    complete: bool = False
    covered: set[SeriesKey] = field(default_factory=set)
    stats: dict[str, Any] = field(default_factory=dict)


class Detector(Protocol):
    """A detector: ``name`` is its module name (the registry key), ``order`` its place in a pass."""

    name: str
    order: int
    kinds: tuple[str, ...]

    def plan(
        self,
        now: datetime,
        bucket_seconds: int,
        series: pd.DataFrame,
        state: Mapping[SeriesKey, DetectorState],
    ) -> DataRequest:
        """The data this run needs, given the known series and the saved state."""
        ...

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Judge the data; pure."""
        ...
