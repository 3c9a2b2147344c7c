"""Per-source totals for the rate book: a *virtual* series ``(source, environment, "*")`` summing
every event of the source, for checks whose incidents are usually source-wide (a staging app on
the production key, a deploy sending emails as user ids, a slow SDK). A leak of 3 % of one
source's traffic is significant much sooner summed over its events than in any one of them, and
one finding tells the story instead of one per event.

A virtual series has no row in the ``series`` table, so its state travels inside the state of
a *host*: the first real series of the source and environment.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from monitors.detectors._semantic import KEY
from monitors.detectors._semantic_long import Long
from monitors.detectors.base import DetectorState, SeriesKey

ALL = "*"


def is_total(key: SeriesKey) -> bool:
    """Whether a series is a per-source total."""
    return key.event == ALL


def with_totals(series: pd.DataFrame, nums: Long, dens: Long, checks: Iterable[str]) -> tuple[pd.DataFrame, Long, Long]:
    """Series with one total per source and environment (of 2 events or more), and numerators
    and denominators with the rows of their events added under the total's key too."""
    wanted = set(checks)
    if series.empty or not wanted:
        return series, nums, dens
    real = series[series["event"] != ALL]
    totals = real.groupby(["source", "environment"], sort=True).agg(
        first_seen=("first_seen", "min"), last_seen=("last_seen", "max"), events=("event", "size")
    )
    totals = totals[totals["events"] >= 2]  # a source with one event needs no total
    if totals.empty:
        return real, nums, dens
    virtual = totals.drop(columns="events").reset_index().assign(event=ALL, msg_type="track")
    series = pd.concat([real, virtual[[c for c in virtual.columns if c in real.columns]]], ignore_index=True)
    sources = set(zip(virtual["source"].tolist(), virtual["environment"].tolist(), strict=True))

    def total(key: SeriesKey) -> SeriesKey | None:
        """The total series of a series' source, when the source has one."""
        return SeriesKey(key.source, key.environment, ALL) if (key.source, key.environment) in sources else None

    def num_key(k: Any) -> Any | None:
        """A numerator key under its source's total (checks judged on totals only)."""
        key, check, subject = k
        t = total(key) if check in wanted else None
        return None if t is None else (t, check, subject)

    def den_key(k: Any) -> Any | None:
        """A denominator key under its source's total."""
        key, den = k
        t = total(key)
        return None if t is None else (t, den)

    return series, Long.concat([nums, nums.rekeyed(num_key)]), Long.concat([dens, dens.rekeyed(den_key)])


def hosts(keys: Iterable[SeriesKey]) -> dict[SeriesKey, SeriesKey]:
    """Total series → the real series holding its state (the first of its source/environment)."""
    out: dict[SeriesKey, SeriesKey] = {}
    for key in sorted(k for k in keys if not is_total(k)):
        out.setdefault(SeriesKey(key.source, key.environment, ALL), key)
    return out


def pack(state: DetectorState) -> dict[str, object]:
    """JSON for a virtual series' state (kept in its host's header)."""
    return {"through": state.through, "version": state.version, "blob": base64.b64encode(state.blob).decode()}


def unpack_all(states: Mapping[SeriesKey, DetectorState], version: str) -> dict[SeriesKey, DetectorState]:
    """The virtual series' states found in the headers of the given (host) states."""
    out: dict[SeriesKey, DetectorState] = {}
    for key, state in states.items():
        if state.version != version:
            continue
        try:
            raw = zlib.decompress(state.blob)
            size = int.from_bytes(raw[:4], "little")
            packed = json.loads(raw[4 : 4 + size]).get("virtual")
        except (zlib.error, ValueError):
            continue
        if isinstance(packed, dict):
            total = SeriesKey(key.source, key.environment, ALL)
            blob = base64.b64decode(packed["blob"])
            out[total] = DetectorState(int(packed["through"]), str(packed["version"]), blob)
    return out


__all__ = ["ALL", "KEY", "hosts", "is_total", "pack", "unpack_all", "with_totals"]
