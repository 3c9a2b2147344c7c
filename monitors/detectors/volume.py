"""Volume detector: spikes, drops and silences of event counts, plus new event names.

Judges only complete buckets (a bucket is judged once it ended ``lateness`` ago, and never past
the newest data the store has, so a stalled ingest does not look like silence everywhere);
buckets of a known series without a row count as zero. The numeric work is in
:mod:`.volume_engine`; this module maps frames and saved state to arrays and episodes to drafts.
State is kept per series, so each run only reads the buckets since the previous one; a series
without valid state (new, or settings changed) is replayed from ``replay`` ago.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from monitors.detectors import volume_engine as engine
from monitors.detectors import volume_report as report
from monitors.detectors.base import (
    BAND_COLUMNS,
    DataRequest,
    DetectorInputs,
    DetectorOutput,
    DetectorState,
    SeriesKey,
)
from monitors.detectors.config import DetectorsConfig, ResolvedVolume, VolumeConfig
from monitors.detectors.episodes import DIR, START, Episode, record
from monitors.detectors.volume_counts import matrix
from monitors.models import FindingDraft
from monitors.timeutil import parse_duration, to_epoch

KEY = ["source", "environment", "event"]
_FRESH: np.ndarray = engine.pack(engine.fresh(1))[0]
"""the state row of a series that has seen nothing yet"""


@dataclass(frozen=True)
class _Series:
    key: SeriesKey
    settings: ResolvedVolume
    first: int
    """first bucket of the series"""
    version: str
    state: DetectorState | None
    """saved state, if still valid"""

    def start(self, end: int, replay: int | None, width: int) -> int:
        if self.state is not None:
            return self.state.through + width
        return self.first if replay is None else max(self.first, end - replay)


class VolumeDetector:
    """See the module docstring. ``config.replay`` of ``None`` replays all history."""

    name = "volume"
    order = 10
    kinds = ("volume_spike", "volume_drop", "silence", "new_event")

    def __init__(
        self,
        config: VolumeConfig,
        *,
        replay: int | str | None = "config",
        floor: float = 1.0,
        zero_fill: bool = True,
    ) -> None:
        self.config = config
        self.zero_fill = zero_fill
        self.lateness = parse_duration(config.lateness)
        self.replay: int | None = parse_duration(config.replay) if isinstance(replay, str) else replay
        self.floor = floor

    # -- planning ---------------------------------------------------------------------------

    def end(self, now: datetime, width: int, series: pd.DataFrame) -> int:
        """Exclusive end of the buckets to judge: complete by the clock and covered by data."""
        end = (to_epoch(now) - self.lateness) // width * width
        if len(series):
            end = min(end, int(series["last_seen"].max()) // width * width)
        return int(end)

    def _series(
        self, width: int, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]
    ) -> list[_Series]:
        out = []
        for source, environment, event, first_seen in series[[*KEY, "first_seen"]].itertuples(index=False):
            key = SeriesKey(str(source), str(environment), str(event))
            settings = self.config.resolve(*key)
            if not settings.enabled:
                continue
            version = self._version(settings, width)
            saved = state.get(key)
            valid = saved if saved is not None and saved.version == version else None
            out.append(_Series(key, settings, int(first_seen) // width * width, version, valid))
        return out

    def _version(self, settings: ResolvedVolume, width: int) -> str:
        text = f"{engine.STATE_VERSION}|{width}|{self.floor}|{settings.model_dump_json()}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def plan(
        self,
        now: datetime,
        bucket_seconds: int,
        series: pd.DataFrame,
        state: Mapping[SeriesKey, DetectorState],
    ) -> DataRequest:
        """Counts from the earliest bucket any series still has to judge (or replay)."""
        end = self.end(now, bucket_seconds, series)
        starts = [
            s.start(end, self.replay, bucket_seconds) for s in self._series(bucket_seconds, series, state)
        ]
        starts = [s for s in starts if s < end]
        return DataRequest(counts_since=min(starts) if starts else None)

    # -- running ----------------------------------------------------------------------------

    def run(self, inputs: DetectorInputs) -> DetectorOutput:
        """Judge every complete bucket not judged yet; drafts for every episode touched or open."""
        width = inputs.bucket_seconds
        end = self.end(inputs.now, width, inputs.series)
        items = self._series(width, inputs.series, inputs.state)
        out = DetectorOutput(complete=True, covered={s.key for s in items})
        if not items:
            return out
        starts = np.array([s.start(end, self.replay, width) for s in items], dtype=np.int64)
        t0 = int(starts.min())
        steps = max((end - t0) // width, 0)
        packed = np.vstack([self._row(s) for s in items])
        state = engine.unpack(packed)
        record_from = max(t0, end - parse_duration(self.config.bands_write))
        result = None
        if steps > 0:
            times = t0 + width * np.arange(steps, dtype=np.int64)
            keys = [s.key for s in items]
            counts = matrix(inputs.counts, keys, times, width, 0.0 if self.zero_fill else np.nan)
            observed = None if self.zero_fill else ~np.isnan(counts)
            first = np.minimum((starts - t0) // width, steps)
            result = engine.run(
                state,
                self._params(items, width, state, inputs.expected),
                times,
                counts if self.zero_fill else np.nan_to_num(counts),
                first=first,
                observed=observed,
                record_from=record_from,
            )
        last = np.where(starts < end, end - width, [s.state.through if s.state else 0 for s in items])
        out.drafts = self._drafts(items, state, result, width, end, t0, last)
        out.bands = self._bands(items, result)
        new_packed = engine.pack(state)
        through = end - width
        for i, s in enumerate(items):
            if starts[i] < end:
                out.state[s.key] = DetectorState(
                    through=through, version=s.version, blob=new_packed[i].tobytes()
                )
            elif s.state is not None:
                out.state[s.key] = s.state
        out.stats = {"series": len(items), "buckets": int(steps), "judged_until": end}
        return out

    def _row(self, s: _Series) -> np.ndarray:
        if s.state is not None:
            row = np.frombuffer(s.state.blob, dtype=np.float64)
            if row.size == engine.STATE_SIZE:
                return np.array(row, dtype=np.float64)
        return _FRESH

    def _params(
        self,
        items: list[_Series],
        width: int,
        state: dict[str, np.ndarray],
        expected: Mapping[tuple[str, str, str], tuple[int, str]],
    ) -> engine.Params:
        def arr(values: list[float]) -> np.ndarray:
            return np.asarray(values, dtype=np.float64)

        st = [s.settings for s in items]
        adapt_after = arr([np.inf if x.adapt_after_s is None else x.adapt_after_s / width for x in st])
        # a person marked the open episode expected: adopt its level now, or never
        for i, s in enumerate(items):
            started, choice = expected.get(s.key, (None, ""))
            if started is not None and state["ep"][DIR, i] != 0 and int(state["ep"][START, i]) == started:
                adapt_after[i] = 0.0 if choice == "adapt" else np.inf
        return engine.Params(
            width=width,
            threshold=arr([x.threshold for x in st]),
            min_abs=arr([x.min_abs_change for x in st]),
            min_rel=arr([x.min_rel_change for x in st]),
            resolve_after=arr([float(x.resolve_after) for x in st]),
            min_history=arr([max(x.min_history_s / width, self.config.min_history_buckets) for x in st]),
            adapt_after=adapt_after,
            floor=np.full(len(items), self.floor),
        )

    def _drafts(
        self,
        items: list[_Series],
        state: dict[str, np.ndarray],
        result: engine.RunResult | None,
        width: int,
        end: int,
        t0: int,
        last: np.ndarray,
    ) -> list[FindingDraft]:
        drafts = []
        choice = state["choice"][0].astype(int)
        closed: list[Episode] = list(result.closed) if result else []
        still = [
            record(state["ep"], state["ctx"], int(i), None) for i in np.flatnonzero(state["ep"][DIR] != 0)
        ]
        for ep in closed + still:
            s = items[ep.series]
            if ep.ended_at is None:
                tail = self._ring_tail(state, ep, int(last[ep.series]), width)
            else:
                tail = self._tail(result, ep, ep.ended_at)
            model = int(choice[ep.series])
            drafts.append(
                report.draft(s.key, ep, width, model, s.settings.sensitivity, s.settings.threshold, tail)
            )
        drafts += self._new_events(items, width, end, t0)
        return drafts

    @staticmethod
    def _tail(result: engine.RunResult | None, ep: Episode, stop: int) -> list[dict[str, object]]:
        if result is None or not len(result.times):
            return []
        i = ep.series
        return report.tail_rows(
            result.times, result.observed[:, i], result.expected[:, i], ep.started_at, stop
        )

    @staticmethod
    def _ring_tail(
        state: dict[str, np.ndarray], ep: Episode, last: int, width: int
    ) -> list[dict[str, object]]:
        """The episode's most recent buckets from the saved ring (the same whether or not this
        run judged new buckets, so re-running at the same ``now`` changes nothing)."""
        size = state["ring_x"].shape[0]
        first = max(ep.started_at, last - (size - 1) * width)
        times = np.arange(first, last + 1, width, dtype=np.int64)
        pos = (times // width) % size
        i = ep.series
        return report.tail_rows(times, state["ring_x"][pos, i], state["ring_m"][pos, i], first, last + 1)

    def _new_events(self, items: list[_Series], width: int, end: int, t0: int) -> list[FindingDraft]:
        if not items:
            return []
        grace = parse_duration(self.config.new_event_grace)
        origin = min(s.first for s in items)
        drafts = []
        for s in items:
            learned = s.first + int(max(s.settings.min_history_s, self.config.min_history_buckets * width))
            if s.first >= origin + grace and s.first < end and learned >= t0:
                drafts.append(report.new_event(s.key, s.first, learned, end, width))
        return drafts

    @staticmethod
    def _bands(items: list[_Series], result: engine.RunResult | None) -> pd.DataFrame:
        if result is None or not len(result.times):
            return pd.DataFrame(columns=list(BAND_COLUMNS))
        r, n = len(result.times), len(items)
        keys = pd.DataFrame([s.key for s in items], columns=KEY)
        frame = keys.iloc[np.tile(np.arange(n), r)].reset_index(drop=True)
        frame["bucket_start"] = np.repeat(result.times, n)
        for name in ("observed", "expected", "lower", "upper", "score"):
            frame[name] = getattr(result, name).reshape(-1)
        frame["anomalous"] = result.anomalous.reshape(-1)
        return frame[frame["expected"].notna()].reset_index(drop=True)


def create(config: DetectorsConfig) -> VolumeDetector:
    """The registry hook."""
    return VolumeDetector(config.volume)
