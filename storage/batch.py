"""What one ingest commit writes: metric deltas for one source and the checkpoint they came from.

Plain data; built by :mod:`monitors.ingest.merge`, written by ``Store.apply_ingest`` in a single
transaction together with the checkpoint, so a crash or rerun never double counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitors.sketch import HLL, LatencySketch

SeriesKey = tuple[str, str]  # (event, msg_type)


@dataclass
class MetricDelta:
    """Additive counts and mergeable sketches of one (series, bucket).

    ``users`` counts userId, else anonymousId; ``uids`` and ``anon_only`` split the same MD5-based
    keys by whether a userId was there (portable: warehouses compute the same registers);
    ``linked`` (anonymousIds seen together with a userId: anonymous activity stitched to a profile)
    uses DuckDB's hash in the file path and only merges with itself."""

    count: int = 0
    checked: int = 0
    conforming: int = 0
    identified: int = 0
    users: HLL = field(default_factory=HLL.empty)
    uids: HLL = field(default_factory=HLL.empty)
    anon_only: HLL = field(default_factory=HLL.empty)
    linked: HLL = field(default_factory=HLL.empty)


@dataclass(frozen=True)
class Checkpoint:
    """Resume point of one file: identity (content fingerprint) and offset in its decompressed bytes."""

    file_key: str
    fp_len: int
    path: str
    offset: int
    size: int
    mtime: float
    compressed: bool
    complete: bool


@dataclass
class IngestBatch:
    """Deltas of one source from one read of one file, plus the checkpoint to commit with them."""

    source: str
    environment: str
    sample_rate: float
    file: str
    checkpoint: Checkpoint | None = None
    expected_offset: int | None = None
    expected_key: str | None = None
    keep_expected: bool = False  # the expected point is an old-style identity other files may still need: not deleted
    metrics: dict[tuple[str, str, int], MetricDelta] = field(default_factory=dict)
    latency: dict[tuple[str, str, int, str], LatencySketch] = field(default_factory=dict)
    violations: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    props: dict[tuple[str, str, int, str, str], int] = field(default_factory=dict)
    vsamples: dict[tuple[str, str, str, str], tuple[int, list[str]]] = field(default_factory=dict)
    rejects: dict[str, int] = field(default_factory=dict)
    reject_samples: dict[str, list[str]] = field(default_factory=dict)
    quarantine: list[tuple[str, str]] = field(default_factory=list)

    @property
    def events(self) -> int:
        """Accepted messages in this batch."""
        return sum(m.count for m in self.metrics.values())

    @property
    def rejected(self) -> int:
        """Rejected messages in this batch."""
        return sum(self.rejects.values())
