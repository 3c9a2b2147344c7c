"""The ledger of rate keys a detector tracks: from long frames and saved state to the engine's
panel, and from the engine's tracks back to per-series :class:`DetectorState`.

A detector names its *checks* (``leak`` over ``checked``, ``slow:300`` over ``hop:e2e``…);
a *key* is (series, check, subject). Numerators come as a :class:`Long` keyed by (series, check,
subject), denominators as a :class:`Long` keyed by (series, den). State is one compressed blob per series: the keys, their tracks and open
episodes. Keys that saw nothing for a whole ring and have no episode are dropped.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from monitors.detectors import _semantic_rates as rates
from monitors.detectors import _semantic_totals as totals
from monitors.detectors._semantic import judge_end, series_keys
from monitors.detectors._semantic_long import Long
from monitors.detectors.base import DetectorState, SeriesKey

STATE_FORMAT = "book-1"
DEN = "~den"
"""Pseudo check kept per series and denominator: its ring holds the denominator's history."""
NEVER = rates.Rule(threshold=np.inf, cont=np.inf, min_count=np.inf)


@dataclass(frozen=True)
class Check:
    """One kind of rate: its rule, its denominator and a fixed baseline rate (SLOs) if any.

    The denominator is the ``dens`` series named ``den`` (``den:subject`` when ``per_subject``),
    or, with ``den_from``, the numerator of the key (``den_from``, same subject) of the same
    series (the share of a property's values that are strings: strings over presence)."""

    rule: rates.Rule
    den: str = "checked"
    per_subject: bool = False
    den_from: str | None = None
    fixed: float | None = None
    total_rule: rates.Rule | None = None
    """the rule on per-source totals (default: ``rule``)"""


@dataclass(frozen=True)
class Found:
    """An episode of one key, ready to become a draft."""

    series: SeriesKey
    check: str
    subject: str
    episode: dict[str, Any]
    ended_at: int | None
    adapted: bool


Annotate = Callable[[Found, "dict[str, Any] | None"], "dict[str, Any]"]


@dataclass
class BookResult:
    """What a run of the book produced."""

    found: list[Found] = field(default_factory=list)
    states: dict[SeriesKey, DetectorState] = field(default_factory=dict)
    covered: set[SeriesKey] = field(default_factory=set)
    end: int = 0
    judged: int = 0
    history: dict[tuple[SeriesKey, str, str], tuple[float, float]] = field(default_factory=dict)
    """(numerator, denominator) summed over each key's baseline ring after the run"""
    spans: dict[tuple[SeriesKey, str, str], tuple[int, int | None]] = field(default_factory=dict)
    """per key: (start, end) of its open episode (end None), else of its last ended one"""

    def baseline(self, series: SeriesKey, check: str, subject: str) -> float | None:
        """A key's rate over its baseline ring (None when unknown or without messages)."""
        num, den = self.history.get((series, check, subject), (0.0, 0.0))
        return num / den if den > 0 else None


@dataclass
class _Series:
    key: SeriesKey
    keys: list[tuple[str, str]]
    tracks: list[rates.Track]


class RateBook:
    """Tracks the rate keys of one detector (see the module docstring)."""

    def __init__(
        self, name: str, timing: rates.Timing, checks: Mapping[str, Check], *, lateness: int, replay: int, settings: str,
        totals: Sequence[str] = (),
    ) -> None:  # fmt: skip
        self.name = name
        self.totals = tuple(totals)
        """checks also judged on per-source totals (series ``(source, environment, "*")``)"""
        self.timing = timing
        self.checks = {**checks, DEN: Check(NEVER)}
        self.static = {""} | {c.den for c in checks.values() if not c.per_subject and c.den_from is None}
        self.lateness = lateness
        self.replay = replay
        text = f"{STATE_FORMAT}|{timing}|{sorted((k, repr(v)) for k, v in self.checks.items())}|{replay}|{settings}|{totals}"
        self.version = hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- planning ---------------------------------------------------------------------------

    def end(self, now: datetime, series: pd.DataFrame) -> int:
        """Exclusive end of the buckets to judge."""
        return judge_end(now, self.timing.width, self.lateness, series)

    def first_judged(self, key: SeriesKey, first_seen: int, end: int, state: DetectorState | None) -> int:
        """The first bucket this run judges for a series."""
        if state is not None and state.version == self.version:
            return state.through + self.timing.width
        w = self.timing.width
        return max(first_seen // w * w, end - self.replay)

    def _with_totals(
        self, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState], nums: Long, dens: Long
    ) -> tuple[pd.DataFrame, dict[SeriesKey, DetectorState], Long, Long]:
        if not self.totals:
            return series, dict(state), nums, dens
        series, nums, dens = totals.with_totals(series, nums, dens, self.totals)
        return series, {**state, **totals.unpack_all(state, self.version)}, nums, dens

    def since(self, now: datetime, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState]) -> int | None:
        """First bucket the run must read, or None when nothing is to be judged."""
        end = self.end(now, series)
        series, state, _, _ = self._with_totals(series, state, Long.empty(), Long.empty())
        starts = [
            self.first_judged(k, int(f), end, state.get(k))
            for k, f in zip(series_keys(series), series["first_seen"], strict=True)
        ]
        todo = [s for s in starts if s < end]
        if not todo:
            return None
        return min(self.timing.slot_end(s) for s in todo) * self.timing.slot

    # -- running ----------------------------------------------------------------------------

    def run(
        self,
        now: datetime,
        series: pd.DataFrame,
        state: Mapping[SeriesKey, DetectorState],
        nums: Long,
        dens: Long,
        extra: Mapping[SeriesKey, dict[str, Any]] | None = None,
        annotate: Annotate | None = None,
    ) -> BookResult:
        """Judge the buckets not judged yet for every series of ``series``; ``extra`` is JSON the
        detector keeps per series in the same state (see :meth:`extra_of`). ``annotate(found,
        notes)`` returns an episode's notes (evidence gathered over the runs, e.g. counts per leak
        signal) from its previous notes; they are kept with open episodes as ``episode["notes"]``."""
        end = self.end(now, series)
        result = BookResult(end=end)
        series, state, nums, dens = self._with_totals(series, state, nums, dens)
        items = self._items(series, state, end, nums)
        result.covered = {s.key for s in items}
        tracks = [t for s in items for t in s.tracks]
        if not tracks:
            return result
        start = rates.load_from(self.timing, tracks)
        times = np.arange(start, max(end, start), self.timing.width, dtype=np.int64)
        panel = self._panel(items, times, nums, dens)
        out = rates.run(panel, tracks, self.timing, end)
        result.judged = out.judged
        owners = [(s, i) for s in items for i in range(len(s.keys))]
        for o in out.outcomes:
            s, i = owners[o.key]
            check, subject = s.keys[i]
            found = Found(s.key, check, subject, o.episode, o.ended_at, o.adapted)
            if annotate is not None:
                notes = annotate(found, o.episode.get("notes"))
                o.episode["notes"] = notes
                kept = out.tracks[o.key].episode
                if kept is not None and kept["start"] == o.episode["start"]:
                    kept["notes"] = notes
            result.found.append(found)
        pos = 0
        for s in items:
            s.tracks = out.tracks[pos : pos + len(s.keys)]
            pos += len(s.keys)
            for (check, subject), track in zip(s.keys, s.tracks, strict=True):
                num, den = track.ring.sum(axis=0, dtype=np.float64)
                result.history[(s.key, check, subject)] = (float(num), float(den))
                if track.episode is not None:
                    result.spans[(s.key, check, subject)] = (int(track.episode["start"]), None)
                elif track.last is not None:
                    result.spans[(s.key, check, subject)] = track.last
        virtual = {s.key: self._encode(s) for s in items if totals.is_total(s.key)}
        host_of = {h: v for v, h in totals.hosts(s.key for s in items).items()}
        for s in items:
            if not totals.is_total(s.key):
                packed = totals.pack(virtual[host_of[s.key]]) if s.key in host_of and host_of[s.key] in virtual else None
                result.states[s.key] = self._encode(s, (extra or {}).get(s.key), packed)
        return result

    def _items(
        self, series: pd.DataFrame, state: Mapping[SeriesKey, DetectorState], end: int, nums: Long
    ) -> list[_Series]:
        seen: dict[SeriesKey, set[tuple[str, str]]] = {}
        for key, check, subject in nums.keys:
            if check in self.checks:
                seen.setdefault(key, set()).add((check, subject))
        out = []
        for key, first_seen in zip(series_keys(series), series["first_seen"], strict=True):
            saved = state.get(key)
            item = self._decode(key, saved) if saved is not None and saved.version == self.version else None
            item = item or _Series(key, [], [])
            first = self.first_judged(key, int(first_seen), end, saved if item.keys else None)
            new = sorted(seen.get(key, set()) - set(item.keys), key=lambda ck: (self.checks[ck[0]].den_from is not None, ck))
            dens = {self.den_name(c, sub) for c, sub in [*item.keys, *new] if self.checks[c].den_from is None}
            for den in sorted((dens | self.static) - {sub for c, sub in item.keys if c == DEN}):
                item.tracks.append(self._sibling(item, (DEN, den), rates.fresh(self.timing, first)))
                item.keys.append((DEN, den))
            for ck in new:
                item.tracks.append(self._sibling(item, ck, rates.fresh(self.timing, first)))
                item.keys.append(ck)
            out.append(item)
        return out

    def _sibling(self, item: _Series, ck: tuple[str, str], fresh: rates.Track) -> rates.Track:
        """A new key of a known series starts with the denominator history of its series (a
        property that appears now is judged against the messages seen before it)."""
        if not item.tracks:
            return fresh
        anchor = item.tracks[0]
        ring = np.zeros_like(anchor.ring)
        check = self.checks[ck[0]]
        source = (check.den_from, ck[1]) if check.den_from is not None else (DEN, self.den_name(*ck))
        if source in item.keys:
            ring[:, 1] = item.tracks[item.keys.index(source)].ring[:, 0 if check.den_from else 1]
        return rates.Track(anchor.through, anchor.slot_end, ring, None, None)

    def _rule(self, key: SeriesKey, check: str) -> rates.Rule:
        c = self.checks[check]
        return c.total_rule if c.total_rule is not None and totals.is_total(key) else c.rule

    def den_name(self, check: str, subject: str) -> str:
        """The ``dens`` series a key is divided by."""
        if check == DEN:
            return subject
        c = self.checks[check]
        return f"{c.den}:{subject}" if c.per_subject else c.den

    def _panel(self, items: list[_Series], times: np.ndarray, nums: Long, dens: Long) -> rates.Panel:
        every = [c.rule for c in self.checks.values()] + [c.total_rule for c in self.checks.values() if c.total_rule]
        rules = list({id(r): r for r in every}.values())
        rule_index = {id(r): i for i, r in enumerate(rules)}
        flat = [(s.key, check, subject) for s in items for check, subject in s.keys]
        key_pos = {fk: i for i, fk in enumerate(flat)}
        plain = sorted({(k, self.den_name(c, sub)) for k, c, sub in flat if self.checks[c].den_from is None})
        den_pos = {dk: i for i, dk in enumerate(plain)}
        w = self.timing.width
        num = _dense(nums, times, w, key_pos)
        den = _dense(dens, times, w, den_pos)
        den_of = np.empty(len(flat), dtype=np.int64)
        borrowed: list[int] = []
        for i, (k, c, sub) in enumerate(flat):
            source = self.checks[c].den_from
            if source is None:
                den_of[i] = den_pos[(k, self.den_name(c, sub))]
            else:
                den_of[i] = len(plain) + len(borrowed)
                borrowed.append(key_pos.get((k, source, sub), -1))
        if borrowed:
            cols = np.array(borrowed)
            extra = np.where(cols[None, :] >= 0, num[:, np.maximum(cols, 0)], 0.0)
            den = np.hstack([den, extra])
        rule_of = np.array([rule_index[id(self._rule(k, c))] for k, c, _ in flat], dtype=np.int64)
        fixed = None
        if any(self.checks[c].fixed is not None for _, c, _ in flat):
            fixed = np.array([np.nan if self.checks[c].fixed is None else self.checks[c].fixed for _, c, _ in flat])
        return rates.Panel(times, num, den, den_of, rules, rule_of, fixed)

    # -- state ------------------------------------------------------------------------------

    def extra_of(self, state: DetectorState | None) -> dict[str, Any] | None:
        """The detector's own JSON kept in a series' state (None when absent or outdated)."""
        if state is None or state.version != self.version:
            return None
        try:
            raw = zlib.decompress(state.blob)
            size = int.from_bytes(raw[:4], "little")
            value = json.loads(raw[4 : 4 + size]).get("extra")
        except (zlib.error, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def _encode(
        self, item: _Series, extra: dict[str, Any] | None = None, virtual: dict[str, Any] | None = None
    ) -> DetectorState:
        keep = [
            i
            for i, t in enumerate(item.tracks)
            if item.keys[i][0] == DEN or t.episode is not None or t.ring[:, 0].any()
        ]
        tracks = [item.tracks[i] for i in keep]
        header = {
            "keys": [list(item.keys[i]) for i in keep],
            "through": [t.through for t in tracks],
            "slot_end": [t.slot_end for t in tracks],
            "episodes": [t.episode for t in tracks],
            "last": [t.last for t in tracks],
            "extra": extra,
            "virtual": virtual,
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        rings = np.stack([t.ring for t in tracks]).astype(np.float32) if tracks else np.zeros((0,), np.float32)
        blob = zlib.compress(len(head).to_bytes(4, "little") + head + rings.tobytes(), 6)
        through = max((t.through for t in tracks), default=0)
        return DetectorState(through=through, version=self.version, blob=blob)

    def _decode(self, key: SeriesKey, state: DetectorState) -> _Series | None:
        try:
            raw = zlib.decompress(state.blob)
            size = int.from_bytes(raw[:4], "little")
            header = json.loads(raw[4 : 4 + size])
            n = len(header["keys"])
            rings = np.frombuffer(raw, dtype=np.float32, offset=4 + size).reshape(n, self.timing.slots, 2)
        except (zlib.error, ValueError, KeyError):
            return None
        lasts = header.get("last") or [None] * n
        tracks = [
            rates.Track(int(th), int(se), rings[i].copy(), ep, None if last is None else (int(last[0]), int(last[1])))
            for i, (th, se, ep, last) in enumerate(
                zip(header["through"], header["slot_end"], header["episodes"], lasts, strict=True)
            )
        ]
        return _Series(key, [(str(c), str(s)) for c, s in header["keys"]], tracks)


def _dense(long: Long, times: np.ndarray, width: int, position: Mapping[Any, int]) -> np.ndarray:
    """(T, len(position)) matrix of ``long``'s values summed per bucket and key; other rows are ignored."""
    size = len(position)
    if not len(long) or not len(times) or not size:
        return np.zeros((len(times), size))
    lookup = np.array([position.get(k, -1) for k in long.keys], dtype=np.int64)
    col = lookup[long.key]
    t = (long.bucket - int(times[0])) // width
    keep = (col >= 0) & (t >= 0) & (t < len(times))
    flat = t[keep] * size + col[keep]
    summed = np.bincount(flat, weights=long.value[keep], minlength=len(times) * size)
    return summed.reshape(len(times), size)
