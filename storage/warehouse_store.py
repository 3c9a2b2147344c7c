"""Warehouse part of the Store: idempotent replacement of re-aggregated windows, and the watermark.

A warehouse run re-reads every *slice* of the watermark column (e.g. each hour of ``received_at``)
from ``live_from`` on, so the rows that landed late are read again with the others. Its results
must replace what the previous runs wrote for those slices — but buckets are by event time, and
the sketches (HyperLogLog, latency) cannot be subtracted. So, per (series, bucket) touched by a
live slice, ``warehouse_partials`` keeps each live slice's contribution and the *settled*
remainder (everything from slices that can no longer change). One transaction then:

1. checks the caller's lease (fencing token) and locks the source;
2. folds the partials of slices that left the live window into the settled rows;
3. deletes the partials of the slices being replaced, inserts the new ones — only those of slices
   the next run will read again (from the next ``live_from``); older new slices are folded into
   the settled rows at once;
4. rewrites the metric rows of every touched (series, bucket) as settled ⊕ new partials;
5. rebuilds the hour/day rollups of those buckets from the totals just written (reading only the
   untouched raw rows of their hours) and moves the watermark.

Keys without live partials need no settled row: their metric rows *are* the settled state. A run
that fails writes nothing, so the watermark and the metrics stay as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, text, update
from sqlalchemy.engine import Connection, Engine

from monitors.sketch import HLL, LatencySketch
from storage.bulk import insert_rows, upsert
from storage.leases_store import Lease
from storage.rollups import Fine, delete_keys, rows_for_keys
from storage.tables import event_metrics, latency_sketches, property_stats, series, violations
from storage.tables_warehouse import SETTLED, warehouse_partials, warehouse_state

Key = tuple[int, int]  # (series_id, bucket_start)
SKETCHES = {"users": "users_hll", "uids": "uid_hll", "anon_only": "anon_only_hll", "linked": "linked_hll"}


@dataclass
class Partial:
    """Additive metrics of one (series, bucket) from some rows: counts, sketches, violations, types."""

    count: int = 0
    checked: int = 0
    conforming: int = 0
    identified: int = 0
    users: HLL = field(default_factory=HLL.empty)
    uids: HLL = field(default_factory=HLL.empty)
    anon_only: HLL = field(default_factory=HLL.empty)
    linked: HLL = field(default_factory=HLL.empty)
    latency: dict[str, LatencySketch] = field(default_factory=dict)
    violations: dict[tuple[str, str], int] = field(default_factory=dict)
    props: dict[tuple[str, str], int] = field(default_factory=dict)

    def merge(self, other: Partial) -> Partial:
        """Add ``other`` into this partial (in place) and return it."""
        self.count += other.count
        self.checked += other.checked
        self.conforming += other.conforming
        self.identified += other.identified
        for name in SKETCHES:
            getattr(self, name).merge(getattr(other, name))
        for hop, sk in other.latency.items():
            mine = self.latency.get(hop)
            self.latency[hop] = LatencySketch(dict(sk.bins)) if mine is None else mine.merge(sk)
        for k, n in other.violations.items():
            self.violations[k] = self.violations.get(k, 0) + n
        for k, n in other.props.items():
            self.props[k] = self.props.get(k, 0) + n
        return self

    @property
    def empty(self) -> bool:
        """Nothing counted."""
        return self.count == 0 and not self.latency and not self.violations and not self.props

    def detail(self) -> str:
        """Sketch bins, violations and property types as compact JSON (staging rows)."""
        return json.dumps({
            "l": {h: sorted(sk.bins.items()) for h, sk in sorted(self.latency.items())},
            "v": sorted([v, p, n] for (v, p), n in self.violations.items()),
            "p": sorted([p, t, n] for (p, t), n in self.props.items()),
        }, separators=(",", ":"))  # fmt: skip

    @classmethod
    def from_staging(cls, row: Any) -> Partial:
        """Decode a ``warehouse_partials`` row."""
        d = json.loads(row.detail)
        part = cls.from_metrics(row)
        part.latency = {h: LatencySketch({int(b): int(n) for b, n in bins}) for h, bins in d["l"].items()}
        part.violations = {(v, p): int(n) for v, p, n in d["v"]}
        part.props = {(p, t): int(n) for p, t, n in d["p"]}
        return part

    @classmethod
    def from_metrics(cls, row: Any) -> Partial:
        """Counts and sketches of an ``event_metrics``-shaped row (sketch columns may be NULL)."""
        m = row._mapping
        part = cls(int(m["count"]), int(m["checked"]), int(m["conforming"]), int(m["identified"]))
        for name, col in SKETCHES.items():
            setattr(part, name, HLL.decode(m[col]))
        return part


@dataclass
class WarehouseBatch:
    """One run's aggregates of one source: partials per (event, msg_type, slice, bucket).

    Every slice at or after ``live_from`` is replaced by what ``partials`` hold for it (a slice
    without partials becomes empty); ``watermark`` is the newest watermark value read;
    ``next_live_from`` is where the next run starts (default: ``live_from``).
    """

    source: str
    environment: str
    live_from: int
    watermark: datetime | None
    partials: dict[tuple[str, str, int, int], Partial] = field(default_factory=dict)
    next_live_from: int | None = None

    @property
    def events(self) -> int:
        """Messages counted in this batch."""
        return sum(p.count for p in self.partials.values())


class WarehouseStore:
    """Watermarks and exact window replacement for warehouse sources (uses the leases and rollups mixins)."""

    engine: Engine
    fence_lease: Callable[[Connection, Lease, datetime], None]
    refresh_rollups: Callable[..., int]  # RollupStore.refresh_rollups(conn, keys, known)

    def warehouse_state(self, source: str) -> dict[str, Any] | None:
        """The source's watermark, live window start, environment and run count, if it ran."""
        with self.engine.connect() as conn:
            row = conn.execute(select(warehouse_state).where(warehouse_state.c.source == source)).first()
        return None if row is None else dict(row._mapping)

    def apply_warehouse(self, batch: WarehouseBatch, now: datetime, lease: Lease | None = None) -> int:
        """Commit one run (see the module docstring); returns the number of (series, bucket) rewritten."""
        if any(slc < batch.live_from for _e, _t, slc, _b in batch.partials):
            raise ValueError("a warehouse batch holds slices before its live window")
        with self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            if lease is not None:
                self.fence_lease(conn, lease, now)
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "ehm-warehouse:" + batch.source}
                )
            self._wh_check_window(conn, batch)
            ids = self._wh_series(conn, batch)
            new: dict[Key, dict[int, Partial]] = {}
            for (event, msg_type, slc, bucket), part in batch.partials.items():
                new.setdefault((ids[(event, msg_type)], bucket), {})[slc] = part
            self._wh_settle(conn, batch.source, batch.live_from)
            totals = self._wh_replace(conn, batch, new)
            self.refresh_rollups(conn, set(totals), _fine_rows(totals))
            self._wh_state(conn, batch, now)
        return len(totals)

    # ------------------------------------------------------------------ steps
    def _wh_check_window(self, conn: Connection, batch: WarehouseBatch) -> None:
        s = warehouse_state
        stored = conn.execute(select(s.c.live_from).where(s.c.source == batch.source)).scalar_one_or_none()
        if stored is not None and batch.live_from < stored:
            # Slices before the stored live window are settled: reading them again would count twice.
            raise ValueError(
                f"warehouse source {batch.source!r}: live window cannot move back from {stored} to {batch.live_from}"
            )

    def _wh_series(self, conn: Connection, batch: WarehouseBatch) -> dict[tuple[str, str], int]:
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        for event, msg_type, _slc, bucket in batch.partials:
            lo, hi = spans.get((event, msg_type), (bucket, bucket))
            spans[(event, msg_type)] = (min(lo, bucket), max(hi, bucket))
        where = and_(series.c.source == batch.source, series.c.environment == batch.environment)
        have = {
            str(r.event): int(r.id) for r in conn.execute(select(series.c.id, series.c.event).where(where))
        }
        missing = [
            {"source": batch.source, "environment": batch.environment, "event": ev, "msg_type": mt,
             "first_seen": lo, "last_seen": hi}
            for (ev, mt), (lo, hi) in sorted(spans.items()) if ev not in have
        ]  # fmt: skip
        if missing:
            upsert(conn, series, missing, ["source", "environment", "event"])
            have = {
                str(r.event): int(r.id)
                for r in conn.execute(select(series.c.id, series.c.event).where(where))
            }
        least, greatest = (
            (func.min, func.max) if conn.dialect.name == "sqlite" else (func.least, func.greatest)
        )
        for (ev, _mt), (lo, hi) in spans.items():
            conn.execute(update(series).where(series.c.id == have[ev]).values(
                first_seen=least(series.c.first_seen, lo), last_seen=greatest(series.c.last_seen, hi)))  # fmt: skip
        return {key: have[key[0]] for key in spans}

    def _wh_settle(self, conn: Connection, source: str, live_from: int) -> None:
        """Fold partials of slices before ``live_from`` into the settled rows; drop what is final."""
        p = warehouse_partials
        old = conn.execute(
            select(p).where(p.c.source == source, p.c.slice_start != SETTLED, p.c.slice_start < live_from)
        ).all()
        if old:
            keys = sorted({(int(r.series_id), int(r.bucket_start)) for r in old})
            settled = self._wh_rows(conn, source, keys, SETTLED)
            merged: dict[Key, Partial] = {k: v[SETTLED] for k, v in settled.items() if SETTLED in v}
            for r in old:
                key = (int(r.series_id), int(r.bucket_start))
                merged.setdefault(key, Partial()).merge(Partial.from_staging(r))
            conn.execute(
                delete(p).where(p.c.source == source, p.c.slice_start != SETTLED, p.c.slice_start < live_from)
            )
            delete_keys(
                conn, p, keys, p.c.source == source, p.c.slice_start == SETTLED
            )  # re-inserted, folded
            self._wh_insert(conn, source, {k: {SETTLED: v} for k, v in merged.items()})
        # A settled row is only needed while the key still has live partials.
        q = p.alias("q")
        live = exists().where(q.c.source == p.c.source, q.c.series_id == p.c.series_id,
                              q.c.bucket_start == p.c.bucket_start, q.c.slice_start != SETTLED)  # fmt: skip
        conn.execute(delete(p).where(p.c.source == source, p.c.slice_start == SETTLED, ~live))

    def _wh_replace(
        self, conn: Connection, batch: WarehouseBatch, new: dict[Key, dict[int, Partial]]
    ) -> dict[Key, Partial]:
        """Replace the live slices of every touched key; returns the keys' new totals (settled ⊕ live).

        Slices before the next run's live window (``next_live_from``) can no longer change: they are
        folded into the settled part now (what the next run's :meth:`_wh_settle` would do), so only
        keys that keep live slices get staging rows."""
        p = warehouse_partials
        live = conn.execute(
            select(p.c.series_id, p.c.bucket_start).where(p.c.source == batch.source, p.c.slice_start >= batch.live_from)
        ).all()  # fmt: skip
        had_live = {(int(r.series_id), int(r.bucket_start)) for r in live}
        keys = sorted(had_live | set(new))
        settled = {k: v[SETTLED] for k, v in self._wh_rows(conn, batch.source, keys, SETTLED).items()}
        # Keys with live partials but no settled row have an empty settled part; keys without live
        # partials are all settled: their metric rows are their settled part.
        base = dict(settled)
        current = self._wh_current(conn, [k for k in keys if k not in settled and k not in had_live])
        base.update(current)
        stored = had_live | set(current)  # the keys that can have metric rows (the others have none)
        conn.execute(delete(p).where(p.c.source == batch.source, p.c.slice_start >= batch.live_from))
        delete_keys(conn, p, sorted(settled), p.c.source == batch.source, p.c.slice_start == SETTLED)
        settle_at = max(batch.live_from, batch.next_live_from or batch.live_from)
        staged: dict[Key, dict[int, Partial]] = {}
        totals: dict[Key, Partial] = {}
        for k in keys:
            parts = new.get(k, {})
            totals[k] = _sum(base.get(k), parts.values())
            live_parts = {slc: v for slc, v in parts.items() if slc >= settle_at}
            if live_parts:
                rest = _sum(base.get(k), [v for slc, v in parts.items() if slc < settle_at])
                staged[k] = live_parts if rest.empty else {SETTLED: rest, **live_parts}
        encode = _Encoder()
        self._wh_insert(conn, batch.source, staged, encode)
        self._wh_write(conn, totals, encode, stored)
        return totals

    def _wh_state(self, conn: Connection, batch: WarehouseBatch, now: datetime) -> None:
        s = warehouse_state
        row = conn.execute(select(s).where(s.c.source == batch.source)).first()
        watermark = batch.watermark
        if row is not None and row.watermark is not None and (watermark is None or row.watermark > watermark):
            watermark = row.watermark
        upsert(conn, s, [{
            "source": batch.source, "environment": batch.environment, "watermark": watermark,
            "live_from": max(batch.live_from, batch.next_live_from or batch.live_from), "runs": (row.runs if row is not None else 0) + 1, "updated_at": now,
        }], ["source"])  # fmt: skip

    # ------------------------------------------------------------------ helpers
    def _wh_rows(
        self, conn: Connection, source: str, keys: list[Key], slice_start: int
    ) -> dict[Key, dict[int, Partial]]:
        p = warehouse_partials
        out: dict[Key, dict[int, Partial]] = {}
        for r in rows_for_keys(conn, p, keys, p.c.source == source, p.c.slice_start == slice_start):
            out.setdefault((int(r.series_id), int(r.bucket_start)), {})[int(r.slice_start)] = (
                Partial.from_staging(r)
            )
        return out

    def _wh_insert(self, conn: Connection, source: str, parts: dict[Key, dict[int, Partial]],
                   encode: _Encoder | None = None) -> None:  # fmt: skip
        enc = encode or _Encoder()
        rows = [
            {"source": source, "slice_start": slc, "series_id": sid, "bucket_start": b, "count": v.count,
             "checked": v.checked, "conforming": v.conforming, "identified": v.identified,
             **{col: enc(getattr(v, name)) for name, col in SKETCHES.items()}, "detail": v.detail()}
            for (sid, b), by_slice in parts.items() for slc, v in by_slice.items()
        ]  # fmt: skip
        insert_rows(conn, warehouse_partials, rows)

    def _wh_current(self, conn: Connection, keys: list[Key]) -> dict[Key, Partial]:
        """What the metric tables hold for ``keys`` (the settled state of keys without partials)."""
        out: dict[Key, Partial] = {}

        def at(r: Any) -> Partial:
            key = (int(r.series_id), int(r.bucket_start))
            if key not in out:
                out[key] = Partial()
            return out[key]

        for r in rows_for_keys(conn, event_metrics, keys):
            out[(int(r.series_id), int(r.bucket_start))] = Partial.from_metrics(r)
        for r in rows_for_keys(conn, latency_sketches, keys):
            at(r).latency[r.hop] = LatencySketch.decode(r.bins)
        for r in rows_for_keys(conn, violations, keys):
            at(r).violations[(r.vtype, r.property)] = int(r._mapping["count"])
        for r in rows_for_keys(conn, property_stats, keys):
            at(r).props[(r.property, r.json_type)] = int(r._mapping["count"])
        return out

    def _wh_write(self, conn: Connection, totals: dict[Key, Partial], encode: _Encoder, stored: set[Key]) -> None:
        """Replace the metric rows of every key in ``totals`` (an empty total removes the key);
        ``stored``: the keys that may have rows already."""
        keys = sorted(stored)
        for table in (event_metrics, latency_sketches, violations, property_stats):
            delete_keys(conn, table, keys)
        for table, rows in _metric_rows(totals.items(), encode).items():
            insert_rows(conn, table, rows)


def _metric_rows(items: Iterable[tuple[Key, Partial]], enc: _Encoder) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {
        event_metrics: [],
        latency_sketches: [],
        violations: [],
        property_stats: [],
    }
    for (sid, b), t in items:
        if t.empty:
            continue
        out[event_metrics].append({"series_id": sid, "bucket_start": b, "count": t.count, "checked": t.checked,
                                   "conforming": t.conforming, "identified": t.identified, "sample_rate": 1.0,
                                   **{col: enc(getattr(t, name)) for name, col in SKETCHES.items()}})  # fmt: skip
        out[latency_sketches].extend(
            {"series_id": sid, "bucket_start": b, "hop": h, "count": sk.count, "bins": enc(sk)}
            for h, sk in sorted(t.latency.items())
        )
        out[violations].extend(
            {"series_id": sid, "bucket_start": b, "vtype": v, "property": p, "count": n}
            for (v, p), n in sorted(t.violations.items())
        )
        out[property_stats].extend(
            {"series_id": sid, "bucket_start": b, "property": p, "json_type": jt, "count": n}
            for (p, jt), n in sorted(t.props.items())
        )
    return out


class _Encoder:
    """Encodes each sketch object once per commit: a total that is a single slice's partial is the
    same object as that partial, written both as its staging row and as the metric row."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[HLL | LatencySketch, bytes]] = {}

    def __call__(self, sketch: HLL | LatencySketch) -> bytes:
        hit = self._done.get(id(sketch))
        if hit is None:
            hit = self._done[id(sketch)] = (sketch, sketch.encode())  # the reference keeps the id unique
        return hit[1]


def _sum(base: Partial | None, parts: Iterable[Partial]) -> Partial:
    """``base`` ⊕ ``parts`` — a lone part is returned as is (not copied: nothing changes it later)."""
    items = [*([base] if base is not None else []), *parts]
    if len(items) == 1:
        return items[0]
    total = Partial()
    for item in items:
        total.merge(item)
    return total


def _fine_rows(totals: dict[Key, Partial]) -> dict[Key, Fine]:
    """The metric rows just written for ``totals``, as the rollups read them (nothing for an empty total)."""
    out: dict[Key, Fine] = {}
    for key, t in totals.items():
        if t.empty:
            out[key] = Fine()
            continue
        metrics: dict[str, Any] = {"count": t.count, "checked": t.checked, "conforming": t.conforming,
                                   "identified": t.identified, "sample_rate": 1.0,
                                   **{col: getattr(t, name) for name, col in SKETCHES.items()}}  # fmt: skip
        out[key] = Fine(metrics, t.latency, t.violations)
    return out
