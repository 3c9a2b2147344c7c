"""Rate episodes: the engine under leakage, schema, identity and latency checks.

A *rate key* is one numerator series over one denominator series per bucket (leaked messages over
checked messages; messages without ``cart_id`` over checked; events over the latency SLO over
events). For every bucket a pass judges, and for each window (15 minutes and 1 hour by default)
ending at that bucket, the window's rate is compared with the key's **baseline rate**:

* the baseline is the key's own rate over the previous ``slots`` hours (7 days), before the
  window, and at least its rate in the same hour of the day over the last 7 days (a QA team that
  tests every morning does not alarm every morning); or a fixed rate given by the caller (SLOs);
* a window is flagged when its count is surprising for the baseline (quasi-Poisson z ≥
  ``threshold``) *and* the rate moved by ``min_abs`` *and* by ``min_rel`` of the baseline *and*
  at least ``min_count`` events are involved; a key needs ``min_baseline`` messages of history;
* episodes open at the first flagged window (onset: the first elevated bucket in it), continue
  while windows stay elevated at the lower ``cont`` score, and end after ``resolve_after``
  buckets without; ``ended_at`` is the end of the last elevated bucket. An episode that lasts
  ``adapt_after`` is accepted as the new normal (reported resolved, ``adapted``).

Everything is vectorised over time and keys (per block of keys); only keys in an episode are
walked in Python. The baseline is kept between runs as hourly sums per key (a ring of ``slots``
hours), so a run reads only the last hour or so of buckets; replaying history from empty state
judges the same way (the ring is just the data summed per hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitors.detectors.countstats import z_spike, z_spike_exact

F64 = NDArray[np.float64]
BLOCK = 256
_EPS = 1e-9


@dataclass(frozen=True)
class Rule:
    """How one kind of rate is judged (see the module docstring)."""

    threshold: float = 5.0
    cont: float = 3.0
    min_count: float = 5.0
    min_abs: float = 0.01
    min_rel: float = 1.0
    dispersion: float = 2.0
    min_baseline: float = 200.0
    max_baseline: float = 1.0
    min_hours: float = 24.0
    """hours with messages in the baseline before the key is judged"""
    complement: bool = False
    """judge ``den - num`` (a usually present property going missing is a rise of its absence)"""
    exact: bool = False
    """score with the exact Poisson tail where little is expected (:func:`z_spike_exact`): for
    strong evidence on a near-zero baseline; otherwise the score saturates at ``3·sqrt(count)``"""


@dataclass(frozen=True)
class Timing:
    """Bucket width, windows (in buckets, ascending), baseline ring and episode timing."""

    width: int
    windows: tuple[int, ...] = (3, 12)
    slot: int = 3600
    slots: int = 168
    resolve_after: int = 12
    adapt_after: int = 3 * 86400

    @property
    def reach(self) -> int:
        """Seconds before a judged bucket its longest window starts."""
        return (max(self.windows) - 1) * self.width

    def slot_end(self, first_judged: int) -> int:
        """The first slot that is not part of the ring when ``first_judged`` is judged next."""
        return (first_judged - self.reach) // self.slot


@dataclass
class Track:
    """What one key carries between runs: last judged bucket, ring of hourly (num, den) sums for
    slots ``[slot_end - slots, slot_end)``, and the open episode (a JSON-ready dict) if any."""

    through: int
    slot_end: int
    ring: NDArray[np.float32]
    episode: dict[str, Any] | None = None
    last: tuple[int, int] | None = None
    """(start, end) of the last episode that ended"""


@dataclass
class Panel:
    """One run's data: bucket starts ``times`` (from a slot boundary, step ``width``), numerators
    (T, K), denominators (T, G) with ``den_of`` (K,) naming each key's column, a rule per key,
    and optionally a fixed baseline rate per key (K,; NaN: learn it from the ring)."""

    times: NDArray[np.int64]
    num: F64
    den: F64
    den_of: NDArray[np.int64]
    rules: list[Rule]
    rule_of: NDArray[np.int64]
    fixed: F64 | None = None


@dataclass(frozen=True)
class Outcome:
    """An episode to report: key index, its record, and whether it just ended or adapted."""

    key: int
    episode: dict[str, Any]
    ended_at: int | None
    adapted: bool = False


@dataclass
class Result:
    """Episodes to report and the new track of every key."""

    outcomes: list[Outcome] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)
    judged: int = 0


def fresh(timing: Timing, first_judged: int) -> Track:
    """A track with no history, whose first judged bucket is ``first_judged``."""
    return Track(first_judged - timing.width, timing.slot_end(first_judged), np.zeros((timing.slots, 2), np.float32))


def load_from(timing: Timing, tracks: list[Track]) -> int:
    """First bucket a run must read: the start of the oldest slot not yet in any ring."""
    return min(t.slot_end for t in tracks) * timing.slot


def run(panel: Panel, tracks: list[Track], timing: Timing, end: int) -> Result:
    """Judge every bucket after each key's ``through`` up to ``end`` (exclusive)."""
    result = Result(tracks=list(tracks))
    if not tracks:
        return result
    for lo in range(0, len(tracks), BLOCK):
        _block(panel, tracks, timing, end, np.arange(lo, min(lo + BLOCK, len(tracks))), result)
    return result


# -- one block of keys -------------------------------------------------------------------------


@dataclass
class _Eval:
    cont: NDArray[np.bool_]
    opened: NDArray[np.bool_]
    hot: NDArray[np.bool_]
    z: F64
    nw: F64
    dw: F64
    p0: F64


def _block(panel: Panel, tracks: list[Track], timing: Timing, end: int, keys: np.ndarray, out: Result) -> None:
    w = timing.width
    times = panel.times
    first = int(times[0]) if len(times) else end
    n = panel.num[:, keys] if len(times) else np.zeros((0, len(keys)))
    d = panel.den[:, panel.den_of[keys]] if len(times) else np.zeros((0, len(keys)))
    through = np.array([tracks[k].through for k in keys], dtype=np.int64)
    judged = (times[:, None] > through[None, :]) & (times[:, None] < end)
    slots = _slots(n, d, tracks, keys, timing, first)
    ev = None
    if judged.any():
        fixed = panel.fixed[keys] if panel.fixed is not None else None
        flip = np.array([panel.rules[i].complement for i in panel.rule_of[keys]], dtype=bool)
        if flip.any():  # judge absence: den - num (the ring keeps the raw sums)
            n = np.where(flip[None, :], np.maximum(d - n, 0.0), n)
            raw = slots
            slots = raw.copy()
            slots[:, flip, 0] = np.maximum(raw[:, flip, 1] - raw[:, flip, 0], 0.0)
        ev = _evaluate(n, d, slots, fixed, panel, keys, timing, first)
        if flip.any():
            slots = raw
        ev.cont &= judged
        ev.opened &= judged
        out.judged += int(judged.sum())
    new_end = timing.slot_end(end)
    base = new_end - first // timing.slot  # row of slot new_end - slots
    rings = slots[base : base + timing.slots].astype(np.float32)
    was_judged = np.asarray(judged.any(axis=0), dtype=bool)
    flagged = np.asarray(ev.cont.any(axis=0), dtype=bool) if ev is not None else was_judged
    for j, k in enumerate(keys):
        track = tracks[k]
        if ev is not None and was_judged[j]:
            episode, outs = track.episode, list[Outcome]()
            if flagged[j] or episode is not None:  # only keys in or near an episode are walked
                episode, outs = _walk(track.episode, ev, j, times, timing, end, n[:, j], d[:, j])
            ended = [(int(o.episode["start"]), int(o.ended_at)) for o in outs if o.ended_at is not None]
            out.tracks[k] = Track(end - w, new_end, rings[:, j], episode, ended[-1] if ended else track.last)
        else:
            outs = [Outcome(int(k), track.episode, None)] if track.episode and not track.episode.get("muted") else []
        out.outcomes += [Outcome(int(k), o.episode, o.ended_at, o.adapted) for o in outs]


def _slots(n: F64, d: F64, tracks: list[Track], keys: np.ndarray, timing: Timing, first: int) -> F64:
    """Hourly (num, den) sums (slots + nS, b, 2): the ring, then the run's data after it.

    Row ``i`` is slot ``first_slot - slots + i``."""
    per = timing.slot // timing.width
    ns = -(-len(n) // per)
    pad = ns * per - len(n)
    data = np.stack([np.pad(n, ((0, pad), (0, 0))), np.pad(d, ((0, pad), (0, 0)))], axis=-1)
    data = data.reshape(ns, per, len(keys), 2).sum(axis=1)
    h_first = first // timing.slot
    out = np.zeros((timing.slots + ns, len(keys), 2))
    for j, k in enumerate(keys):
        off = tracks[k].slot_end - h_first  # ≥ 0: the ring ends at or after the run's first slot
        off = min(max(off, 0), ns)
        out[off : off + timing.slots, j] = tracks[k].ring
        out[timing.slots + off :, j] = data[off:, j]
    return out


def _evaluate(
    n: F64, d: F64, slots: F64, fixed: F64 | None, panel: Panel, keys: np.ndarray, timing: Timing, first: int
) -> _Eval:
    rules = [panel.rules[i] for i in panel.rule_of[keys]]
    col = {name: np.array([getattr(r, name) for r in rules])[None, :] for name in Rule.__dataclass_fields__}
    p0, ok = _baseline(slots, panel.times, timing, first, col)
    if fixed is not None:
        given = ~np.isnan(fixed)[None, :]
        p0 = np.where(given, np.nan_to_num(fixed)[None, :], p0)
        ok = ok | given
    cb = np.vstack([np.zeros((1, n.shape[1])), np.cumsum(n, axis=0)])
    cd = np.vstack([np.zeros((1, d.shape[1])), np.cumsum(d, axis=0)])
    t_idx = np.arange(1, len(n) + 1)
    shape = n.shape
    cont = np.zeros(shape, dtype=bool)
    opened = np.zeros(shape, dtype=bool)
    zmax = np.zeros(shape)
    big = (np.zeros(shape), np.zeros(shape))
    v = np.broadcast_to(col["dispersion"], shape)
    for r in timing.windows:
        lo = np.maximum(t_idx - r, 0)
        nw, dw = cb[t_idx] - cb[lo], cd[t_idx] - cd[lo]
        rate = nw / np.maximum(dw, _EPS)
        # the score is only computed where the cheap conditions hold (most keys are quiet)
        near = ok & (nw >= 1) & (rate >= p0 + col["min_abs"] / 2)
        z = np.zeros(shape)
        at = np.nonzero(near)
        if len(at[0]):
            xs, ms = nw[at] / v[at], dw[at] * p0[at] / v[at]
            exact = np.broadcast_to(col["exact"], shape)[at]
            za = z_spike(xs, ms)
            if exact.any():
                za[exact] = z_spike_exact(xs[exact], ms[exact])
            z[at] = za
        moved = (rate >= p0 + col["min_abs"]) & (rate >= p0 * (1 + col["min_rel"]))
        o = near & moved & (nw >= col["min_count"]) & (z >= col["threshold"])
        c = near & (z >= col["cont"])
        opened |= o
        cont |= c | o
        zmax = np.where(c | o, np.maximum(zmax, z), zmax)
        if r == max(timing.windows):
            big = (nw, dw)
    hot = (n >= 1) & (n / np.maximum(d, _EPS) >= p0 + col["min_abs"] / 2)
    return _Eval(cont, opened, hot, zmax, big[0], big[1], p0)


def _baseline(
    slots: F64, times: np.ndarray, timing: Timing, first: int, col: dict[str, np.ndarray]
) -> tuple[F64, NDArray[np.bool_]]:
    """Learned baseline rate per bucket and key, and whether it has enough history to judge."""
    h_first = first // timing.slot
    cs = np.concatenate([np.zeros((1, *slots.shape[1:])), np.cumsum(slots, axis=0)])
    filled = np.concatenate([np.zeros((1, slots.shape[1])), np.cumsum(slots[..., 1] > 0, axis=0)])
    h0 = (times - timing.reach) // timing.slot
    r0 = np.clip(h0 - h_first + timing.slots, timing.slots, len(slots))
    flat = cs[r0] - cs[r0 - timing.slots]
    hours = filled[r0] - filled[r0 - timing.slots]
    period = max(86400 // timing.slot, 1)
    days = timing.slots // period
    p_flat = (flat[..., 0] + 0.5) / (flat[..., 1] + 1.0)
    # the same hour on the previous days, per slot (then read per bucket)
    same = np.zeros_like(slots)
    for i in range(1, days + 1):
        same[i * period :] += slots[: len(slots) - i * period]
    enough = same[..., 1] >= col["min_baseline"] / 4
    # no prior of its own: the flat rate carries the prior (half a bad message over the ring), so
    # a zero baseline is not inflated 24-fold by the smaller denominator of one hour of the day
    p_slot = np.where(enough, same[..., 0] / (same[..., 1] + 1.0), 0.0)
    p_same = np.zeros_like(p_flat)
    for slot_of in (times // timing.slot, h0):  # the hours the window spans (it is ≤ 1 slot long)
        rt = np.clip(slot_of - h_first + timing.slots, days * period, len(slots) - 1)
        p_same = np.maximum(p_same, p_slot[rt])
    ok = (flat[..., 1] >= col["min_baseline"]) & (hours >= col["min_hours"] * 3600 / timing.slot) & (p_flat <= col["max_baseline"])
    return np.maximum(p_flat, p_same), ok


# -- episodes of one key -------------------------------------------------------------------------


def _walk(
    episode: dict[str, Any] | None,
    ev: _Eval,
    j: int,
    times: np.ndarray,
    timing: Timing,
    end: int,
    n: F64,
    d: F64,
) -> tuple[dict[str, Any] | None, list[Outcome]]:
    """Advance one key's episode through this run's flags; returns its open episode and the
    outcomes to report (ended or adapted episodes, then the open one)."""
    w = timing.width
    outs: list[Outcome] = []
    hot = np.flatnonzero(ev.hot[:, j])
    ep = None if episode is None else dict(episode)
    for t in (int(i) for i in np.flatnonzero(ev.cont[:, j])):
        at = int(times[t])
        if ep is not None and at - ep["last_cont"] > timing.resolve_after * w:
            outs += _close(ep, ep["last_hot"] + w)
            ep = None
        if ep is None:
            if not ev.opened[t, j]:
                continue
            ep = _open(ev, j, t, times, hot, timing)
        _extend(ep, ev, j, t, times, hot, n, d)
        if timing.adapt_after and not ep.get("muted") and at - ep["start"] >= timing.adapt_after:
            outs.append(Outcome(-1, dict(ep), at + w, adapted=True))
            ep["muted"] = True
    if ep is not None:
        last = end - w
        if last - ep["last_cont"] >= timing.resolve_after * w:
            outs += _close(ep, ep["last_hot"] + w)
            ep = None
        else:
            t = len(times) - 1 if times[-1] <= last else int(np.searchsorted(times, last))
            ep.update(now_at=int(times[t]), now_n=float(ev.nw[t, j]), now_d=float(ev.dw[t, j]), now_p0=float(ev.p0[t, j]))
            if not ep.get("muted"):
                outs.append(Outcome(-1, dict(ep), None))
    return ep, outs


def _close(ep: dict[str, Any], ended: int) -> list[Outcome]:
    return [] if ep.get("muted") else [Outcome(-1, dict(ep), ended)]


def _open(ev: _Eval, j: int, t: int, times: np.ndarray, hot: np.ndarray, timing: Timing) -> dict[str, Any]:
    at = int(times[t])
    lo = at - timing.reach
    inside = hot[(times[hot] >= lo) & (hot <= t)] if len(hot) else hot
    onset = int(times[inside[0]]) if len(inside) else at
    return {
        "start": onset,
        "opened_at": at,
        "last_cont": at,
        "last_hot": onset,
        "acc_n": 0.0,
        "acc_d": 0.0,
        "acc_to": onset - timing.width,
        "base": float(ev.p0[t, j]),
        "peak_z": 0.0,
        "peak_at": at,
        "peak_n": 0.0,
        "peak_d": 0.0,
    }


def _extend(
    ep: dict[str, Any], ev: _Eval, j: int, t: int, times: np.ndarray, hot: np.ndarray, n: F64, d: F64
) -> None:
    at = int(times[t])
    ep["last_cont"] = at
    upto = hot[hot <= t]
    if len(upto) and int(times[upto[-1]]) > ep["last_hot"]:
        ep["last_hot"] = int(times[upto[-1]])
    if ep["last_hot"] > ep["acc_to"]:
        lo = int(np.searchsorted(times, ep["acc_to"], side="right"))
        hi = int(np.searchsorted(times, ep["last_hot"], side="right"))
        ep["acc_n"] += float(n[lo:hi].sum())
        ep["acc_d"] += float(d[lo:hi].sum())
        ep["acc_to"] = ep["last_hot"]
    if ev.z[t, j] > ep["peak_z"]:
        ep.update(peak_z=float(ev.z[t, j]), peak_at=at, peak_n=float(ev.nw[t, j]), peak_d=float(ev.dw[t, j]))
