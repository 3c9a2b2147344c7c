"""Collect one warehouse source: take its lease, plan the window, push the aggregation down, commit.

One run, given the stored state (watermark, live window):

1. takes the lease ``warehouse:<source>`` (another worker holding it → the run is skipped);
2. reads from the start of the live window (slices not yet settled) to now — at most ``max_window``;
3. discovers the tables and columns, maps the plan onto them, runs the aggregate queries;
4. commits every partial, the new watermark and the next live window in one transaction, fenced by
   the lease token. An error anywhere leaves the stored state as it was; the next run reads again.

The next live window starts ``lateness`` before the newest watermark value read: the rows that land
that late are read again, and their buckets rebuilt exactly.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import column, create_engine, func, inspect, select
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.expression import ColumnClause

from monitors.errors import ConfigError, DatabaseError
from monitors.ingest.conformance import Evaluator
from monitors.plan import Plan
from monitors.timeutil import from_epoch, parse_duration, to_epoch, utcnow
from monitors.warehouse import aggregate, sqlbuild
from monitors.warehouse.aggregate import PartKey
from monitors.warehouse.config import WarehouseSourceConfig
from monitors.warehouse.dialects import SESSION_DEFAULTS
from monitors.warehouse.mapping import (
    TABLE_TYPES,
    Catalog,
    TableRead,
    column_kind,
    custom_reads,
    segment_reads,
    type_name_kind,
)
from storage import Store
from storage.leases_store import Lease, new_holder_id
from storage.warehouse_store import WarehouseBatch

log = logging.getLogger(__name__)


@dataclass
class CollectReport:
    """The outcome of one collection run of one source."""

    source: str
    status: str = "ok"  # ok | skipped | error
    events: int = 0
    rows_out: int = 0
    bytes_out: int = 0
    queries: int = 0
    keys: int = 0
    window: tuple[str, str] | None = None
    watermark: str | None = None
    seconds: float = 0.0
    query_seconds: float = 0.0  # from the first query sent to the last result folded in
    parse_seconds: float = 0.0  # of which folding results in (mostly while later queries run)
    commit_seconds: float = 0.0
    error: str = ""
    holder: str = ""
    tables: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WindowPlan:
    """What a run reads: watermark values in ``[lo, hi)``; slices from ``live_from`` are replaced."""

    live_from: int
    lo: datetime
    hi: datetime
    capped: bool


def plan_window(state: dict[str, Any] | None, cfg: WarehouseSourceConfig, now: datetime) -> WindowPlan:
    """The window of the next run (pure)."""
    width = cfg.slice_seconds
    if state is None:
        start = to_epoch(now) - parse_duration(cfg.initial_lookback)
        live_from = start - start % width
    else:
        live_from = int(state["live_from"])
    hi_epoch = min(to_epoch(now) + 1, live_from + parse_duration(cfg.max_window))
    return WindowPlan(live_from, from_epoch(live_from), from_epoch(hi_epoch), hi_epoch <= to_epoch(now))


def next_live_from(plan: WindowPlan, watermark: datetime | None, cfg: WarehouseSourceConfig) -> int:
    """Where the following run starts: ``lateness`` before the newest value read (or the capped end)."""
    marks = [to_epoch(w) for w in (watermark,) if w is not None]
    if plan.capped:
        marks.append(to_epoch(plan.hi))
    if not marks:
        return plan.live_from
    edge = max(marks) - cfg.lateness_seconds
    return max(plan.live_from, edge - edge % cfg.slice_seconds)


def warehouse_engine(cfg: WarehouseSourceConfig) -> Engine:
    """The engine of a source, from the URL in its environment variable (never logged)."""
    url = os.environ.get(cfg.url_env)
    if not url:
        raise ConfigError(
            f"warehouse {cfg.name!r}: set the environment variable {cfg.url_env} to its SQLAlchemy URL"
        )
    try:
        return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), pool_pre_ping=True)
    except Exception as exc:  # a missing dialect package and the like
        raise ConfigError(
            f"warehouse {cfg.name!r}: cannot use the URL in {cfg.url_env}: {type(exc).__name__}: {exc}"
        ) from exc


def reflect(engine: Engine, schema: str | None, wanted: set[str] | None) -> Catalog:
    """Tables (all, or only ``wanted``) and their column kinds; names lower-cased."""
    if engine.dialect.name == "duckdb":  # duckdb-engine's inspector speaks pg_catalog; use the standard views
        return _reflect_information_schema(engine, schema or "main", wanted)
    insp = inspect(engine)
    names = {n.lower(): n for n in insp.get_table_names(schema=schema)}
    catalog = Catalog()
    for low, real in names.items():
        if wanted is not None and low not in wanted:
            continue
        cols = insp.get_columns(real, schema=schema)
        catalog.tables[low] = {str(c["name"]).lower(): column_kind(c["type"]) for c in cols}
        catalog.naive[low] = {
            str(c["name"]).lower() for c in cols if getattr(c["type"], "timezone", True) is False
        }
    return catalog


def _reflect_information_schema(engine: Engine, schema: str, wanted: set[str] | None) -> Catalog:
    cols = sql_table("columns", column("table_schema"), column("table_name"), column("column_name"),
                     column("data_type"), schema="information_schema")  # fmt: skip
    query = select(cols.c.table_name, cols.c.column_name, cols.c.data_type).where(
        cols.c.table_schema == schema
    )
    catalog = Catalog()
    with engine.connect() as conn:
        for table, name, data_type in conn.execute(query).all():
            low = str(table).lower()
            if wanted is not None and low not in wanted:
                continue
            kind, naive = type_name_kind(str(data_type))
            catalog.tables.setdefault(low, {})[str(name).lower()] = kind
            if naive:
                catalog.naive.setdefault(low, set()).add(str(name).lower())
    return catalog


def _tables_of(
    conn: Connection, cfg: WarehouseSourceConfig, catalog: Catalog, params: dict[str, datetime]
) -> dict[str, str]:
    """Event name → table, from the distinct (event_text, event) pairs of ``tracks`` in the window."""
    cols = catalog.tables.get("tracks", {})
    names = (cfg.columns.event_text.lower(), cfg.columns.event.lower(), cfg.watermark.lower())
    if not all(n in cols for n in names) or not any(
        t not in TABLE_TYPES and t != "tracks" for t in catalog.tables
    ):
        return {}  # no table can be an event's own: skip the scan
    text_c, slug_c, wm = (column(n) for n in names)  # type: ColumnClause[Any], ColumnClause[Any], ColumnClause[Any]
    naive = names[2] in catalog.naive.get("tracks", set())
    query = (
        select(text_c, slug_c).distinct().select_from(sql_table("tracks", schema=cfg.schema_))
        .where(wm >= sqlbuild.bindparam_at("lo", naive), wm < sqlbuild.bindparam_at("hi", naive))
    )  # fmt: skip
    bound = sqlbuild.params(params["lo"], params["hi"], naive)
    return {str(t): str(s) for t, s in conn.execute(query, bound).all() if t is not None and s is not None}


class WarehouseCollector:
    """Collects one warehouse source into the store (see the module docstring)."""

    def __init__(self, store: Store, cfg: WarehouseSourceConfig, plan: Plan, engine: Engine, *,
                 bucket_seconds: int = 300, holder: str | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:  # fmt: skip
        self.store, self.cfg, self.plan, self.engine = store, cfg, plan, engine
        self.bucket_seconds = bucket_seconds
        self.holder = holder or new_holder_id("warehouse")
        self.clock = clock
        self.evaluator = Evaluator(plan)

    @property
    def lease_name(self) -> str:
        """The name of this source's lease."""
        return f"warehouse:{self.cfg.name}"

    def collect(self) -> CollectReport:
        """One run; never runs while another worker holds the source (status ``skipped``)."""
        started = time.monotonic()
        report = CollectReport(self.cfg.name, holder=self.holder)
        ttl = parse_duration(self.cfg.lease_ttl)
        lease = self.store.acquire_lease(self.lease_name, self.holder, ttl, self.clock())
        if lease is None:
            report.status = "skipped"
            current = self.store.current_lease(self.lease_name, self.clock())
            report.error = f"held by {current.holder}" if current else "held by another worker"
            return report
        run_id = self.store.start_run(self.cfg.name, self.clock())
        try:
            self._run(lease, report)
        except Exception as exc:
            report.status, report.error = (
                "error",
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:500] if str(exc) else ''}",
            )
            raise
        finally:
            report.seconds = time.monotonic() - started
            self.store.finish_run(run_id, self.clock(), status=report.status, files=report.queries,
                                  nbytes=report.bytes_out, events=report.events, rejected=0,
                                  error=report.error or None)  # fmt: skip
            self.store.release_lease(lease)
        return report

    def _run(self, lease: Lease, report: CollectReport) -> None:
        self._check_bucket()
        now = self.clock()
        window = plan_window(self.store.warehouse_state(self.cfg.name), self.cfg, now)
        report.window = (window.lo.isoformat(), window.hi.isoformat())
        batch = self.aggregate(window, now, report)
        renewed = self.store.renew_lease(lease, parse_duration(self.cfg.lease_ttl), self.clock())
        if renewed is None:
            raise DatabaseError(
                f"warehouse {self.cfg.name!r}: lost the lease while aggregating — not committed"
            )
        started = time.monotonic()
        report.keys = self.store.apply_warehouse(batch, self.clock(), renewed)
        report.commit_seconds = time.monotonic() - started
        report.events = batch.events
        report.watermark = batch.watermark.isoformat() if batch.watermark else None

    def _check_bucket(self) -> None:
        stored = self.store.bucket_seconds()
        if stored is None:
            self.store.set_bucket_seconds(self.bucket_seconds)
        elif stored != self.bucket_seconds:
            raise ConfigError(
                f"this database uses {stored}s buckets but the config asks for {self.bucket_seconds}s"
            )

    def reads(self, conn: Connection, catalog: Catalog, params: dict[str, datetime]) -> list[TableRead]:
        """The tables to read for this source."""
        if self.cfg.layout == "custom":
            return custom_reads(self.cfg, catalog)
        return segment_reads(self.cfg, self.plan, catalog, _tables_of(conn, self.cfg, catalog, params))

    def aggregate(self, window: WindowPlan, now: datetime, report: CollectReport) -> WarehouseBatch:
        """Run every aggregate query of the window; build the batch (no store writes)."""
        catalog = reflect(self.engine, self.cfg.schema_, None)
        keys = aggregate.planned_keys(self.evaluator)
        parts: dict[PartKey, Any] = {}
        watermark: datetime | None = None
        jobs: list[tuple[sqlbuild.Queries, str, Any, dict[str, datetime]]] = []
        try:
            with self.engine.connect() as conn:
                self._session(conn)
                wm = self.cfg.watermark.lower()
                params = {"lo": window.lo, "hi": window.hi}
                for read in self.reads(conn, catalog, params):
                    naive = wm in catalog.naive.get(read.table, set())
                    w = sqlbuild.Window(to_epoch(now), self.bucket_seconds, self.cfg.slice_seconds, wm, naive)
                    q = sqlbuild.build(
                        read, keys, w, self.engine.dialect.name, property_stats=self.cfg.property_stats
                    )
                    bound = sqlbuild.params(window.lo, window.hi, naive)
                    if not read.stats_only:
                        watermark = _later(watermark, self._max_watermark(conn, read, wm, bound, naive))
                    jobs += [(q, name, stmt, bound) for name, stmt in q.statements()]
                    report.tables.append(read.table)
            self._run_queries(jobs, parts, report)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]
            raise DatabaseError(f"warehouse {self.cfg.name!r}: query failed: {reason}") from exc
        batch = WarehouseBatch(self.cfg.name, self.cfg.environment, window.live_from, watermark, parts)
        batch.next_live_from = next_live_from(window, watermark, self.cfg)
        return batch

    def _session(self, conn: Connection) -> None:
        for statement in (*SESSION_DEFAULTS.get(self.engine.dialect.name, ()), *self.cfg.session_sql):
            conn.exec_driver_sql(statement)

    def _fetch(self, stmt: Any, bound: dict[str, datetime]) -> list[Any]:
        """One aggregate query on its own connection (queries of a run go to the warehouse at once)."""
        with self.engine.connect() as conn:
            self._session(conn)
            return list(conn.execute(stmt, bound).all())

    def _run_queries(self, jobs: list[tuple[sqlbuild.Queries, str, Any, dict[str, datetime]]],
             parts: dict[PartKey, Any], report: CollectReport) -> None:  # fmt: skip
        """Run the queries ``concurrency`` at a time; fold their rows in, in order, on this thread —
        each as soon as it and the ones before it are back, while the later ones still run."""
        started = time.monotonic()
        workers = min(self.cfg.concurrency, len(jobs))
        if workers <= 1:
            for q, name, stmt, bound in jobs:
                self._fold(parts, q, name, self._fetch(stmt, bound), report)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ehm-warehouse") as pool:
                futures = [pool.submit(self._fetch, stmt, bound) for _q, _name, stmt, bound in jobs]
                for (q, name, _stmt, _bound), future in zip(jobs, futures, strict=True):
                    self._fold(parts, q, name, future.result(), report)
        report.query_seconds += time.monotonic() - started

    def _fold(self, parts: dict[PartKey, Any], q: sqlbuild.Queries, name: str, rows: list[Any],
              report: CollectReport) -> None:  # fmt: skip
        started = time.monotonic()
        report.queries += 1
        report.rows_out += len(rows)
        report.bytes_out += text_bytes(rows)
        if name == "extra":
            aggregate.add_extra(parts, rows, q)
        else:
            aggregate.add_aggregates(parts, rows, q, self.evaluator)
        report.parse_seconds += time.monotonic() - started

    def _max_watermark(
        self, conn: Connection, read: TableRead, wm: str, bound: dict[str, datetime], naive: bool
    ) -> datetime | None:
        c: ColumnClause[Any] = column(wm)
        query = select(func.max(c)).select_from(sql_table(read.table, schema=read.schema)).where(
            c >= sqlbuild.bindparam_at("lo", naive), c < sqlbuild.bindparam_at("hi", naive))  # fmt: skip
        value = conn.execute(query, bound).scalar_one_or_none()
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def text_bytes(rows: list[Any]) -> int:
    """Size of result rows as tab-separated text lines (what ``COPY … TO STDOUT`` would send)."""
    return sum(len("\t".join("" if v is None else str(v) for v in r).encode()) + 1 for r in rows)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def collect_source(store: Store, cfg: WarehouseSourceConfig, plan: Plan, *, bucket_seconds: int,
                   holder: str | None = None, engine: Engine | None = None) -> CollectReport:  # fmt: skip
    """One-shot collection of one configured source (CLI, CronJobs, workers)."""
    own = engine is None
    engine = engine or warehouse_engine(cfg)
    try:
        return WarehouseCollector(
            store, cfg, plan, engine, bucket_seconds=bucket_seconds, holder=holder
        ).collect()
    finally:
        if own:
            engine.dispose()


__all__ = [
    "CollectReport",
    "WarehouseCollector",
    "WindowPlan",
    "collect_source",
    "next_live_from",
    "plan_window",
]
