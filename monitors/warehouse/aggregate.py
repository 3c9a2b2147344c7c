"""Turns the warehouse's aggregate rows into partials per (event, type, slice, bucket). Pure.

The main rows carry the same features the file path reduces each message to (flags and packed
type codes of the plan's properties), so the tracking plan is judged by the file path's own
:class:`~monitors.ingest.conformance.Evaluator`, once per distinct combination.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from monitors.ingest.conformance import Evaluator
from monitors.ingest.sqlgen import (
    F_CHECKED,
    F_EMAIL_ID,
    F_IDENTIFIED,
    F_IMPOSSIBLE_TS,
    F_NO_IDENTITY,
    KEYS_PER_CODE,
    NEGATIVE_BIN,
)
from monitors.sketch import ZERO_BIN, LatencySketch
from monitors.warehouse.sqlbuild import HOPS, Queries
from monitors.warehouse.sqlusers import BASE64
from storage.warehouse_store import Partial

PartKey = tuple[str, str, int, int]  # event, msg_type, slice, bucket
_FLAG_BITS = (F_IDENTIFIED, F_EMAIL_ID, F_NO_IDENTITY, F_IMPOSSIBLE_TS)


def _key(row: Sequence[Any]) -> PartKey:
    return str(row[1]), str(row[2]), int(row[0]), int(row[3])


def packed_codes(
    evaluator: Evaluator, event: str, msg_type: str, keys: Sequence[str], codes: Sequence[int]
) -> tuple[int, ...]:
    """The file path's packed type codes (3 bits per key of the message's own planned keys, in the
    layout's order) from one code per key in ``keys``; keys the event does not plan are left out."""
    layout = evaluator.layout
    index = layout.index.get(layout.layout_id(event, msg_type) or "", {})
    out = [0] * layout.n_codes
    for key, code in zip(keys, codes, strict=True):
        i = index.get(key)
        if i is not None and code:
            out[i // KEYS_PER_CODE] |= int(code) << (3 * (i % KEYS_PER_CODE))
    return tuple(out)


def planned_keys(evaluator: Evaluator) -> list[str]:
    """Every property name any event (or identify) plans, sorted (JSON layouts type all of them)."""
    return sorted({k for keys in evaluator.layout.keys_of.values() for k in keys})


def _part(parts: dict[PartKey, Partial], key: PartKey) -> Partial:
    p = parts.get(key)
    if p is None:
        p = parts[key] = Partial()
    return p


def add_aggregates(
    parts: dict[PartKey, Partial], rows: Iterable[Sequence[Any]], q: Queries, ev: Evaluator
) -> None:
    """Rows of ``aggregates``: slice, event, type, bucket, part, packed items (see :mod:`.sqlbuild`)."""
    for row in rows:
        key = _key(row)
        p = _part(parts, key)
        part, items = int(row[4]), str(row[5] or "")
        if part == 0:
            _add_main(p, key, items, q, ev)
        elif part <= 3:
            _add_hop(p, HOPS[part - 1], items)
        else:
            _add_registers(p, part, items)


def _add_main(p: Partial, key: PartKey, items: str, q: Queries, ev: Evaluator) -> None:
    """``flags/c0.c1…/keys/count`` items: the plan's verdict per combination, as in the file path."""
    for item in items.split(","):
        fl_text, codes_text, nkeys_text, n_text = item.split("/")
        fl, n = int(fl_text), int(n_text)
        flags = 1 << F_CHECKED
        for i, bit in enumerate(_FLAG_BITS):
            flags |= (1 << bit) if fl >> i & 1 else 0
        raw = [int(c) for c in codes_text.split(".")] if codes_text else []
        verdict = ev.verdict(
            key[0], key[1], flags, packed_codes(ev, key[0], key[1], q.keys, raw), int(nkeys_text)
        )
        p.count += n
        p.identified += n if fl & 1 else 0
        p.checked += n if verdict.checked else 0
        p.conforming += n if verdict.conforming else 0
        for vp in verdict.violations:
            p.violations[vp] = p.violations.get(vp, 0) + n
        for pt in verdict.props:
            p.props[pt] = p.props.get(pt, 0) + n


def _add_hop(p: Partial, hop: str, items: str) -> None:
    """``bin:count`` items; negative latencies are counted as ``negative_latency`` violations and
    sketched in the zero bin, as in the file path."""
    sk = p.latency.get(hop)
    if sk is None:
        sk = p.latency[hop] = LatencySketch.empty()
    bins = sk.bins
    nums = [int(v) for v in items.replace(":", ",").split(",")]
    for b, n in zip(nums[::2], nums[1::2], strict=True):
        if b == NEGATIVE_BIN:
            p.violations[("negative_latency", hop)] = p.violations.get(("negative_latency", hop), 0) + n
            b = ZERO_BIN
        bins[b] = bins.get(b, 0) + n


_B64 = np.full(256, 255, dtype=np.uint8)
_B64[np.frombuffer(BASE64.encode(), dtype=np.uint8)] = np.arange(64, dtype=np.uint8)


def _add_registers(p: Partial, part: int, items: str) -> None:
    """3 base-64 characters per register; parts 4 userIds, 5 anonymous-only ids, 6 linked ids.
    ``users`` = parts 4 ∪ 5 (userId, else anonymousId), as in the file path. A register may come
    more than once (one per key): the max rank wins."""
    target = p.uids if part == 4 else p.anon_only if part == 5 else p.linked
    codes = _B64[np.frombuffer(items.replace(",", "").encode("ascii"), dtype=np.uint8)].reshape(-1, 3)
    regs = codes[:, 0].astype(np.int64) * 64 + codes[:, 1]
    np.maximum.at(target.regs, regs, codes[:, 2])
    if part != 6:
        np.maximum.at(p.users.regs, regs, codes[:, 2])


def extra_names(q: Queries) -> list[tuple[int, str, str]]:
    """(result column offset, property, JSON type) of the ``extra`` query's count columns."""
    out: list[tuple[int, str, str]] = []
    pos = 4
    for name, kind in q.read.extra:
        if kind in ("int", "float"):
            out.append((pos, name[:255], "BIGINT"))
            pos += 1
            out.append((pos, name[:255], "DOUBLE"))
        else:
            out.append((pos, name[:255], {"bool": "BOOLEAN", "json": "OBJECT"}.get(kind, "VARCHAR")))
        pos += 1
    return out


def add_extra(parts: dict[PartKey, Partial], rows: Iterable[Sequence[Any]], q: Queries) -> None:
    """Rows of ``extra``: slice, event, type, bucket, then one count per (column, type)."""
    names = extra_names(q)
    for row in rows:
        p = _part(parts, _key(row))
        for pos, prop, jtype in names:
            n = int(row[pos] or 0)
            if n:
                p.props[(prop, jtype)] = p.props.get((prop, jtype), 0) + n
