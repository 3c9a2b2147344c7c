"""Hour and day rollups of the metric tables, kept up to date incrementally, and retention.

``event_metrics_hour`` / ``_day`` (counts added, user sketches merged), ``latency_sketches_*``
(bins merged) and ``violations_*`` (counts added) hold exactly what adding up the raw rows of the
hour or day gives. Additive writers (file ingest) call :meth:`RollupStore.add_to_rollups` with the
deltas they merged into the raw rows, inside the same transaction (cost of the delta, not of the
hour). Writers that replace buckets (warehouse collection) call :meth:`RollupStore.refresh_rollups`
with the (series, bucket) keys they wrote, and what they wrote (:class:`Fine` rows): the hour rows
of those keys are rebuilt from those rows and the other raw rows of the hours (read), then the day
rows from the hours — so any rerun or replacement leaves them exact.
:meth:`RollupStore.rollup_range` rebuilds a time range (backfills, writers that do not call the
hook). :meth:`RollupStore.prune_metrics` applies the retention of each resolution.

Reads pick the coarsest table that answers a query: :func:`resolution_for` (a ``step`` of 3600 or
a multiple reads hours; a multiple of 86400 reads days), used by ``read_counts(step=…)`` and
``read_metric_rows(step=…)``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, select, text
from sqlalchemy.engine import Connection, Engine

from monitors.sketch import HLL, LatencySketch, encode_all, total_by
from storage.bulk import insert_rows, upsert
from storage.tables import (
    event_metrics,
    latency_sketches,
    property_stats,
    series,
    violation_samples,
    violations,
)
from storage.tables_warehouse import RESOLUTIONS, ROLLUP_TABLES

Key = tuple[int, int]
RAW = (event_metrics, latency_sketches, violations)
SKETCH_COLUMNS = ("users_hll", "uid_hll", "anon_only_hll", "linked_hll")
_CHUNK = 400


def resolution_for(step: int | None, raw_width: int) -> str:
    """The coarsest stored resolution whose buckets tile ``step`` seconds: ``raw``, ``hour`` or ``day``."""
    if not step:
        return "raw"
    for name in ("day", "hour"):
        width = RESOLUTIONS[name]
        if step % width == 0 and width % raw_width == 0:
            return name
    return "raw"


def tables_at(resolution: str) -> tuple[Table, Table, Table]:
    """(metrics, latency, violations) tables of a resolution."""
    return RAW if resolution == "raw" else ROLLUP_TABLES[resolution]


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def rows_for_keys(conn: Connection, table: Table, keys: Iterable[Key], *where: Any) -> Iterator[Any]:
    """Rows of ``table`` whose (series_id, bucket_start) is in ``keys``: per group of series, one
    range scan of the primary key (no row-value IN lists, which SQLite cannot use an index for)."""
    by_series: dict[int, set[int]] = {}
    for sid, b in keys:
        by_series.setdefault(sid, set()).add(b)
    for sids in _chunks(sorted(by_series)):
        lo = min(min(by_series[s]) for s in sids)
        hi = max(max(by_series[s]) for s in sids)
        query = select(table).where(
            table.c.series_id.in_(sids), table.c.bucket_start >= lo, table.c.bucket_start <= hi, *where
        )
        for r in conn.execute(query):
            if r.bucket_start in by_series[r.series_id]:
                yield r


def delete_keys(conn: Connection, table: Table, keys: Iterable[Key], *where: Any) -> None:
    """Delete the rows of ``table`` at ``keys`` (one primary-key lookup per key, executemany)."""
    params = [{"k_sid": s, "k_b": b} for s, b in keys]
    if params:
        stmt = delete(table).where(
            table.c.series_id == bindparam("k_sid"), table.c.bucket_start == bindparam("k_b"), *where
        )
        conn.execute(stmt, params)


@dataclass
class Fine:
    """What the metric tables hold for one (series, bucket), in memory: the ``event_metrics`` row
    (count, checked, conforming, identified, sample_rate and the :data:`SKETCH_COLUMNS` as
    :class:`HLL`; None when there is none), latency sketches by hop, violation counts. Writers that
    replace buckets pass what they just wrote, so rollups need not read it back."""

    metrics: dict[str, Any] | None = None
    latency: dict[str, LatencySketch] = field(default_factory=dict)
    violations: dict[tuple[str, str], int] = field(default_factory=dict)


def _source_rows(
    conn: Connection, table: Table, width: int, keys: list[Key], known: Collection[Key]
) -> list[Any]:
    """Rows of ``table`` falling in the coarse buckets ``keys`` (series, coarse start) of ``width``,
    except the fine keys in ``known`` (only their keys are read, then the other rows)."""
    sids = sorted({k[0] for k in keys})
    lo = min(k[1] for k in keys)
    hi = max(k[1] for k in keys) + width
    wanted = set(keys)
    where = (table.c.series_id.in_(sids), table.c.bucket_start >= lo, table.c.bucket_start < hi)
    if not known:
        rows = conn.execute(select(table).where(*where)).all()
        return [r for r in rows if (r.series_id, r.bucket_start - r.bucket_start % width) in wanted]
    found = conn.execute(select(table.c.series_id, table.c.bucket_start).distinct().where(*where)).all()
    other = {(int(s), int(b)) for s, b in found if (s, b - b % width) in wanted and (s, b) not in known}
    return list(rows_for_keys(conn, table, other)) if other else []


def _empty_metrics(sample_rate: float) -> dict[str, Any]:
    return {"count": 0, "checked": 0, "conforming": 0, "identified": 0, "sample_rate": sample_rate,
            **{c: HLL.empty() for c in SKETCH_COLUMNS}}  # fmt: skip


def _add_fine(out: Fine, metrics: Mapping[str, Any] | None, sketches: Mapping[str, HLL]) -> None:
    if metrics is None:
        return
    m = out.metrics
    if m is None:
        m = out.metrics = _empty_metrics(float(metrics["sample_rate"]))
    for f in ("count", "checked", "conforming", "identified"):
        m[f] += int(metrics[f])
    m["sample_rate"] = min(m["sample_rate"], float(metrics["sample_rate"]))
    for c in SKETCH_COLUMNS:
        m[c].merge(sketches[c])


def _rebuild(conn: Connection, sources: tuple[Table, Table, Table], targets: tuple[Table, Table, Table],
             width: int, keys: list[Key], known: Mapping[Key, Fine]) -> dict[Key, Fine]:  # fmt: skip
    """Recompute the coarse rows ``keys`` of ``targets`` from the finer ``sources``; the fine rows in
    ``known`` are taken from memory, the others read. Returns the coarse rows written."""
    src_m, src_l, src_v = sources
    wanted = set(keys)
    out: dict[Key, Fine] = {}
    lat: dict[tuple[Key, str], list[LatencySketch]] = {}

    def at(sid: int, b: int) -> Fine:
        k = (sid, b - b % width)
        f = out.get(k)
        if f is None:
            f = out[k] = Fine()
        return f

    def add(
        f: Fine, coarse: Key, latency: Mapping[str, LatencySketch], viols: Mapping[tuple[str, str], int]
    ) -> None:
        for hop, sk in latency.items():
            lat.setdefault((coarse, hop), []).append(sk)
        for vk, n in viols.items():
            f.violations[vk] = f.violations.get(vk, 0) + n

    for (sid, b), fine in known.items():
        coarse = (sid, b - b % width)
        if coarse in wanted:
            f = at(sid, b)
            _add_fine(f, fine.metrics, fine.metrics or {})
            add(f, coarse, fine.latency, fine.violations)
    for r in _source_rows(conn, src_m, width, keys, known):
        m = r._mapping
        _add_fine(at(r.series_id, r.bucket_start), m, {c: HLL.decode(m[c]) for c in SKETCH_COLUMNS})
    for r in _source_rows(conn, src_l, width, keys, known):
        coarse = (r.series_id, r.bucket_start - r.bucket_start % width)
        add(at(*coarse), coarse, {r.hop: LatencySketch.decode(r.bins)}, {})
    for r in _source_rows(conn, src_v, width, keys, known):
        coarse = (r.series_id, r.bucket_start - r.bucket_start % width)
        add(at(*coarse), coarse, {}, {(r.vtype, r.property): int(r._mapping["count"])})
    for (coarse, hop), sks in lat.items():
        out[coarse].latency[hop] = LatencySketch.total(sks)
    _write_coarse(conn, targets, keys, out)
    return out


def _write_coarse(
    conn: Connection, targets: tuple[Table, Table, Table], keys: list[Key], rows: dict[Key, Fine]
) -> None:
    dst_m, dst_l, dst_v = targets
    for table in targets:
        delete_keys(conn, table, keys)
    rows_m = [{"series_id": s, "bucket_start": b, **{f: m[f] for f in ("count", "checked", "conforming", "identified", "sample_rate")},
               **{c: m[c].encode() for c in SKETCH_COLUMNS}}
              for (s, b), f in rows.items() if (m := f.metrics) is not None]  # fmt: skip
    rows_l = [{"series_id": s, "bucket_start": b, "hop": h, "count": sk.count, "bins": sk.encode()}
              for (s, b), f in rows.items() for h, sk in f.latency.items()]  # fmt: skip
    rows_v = [{"series_id": s, "bucket_start": b, "vtype": v, "property": p, "count": n}
              for (s, b), f in rows.items() for (v, p), n in f.violations.items()]  # fmt: skip
    for table, batch in ((dst_m, rows_m), (dst_l, rows_l), (dst_v, rows_v)):
        insert_rows(conn, table, batch)


def _within(known: Mapping[Key, Fine], coarse: list[Key], width: int) -> dict[Key, Fine]:
    wanted = set(coarse)
    return {k: f for k, f in known.items() if (k[0], k[1] - k[1] % width) in wanted}


def _coarse_metrics(deltas: Mapping[Key, Mapping[str, Any]], width: int) -> dict[Key, dict[str, Any]]:
    """Metric deltas added up per bucket of ``width`` (new sketch objects: the inputs are not changed)."""
    coarse: dict[Key, dict[str, Any]] = {}
    for (sid, b), d in deltas.items():
        k = (sid, b - b % width)
        m = coarse.get(k)
        if m is None:
            coarse[k] = {**d, **{c: HLL(d[c].regs) for c in SKETCH_COLUMNS}}
            continue
        for f in ("count", "checked", "conforming", "identified"):
            m[f] += d[f]
        m["sample_rate"] = min(m["sample_rate"], d["sample_rate"])
        for c in SKETCH_COLUMNS:
            m[c].merge(d[c])
    return coarse


def _add_metrics(conn: Connection, table: Table, coarse: dict[Key, dict[str, Any]]) -> None:
    """Add coarse deltas (changed in place) to the rows of ``table``."""
    for r in rows_for_keys(conn, table, coarse):
        m = coarse[(r.series_id, r.bucket_start)]
        for f in ("count", "checked", "conforming", "identified"):
            m[f] += int(r._mapping[f])
        m["sample_rate"] = min(m["sample_rate"], float(r.sample_rate))
        for c in SKETCH_COLUMNS:
            m[c].merge(HLL.decode(r._mapping[c]))
    delete_keys(conn, table, coarse)
    rows = [{"series_id": s, "bucket_start": b, **{f: m[f] for f in ("count", "checked", "conforming", "identified",
             "sample_rate")}, **{c: m[c].encode() for c in SKETCH_COLUMNS}} for (s, b), m in coarse.items()]  # fmt: skip
    insert_rows(conn, table, rows)


def _coarse_latency(
    deltas: Mapping[tuple[int, int, str], LatencySketch], width: int
) -> dict[tuple[int, int, str], LatencySketch]:
    """Latency deltas merged per bucket of ``width``."""
    return total_by([(sid, b - b % width, hop) for sid, b, hop in deltas], list(deltas.values()))


def _add_latency(conn: Connection, table: Table, coarse: dict[tuple[int, int, str], LatencySketch]) -> None:
    """Add coarse deltas to the rows of ``table``."""
    if not coarse:
        return
    groups, sketches = list(coarse), list(coarse.values())
    for r in rows_for_keys(conn, table, {(s, b) for s, b, _ in coarse}):
        k3 = (r.series_id, r.bucket_start, r.hop)
        if k3 in coarse:
            groups.append(k3)
            sketches.append(LatencySketch.decode(r.bins))
    merged = total_by(groups, sketches) if len(groups) > len(coarse) else coarse
    encoded, counts = encode_all(list(merged.values()))
    stmt = delete(table).where(
        table.c.series_id == bindparam("k_sid"),
        table.c.bucket_start == bindparam("k_b"),
        table.c.hop == bindparam("k_h"),
    )
    conn.execute(stmt, [{"k_sid": s, "k_b": b, "k_h": h} for s, b, h in merged])
    insert_rows(conn, table, [
        {"series_id": s, "bucket_start": b, "hop": h, "count": n, "bins": data}
        for (s, b, h), n, data in zip(merged, counts, encoded, strict=True)
    ])  # fmt: skip


def _coarse_violations(
    deltas: Mapping[tuple[int, int, str, str], int], width: int
) -> dict[tuple[int, int, str, str], int]:
    coarse: dict[tuple[int, int, str, str], int] = {}
    for (sid, b, v, p), n in deltas.items():
        k = (sid, b - b % width, v, p)
        coarse[k] = coarse.get(k, 0) + n
    return coarse


def _add_violations(conn: Connection, table: Table, coarse: dict[tuple[int, int, str, str], int]) -> None:
    upsert(conn, table, [
        {"series_id": s, "bucket_start": b, "vtype": v, "property": p, "count": n} for (s, b, v, p), n in coarse.items()
    ], ["series_id", "bucket_start", "vtype", "property"], additive=["count"])  # fmt: skip


_REBUILD_LOCK = "ehm-rollups"  # PostgreSQL advisory lock: writers share it, a range rebuild holds it alone


def _lock_rollups(conn: Connection, *, alone: bool = False) -> None:
    """On PostgreSQL, until the transaction ends: the rollups rebuilt over a range (the worker's
    ``rollups`` job) and the writers that add to or rebuild some of their rows (ingests of every
    source) take turns. At once, each wrote an hour row the other had deleted or not yet seen, and
    one of them failed on its key. Writers do not wait for one another (they write other series).
    SQLite writers hold the database lock already."""
    if conn.dialect.name == "postgresql":
        lock = "pg_advisory_xact_lock" if alone else "pg_advisory_xact_lock_shared"
        conn.execute(text(f"SELECT {lock}(hashtext(:k))"), {"k": _REBUILD_LOCK})


class RollupStore:
    """Maintains and prunes the hour/day rollups."""

    engine: Engine

    def add_to_rollups(
        self,
        conn: Connection,
        metrics: dict[Key, dict[str, Any]],
        latency: dict[tuple[int, int, str], LatencySketch],
        violation_counts: dict[tuple[int, int, str, str], int],
    ) -> None:
        """Inside a write transaction: add the raw deltas just merged (additive writers such as file
        ingest) to the hour and day rows. ``metrics`` values hold count, checked, conforming,
        identified, sample_rate and the four HLL sketches. Equivalent to :meth:`refresh_rollups` for
        writers that only add, at the cost of the delta instead of the whole hour."""
        _lock_rollups(conn)
        hour, day = RESOLUTIONS["hour"], RESOLUTIONS["day"]
        # Each resolution's deltas from the one below it (days from hours), all before any stored
        # row is added in (adding changes the hour deltas in place).
        hour_m, hour_l, hour_v = _coarse_metrics(metrics, hour), _coarse_latency(latency, hour), _coarse_violations(violation_counts, hour)
        day_m, day_l, day_v = _coarse_metrics(hour_m, day), _coarse_latency(hour_l, day), _coarse_violations(hour_v, day)
        for name, (cm, cl, cv) in (("hour", (hour_m, hour_l, hour_v)), ("day", (day_m, day_l, day_v))):
            dst_m, dst_l, dst_v = ROLLUP_TABLES[name]
            _add_metrics(conn, dst_m, cm)
            _add_latency(conn, dst_l, cl)
            _add_violations(conn, dst_v, cv)

    def refresh_rollups(
        self, conn: Connection, keys: set[Key], known: Mapping[Key, Fine] | None = None
    ) -> int:
        """Inside a write transaction: rebuild the hour and day rows covering the raw ``keys``
        (series_id, bucket_start). ``known``: raw rows the caller just wrote (taken from memory
        instead of read back; the other raw rows of those hours are read). Returns the number of
        hour rows rebuilt."""
        _lock_rollups(conn)
        hours = sorted({(s, b - b % 3600) for s, b in keys})
        built: dict[Key, Fine] = {}
        for chunk in _chunks(hours):
            built.update(
                _rebuild(conn, RAW, ROLLUP_TABLES["hour"], 3600, chunk, _within(known or {}, chunk, 3600))
            )
        days = sorted({(s, b - b % 86400) for s, b in hours})
        for chunk in _chunks(days):
            _rebuild(
                conn, ROLLUP_TABLES["hour"], ROLLUP_TABLES["day"], 86400, chunk, _within(built, chunk, 86400)
            )
        return len(hours)

    def rollup_range(self, since: int, until: int) -> int:
        """Rebuild the rollups of every series for raw buckets in ``[since, until)``; returns hour rows."""
        with self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            _lock_rollups(conn, alone=True)
            rows = conn.execute(
                select(event_metrics.c.series_id, event_metrics.c.bucket_start).where(
                    event_metrics.c.bucket_start >= since, event_metrics.c.bucket_start < until
                )
            ).all()
            keys = {(int(r.series_id), int(r.bucket_start)) for r in rows}
            for table in (*ROLLUP_TABLES["hour"],):  # rows whose raw data disappeared
                conn.execute(
                    delete(table).where(
                        table.c.bucket_start >= since - since % 3600, table.c.bucket_start < until
                    )
                )
            return self.refresh_rollups(conn, keys)

    def prune_metrics(self, now_epoch: int, retention: dict[str, int]) -> dict[str, int]:
        """Delete buckets older than each resolution's retention (``raw``, ``hour``, ``day``, seconds).

        Raw pruning also drops property stats and stale violation samples. Returns rows deleted per table.
        """
        deleted: dict[str, int] = {}
        with self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            for resolution, keep in sorted(retention.items()):
                cutoff = now_epoch - keep
                extra = (property_stats, violation_samples) if resolution == "raw" else ()
                for table in (*tables_at(resolution), *extra):
                    result = conn.execute(delete(table).where(table.c.bucket_start < cutoff))
                    deleted[table.name] = int(result.rowcount or 0)
        return deleted

    # ------------------------------------------------------------------ reads
    def read_rollup_counts(
        self, since: int | None, until: int | None, resolution: str, conds: list[Any]
    ) -> list[Any]:
        """(source, environment, event, bucket_start, count) rows of one resolution (see ``read_counts``)."""
        metrics = tables_at(resolution)[0]
        where = list(conds)
        if since is not None:
            where.append(metrics.c.bucket_start >= since - since % RESOLUTIONS.get(resolution, 1))
        if until is not None:
            where.append(metrics.c.bucket_start < until)
        query = (
            select(
                series.c.source,
                series.c.environment,
                series.c.event,
                metrics.c.bucket_start,
                metrics.c["count"],
            )
            .select_from(metrics.join(series, series.c.id == metrics.c.series_id))
            .where(and_(True, *where))
            .order_by(series.c.source, series.c.environment, series.c.event, metrics.c.bucket_start)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def rollup_row_counts(self) -> dict[str, int]:
        """Rows per metric table and resolution (status, benchmarks)."""
        out = {}
        with self.engine.connect() as conn:
            for resolution in ("raw", "hour", "day"):
                for table in tables_at(resolution):
                    out[table.name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        return out
