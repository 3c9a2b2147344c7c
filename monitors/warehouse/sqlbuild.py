"""The push-down queries: per table, a few aggregates computed by the warehouse with the same
formulas as the file path, so that their results merge with (and equal) the file path's.

Per row (:meth:`_Builder.rows`): the slice of the watermark column, event name, message type,
bucket (``floor(event_time / width) * width``; event times before 2000 or over a day ahead fall
back to received_at, then sent_at), the check flags (identified, email as user id, missing
identity, impossible timestamp), the type code of each planned property (the file path's codes:
1 string, 2 integer, 3 float, 4 boolean, 5 array, 6 object, 7 null), the number of property keys,
the three latency sketch bins and the user key. The aggregates group those rows:

* ``aggregates``: in one scan (GROUPING SETS), the count per (flags, codes, keys), per latency bin
  of each hop and the max HyperLogLog rank per register of the user sketches, packed as text per
  (slice, event, type, bucket, part);
* ``extra``: non-null counts of the property columns outside the plan, per (…, column, type).

Only these aggregates leave the warehouse. Dialect differences live in :mod:`.dialects`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Double,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy import table as sql_table
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from monitors.ingest.sqlgen import NEGATIVE_BIN
from monitors.sketch import LN_GAMMA, MIN_VALUE, ZERO_BIN
from monitors.warehouse.dialects import (
    Epoch,
    JsonKeyCount,
    JsonText,
    JsonValueText,
    LooksLikeEmail,
    StringAgg,
    is_literal,
    sql_float,
    sql_int,
    sql_text,
    substr,
    supports_json_key_count,
)
from monitors.warehouse.mapping import PropColumn, TableRead
from monitors.warehouse.sqlusers import users_query

MIN_EPOCH = 946684800  # 2000-01-01
MAX_BIN = 30000
HOPS = ("send", "deliver", "e2e")
FLAGS = ("f_identified", "f_email", "f_no_identity", "f_impossible_ts")
GROUP = ("slice_start", "event", "msg_type", "bucket")
MSG_TYPES = ("track", "identify", "page", "screen", "group", "alias")


@dataclass(frozen=True)
class Window:
    """Rows whose watermark column is in ``[lo, hi)`` (bound at execution as ``lo`` / ``hi``)."""

    now_epoch: float
    bucket_seconds: int
    slice_seconds: int
    watermark: str = "received_at"
    naive: bool = False


@dataclass(frozen=True)
class Queries:
    """The aggregate queries of one table read; ``keys`` are the planned properties of ``c0…``."""

    read: TableRead
    aggregates: Select[Any]
    users: Select[Any]
    extra: Select[Any] | None
    keys: tuple[str, ...]

    def statements(self) -> list[tuple[str, Select[Any]]]:
        """The queries to run, by name (``aggregates`` and ``users`` unless the read only counts
        property types; ``extra`` when property stats are on)."""
        out = [] if self.read.stats_only else [("aggregates", self.aggregates), ("users", self.users)]
        return out + ([("extra", self.extra)] if self.extra is not None else [])


def params(lo: datetime, hi: datetime, naive: bool) -> dict[str, datetime]:
    """The window's bind parameters (naive UTC for ``timestamp without time zone`` columns)."""
    if naive:
        return {"lo": lo.replace(tzinfo=None), "hi": hi.replace(tzinfo=None)}
    return {"lo": lo, "hi": hi}


def bindparam_at(name: str, naive: bool) -> Any:
    """The ``lo`` / ``hi`` bind parameter, typed for a timestamp column with or without time zone."""
    return bindparam(name, type_=DateTime(timezone=not naive))


def _c(name: str) -> ColumnElement[Any]:
    return column(name)


def _flag(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return case((cond, sql_int(1)), else_=sql_int(0))


def _nonblank(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """``expr <> ''``: NULL for NULL, which WHERE and CASE WHEN treat as false (one test per row,
    not two); never negate it."""
    return expr != sql_text("")


def _floor_to(expr: ColumnElement[Any], width: int) -> ColumnElement[int]:
    return cast(func.floor(expr / sql_float(width), type_=Double) * sql_float(width), BigInteger)


def latency_bin(x: ColumnElement[float]) -> ColumnElement[int]:
    """The sketch bin of a latency in seconds (see :mod:`monitors.sketch`); negative → its own bin.
    The usual case (at least 1 µs) is tested first: one comparison per row instead of two. NULL (a
    timestamp missing, or an impossible event time) has no bin: it once fell through to the
    logarithm, and ``least(30000, NULL)`` is 30000 in DuckDB and PostgreSQL, the largest bin. The
    difference of two epoch doubles is rounded to the microsecond first, as the file path does."""
    x = cast(func.round(x * sql_float(1e6), type_=Double) / sql_float(1e6), Double)
    log_bin = cast(
        func.least(
            sql_float(MAX_BIN), func.ceil(func.ln(x, type_=Double) / sql_float(LN_GAMMA), type_=Double)
        ),
        BigInteger,
    )
    return case(
        (x >= sql_float(MIN_VALUE), log_bin),
        (x >= sql_int(0), sql_int(ZERO_BIN)),
        (x < sql_int(0), sql_int(NEGATIVE_BIN)),
        else_=None,
    )


def json_code(text: ColumnElement[str]) -> ColumnElement[int]:
    """The file path's type code from a JSON value's text (first character; '.', 'e' mark floats,
    except a fraction of zeros: ``1.0`` is an integer, as in JSON Schema and the file path)."""
    first = substr(text, 1, 1)
    exponent = or_(*(text.like(sql_text(p)) for p in ("%e%", "%E%")))
    zeros_only = func.rtrim(text, sql_text("0"), type_=String).like(sql_text("%."))
    number = case(
        (exponent, sql_int(3)), (and_(text.like(sql_text("%.%")), ~zeros_only), sql_int(3)), else_=sql_int(2)
    )
    return case(
        (text.is_(None), sql_int(0)),
        (first == sql_text('"'), sql_int(1)),
        (first == sql_text("{"), sql_int(6)),
        (first == sql_text("["), sql_int(5)),
        (first.in_([sql_text("t"), sql_text("f")]), sql_int(4)),
        (first == sql_text("n"), sql_int(7)),
        else_=number,
    )


def typed_code(prop: PropColumn) -> ColumnElement[int]:
    """Type code of a property stored in its own column (warehouses type columns from the data)."""
    if prop.kind == "object":
        return _flag(or_(*(_c(ch).is_not(None) for ch in prop.children))) * sql_int(6)
    if prop.column is None or prop.kind is None:
        return sql_int(0)
    col = _c(prop.column)
    if prop.kind == "json":
        return json_code(JsonValueText(col))
    if prop.kind == "text" and prop.types & {"array", "object"}:
        # Arrays (and unflattened objects) land as their text in a string column.
        first = substr(col, 1, 1)
        return case((col.is_(None), sql_int(0)), (first == sql_text("["), sql_int(5)),
                    (first == sql_text("{"), sql_int(6)), else_=sql_int(1))  # fmt: skip
    code = {"text": 1, "time": 1, "int": 2, "bool": 4}.get(prop.kind)
    if code is not None:
        return case((col.is_(None), sql_int(0)), else_=sql_int(code))
    return case((col.is_(None), sql_int(0)), (col == func.floor(col), sql_int(2)), else_=sql_int(3))


def _present(read: TableRead) -> ColumnElement[int]:
    """Number of non-null property keys of a typed table (a flattened object counts once)."""
    total: ColumnElement[int] = sql_int(0)
    for prop in read.props:
        if prop.kind == "object":
            total = total + _flag(or_(*(_c(ch).is_not(None) for ch in prop.children)))
        elif prop.column is not None:
            total = total + _flag(_c(prop.column).is_not(None))
    for name, _kind in read.extra:
        total = total + _flag(_c(name).is_not(None))
    return total


def _text(expr: ColumnElement[Any]) -> ColumnElement[str]:
    return cast(expr, String)


class _Builder:
    """Builds the queries of one table read."""

    def __init__(self, read: TableRead, keys: list[str], window: Window, dialect: str) -> None:
        self.read, self.keys, self.w, self.dialect = read, keys, window, dialect

    def col(self, role: str) -> ColumnElement[Any] | None:
        name = self.read.cols.get(role)
        return None if name is None else _c(name)

    def msg_type(self) -> ColumnElement[str]:
        if self.read.msg_type is not None:
            return sql_text(self.read.msg_type)
        return func.lower(_c(self.read.type_column or "type"))

    def event(self, *, truncate: bool = True) -> ColumnElement[str]:
        """The event name: the event column for tracks, ``$type`` otherwise; cut to 255 characters
        unless ``truncate`` is off (the main queries group the full name and cut the few result rows)."""
        if self.read.event is not None:
            return sql_text(self.read.event)
        col = _c(self.read.cols["event_text"])
        name = substr(col, 1, 255) if truncate else col
        if self.read.msg_type is not None:
            return name
        mt = self.msg_type()
        return case((mt == sql_text("track"), name), else_=sql_text("$") + mt)

    def epoch(self, *roles: str) -> ColumnElement[float]:
        present = [c for c in (self.col(r) for r in roles) if c is not None]
        if not present:
            return cast(None, Double)
        return Epoch(present[0] if len(present) == 1 else func.coalesce(*present))

    def where(self) -> list[ColumnElement[bool]]:
        wm = _c(self.w.watermark)
        conds = [wm >= bindparam_at("lo", self.w.naive), wm < bindparam_at("hi", self.w.naive)]
        name = self.read.cols.get("event_text")
        if self.read.only_events and name:
            conds.append(_c(name).in_(list(self.read.only_events)))
        if self.read.skip_events and name:
            conds.append(_c(name).not_in(list(self.read.skip_events)))
        if self.read.msg_type is None:
            conds.append(self.msg_type().in_([sql_text(t) for t in MSG_TYPES]))
            if name:
                conds.append(or_(self.msg_type() != sql_text("track"), _nonblank(_c(name))))
        elif self.read.msg_type == "track" and self.read.event is None and name:
            conds.append(_nonblank(_c(name)))
        return conds

    def codes(self) -> list[tuple[str, ColumnElement[int]]]:
        if self.read.json_props is None:
            return [(p.name, typed_code(p)) for p in self.read.props]
        return [(k, json_code(JsonText(self.json_column(), k))) for k in self.keys]

    def json_column(self) -> ColumnElement[Any]:
        props = _c(self.read.json_props or "properties")
        if self.read.json_traits:
            is_traits = self.msg_type().in_([sql_text("identify"), sql_text("group")])
            return case((is_traits, _c(self.read.json_traits)), else_=props)
        return props

    def nkeys(self) -> ColumnElement[int]:
        if self.read.json_props is None:
            return _present(self.read)
        if supports_json_key_count(self.dialect):
            return JsonKeyCount(self.json_column())
        return sql_int(0)

    def ids(self) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        """userId and anonymousId, NULL when blank (as the file path reads them)."""
        user, anon = self.col("user_id"), self.col("anonymous_id")
        return tuple(  # type: ignore[return-value]
            case((_nonblank(c), c), else_=None) if c is not None else cast(None, String) for c in (user, anon)
        )

    def fence(self, query: Select[Any]) -> Select[Any]:
        """Keep PostgreSQL from inlining a subquery whose columns are used many times (it would
        repeat their expressions — MD5, epoch extraction — once per use); others deduplicate them."""
        return query.offset(0) if self.dialect in ("postgresql", "redshift") else query

    def watermark_is_received_at(self) -> bool:
        """Whether the watermark column is the received_at column (its epoch then serves both)."""
        return self.w.watermark == self.read.cols.get("received_at")

    def base(self, *, checks: bool) -> Subquery:
        """The per-row subquery ``r``: event (not cut), type, the epochs (event time, received_at,
        the watermark's unless it is received_at) and either the ids (userId, anonymousId; NULL when
        blank; sent_at as is, its epoch only needed when received_at is missing) or, with
        ``checks``, sent_at's epoch, the identity flags (identified, email as userId, missing
        identity), key count and type codes. Fenced: its epochs are used several times each, and
        only these narrow columns travel up from the scan."""
        cols: list[ColumnElement[Any]] = [
            self.event(truncate=False).label("event"), self.msg_type().label("msg_type"),
            self.epoch("timestamp", "original_timestamp").label("ev_t"), self.epoch("received_at").label("recv_t"),
        ]  # fmt: skip
        if not self.watermark_is_received_at():
            cols.append(Epoch(_c(self.w.watermark)).label("wm_t"))
        if checks:
            cols += [self.epoch("sent_at").label("sent_t")]
            cols += [self.identity_flags().label("f_ids"), self.nkeys().label("nkeys")]
            cols += [expr.label(f"c{i}") for i, (_k, expr) in enumerate(self.codes())]
        else:
            uid, aid = self.ids()
            sent = self.col("sent_at")
            cols += [
                uid.label("uid"),
                aid.label("aid"),
                (sent if sent is not None else cast(None, DateTime)).label("sent"),
            ]
        inner = (
            select(*cols)
            .select_from(sql_table(self.read.table, schema=self.read.schema))
            .where(*self.where())
        )
        return self.fence(inner).subquery("r")

    def slice_start(self, r: Subquery) -> ColumnElement[int]:
        """The slice of a row's watermark value (from the per-row subquery ``r``)."""
        wm_t = r.c.recv_t if self.watermark_is_received_at() else r.c.wm_t
        return _floor_to(wm_t, self.w.slice_seconds)

    def identity_flags(self) -> ColumnElement[int]:
        """Bits 0–2 of the check flags: identified (userId not blank), email as userId, missing
        identity (neither id, except on alias and ``other`` messages) — one CASE, decided by the
        first id present (a NULL id makes its ``<> ''`` NULL, so it falls through)."""
        user, anon = self.col("user_id"), self.col("anonymous_id")
        whens: list[tuple[ColumnElement[bool], ColumnElement[int]]] = []
        if user is not None:
            email = and_(user.like(sql_text("%@%")), LooksLikeEmail(user))
            whens.append((user != sql_text(""), case((email, sql_int(3)), else_=sql_int(1))))
        if anon is not None:
            whens.append((anon != sql_text(""), sql_int(0)))
        whens.append((self.msg_type().not_in([sql_text("alias"), sql_text("other")]), sql_int(4)))
        return case(*whens, else_=sql_int(0))

    def bucket(self, r: Subquery) -> ColumnElement[int]:
        """The bucket of a row: event time, unless before 2000 or over a day ahead (then received_at,
        sent_at, now), floored to the bucket width in epoch seconds."""
        hi = sql_float(self.w.now_epoch + 86400)
        ev_ok = and_(r.c.ev_t >= sql_int(MIN_EPOCH), r.c.ev_t <= hi)
        sent_t = r.c.sent_t if "sent_t" in r.c else Epoch(r.c.sent)  # users: only when needed
        bucket_t = func.coalesce(
            case((ev_ok, r.c.ev_t), else_=None), r.c.recv_t, sent_t, sql_float(self.w.now_epoch)
        )
        return _floor_to(bucket_t, self.w.bucket_seconds)

    def rows(self) -> tuple[Subquery, list[str]]:
        """Rows reduced to their features (bucket, flags, codes, keys, latency bins) and counted per
        distinct combination — one hash aggregation per row; the parts are built from these counts.
        Features that are constants for this table (its message type, a key count or type code of
        a property it has no column for) are not hashed per row."""
        codes = self.codes()
        r = self.base(checks=True)
        hi = sql_float(self.w.now_epoch + 86400)
        impossible = _flag(and_(r.c.ev_t.is_not(None), or_(r.c.ev_t < sql_int(MIN_EPOCH), r.c.ev_t > hi)))
        fl = r.c.f_ids + impossible * sql_int(8)
        ev_ok, sent_ok, recv_ok = (and_(t >= sql_int(MIN_EPOCH), t <= hi) for t in (r.c.ev_t, r.c.sent_t, r.c.recv_t))

        def feature(name: str, expr: ColumnElement[Any]) -> ColumnElement[Any]:
            return expr.label(name) if is_literal(expr) else r.c[name]

        features = [
            self.slice_start(r).label("slice_start"), r.c.event, feature("msg_type", self.msg_type()),
            self.bucket(r).label("bucket"), fl.label("fl"),
            *[feature(f"c{i}", expr) for i, (_k, expr) in enumerate(codes)], feature("nkeys", self.nkeys()),
            # a hop with an impossible end (before 2000, over a day ahead) measures no latency
            latency_bin(case((and_(ev_ok, sent_ok), r.c.sent_t - r.c.ev_t), else_=None)).label("l_send"),
            latency_bin(case((and_(sent_ok, recv_ok), r.c.recv_t - r.c.sent_t), else_=None)).label("l_deliver"),
            latency_bin(case((and_(ev_ok, recv_ok), r.c.recv_t - r.c.ev_t), else_=None)).label("l_e2e"),
        ]  # fmt: skip
        keys = [f for f in features if not is_literal(f)]
        counted = select(*features, func.count().label("n")).group_by(*keys)
        return counted.subquery("x"), [k for k, _e in codes]

    def aggregates(self, x: Subquery, ncodes: int) -> Select[Any]:
        """Counts and latency bins from the reduced rows ``x`` (GROUPING SETS over a few hundred
        thousand rows, not the table), packed as text per (slice, event, type, bucket, part) — see
        :func:`monitors.warehouse.aggregate.add_aggregates`:

        * part 0: ``flags/c0.c1…/keys/count`` per combination of check flags, type codes, key count;
        * parts 1–3: latency hops send, deliver, e2e — ``bin:count`` per sketch bin.
        """
        combo = [x.c[g] for g in GROUP]
        xcodes = [x.c[f"c{i}"] for i in range(ncodes)]
        sets = [(x.c.fl, *xcodes, x.c.nkeys), (x.c.l_send,), (x.c.l_deliver,), (x.c.l_e2e,)]
        part = case(
            (func.grouping(x.c.fl) == sql_int(0), sql_int(0)),
            (func.grouping(x.c.l_send) == sql_int(0), sql_int(1)),
            (func.grouping(x.c.l_deliver) == sql_int(0), sql_int(2)),
            else_=sql_int(3),
        )
        n = func.sum(x.c.n)
        main_item: ColumnElement[str] = _text(x.c.fl) + sql_text("/")
        for i, c in enumerate(xcodes):
            main_item = main_item + (sql_text(".") if i else sql_text("")) + _text(c)
        main_item = main_item + sql_text("/") + _text(x.c.nkeys) + sql_text("/") + _text(n)
        bin_ = func.coalesce(x.c.l_send, x.c.l_deliver, x.c.l_e2e)
        item = case((part == sql_int(0), main_item), else_=_text(bin_) + sql_text(":") + _text(n))
        key = case((part == sql_int(0), x.c.fl), else_=bin_)
        g = (
            select(*combo, part.label("part"), item.label("item"), key.label("k"))
            .group_by(func.grouping_sets(*[tuple_(*combo, *s) for s in sets]))
            .subquery("g")
        )
        # A hop's group whose bin is NULL (a timestamp missing) carries nothing.
        out = [g.c[c] for c in GROUP] + [g.c.part]
        shown = [
            g.c.slice_start,
            substr(g.c.event, 1, 255).label("event"),
            g.c.msg_type,
            g.c.bucket,
            g.c.part,
        ]
        return select(*shown, StringAgg(g.c.item).label("items")).where(g.c.k.is_not(None)).group_by(*out)

    def users(self) -> Select[Any]:
        """The user sketches' registers (parts 4–6, see :mod:`.sqlusers`)."""
        r = self.base(checks=False)
        msg_type = self.msg_type()
        typed = msg_type.label("msg_type") if is_literal(msg_type) else r.c.msg_type
        return users_query(r, self.slice_start(r), typed, self.bucket(r), self.fence)

    def extra(self) -> Select[Any] | None:
        """Non-null counts of the unplanned property columns, split by value type (numbers: integral or not)."""
        if not self.read.extra:
            return None
        # Counting needs the raw columns: a second narrow subquery keeps only what is counted.
        r = select(
            _floor_to(Epoch(_c(self.w.watermark)), self.w.slice_seconds).label("slice_start"),
            self.event().label("event"), self.msg_type().label("msg_type"),
            *[_c(name).label(f"x{i}") for i, (name, _k) in enumerate(self.read.extra)],
            self.epoch("timestamp", "original_timestamp").label("ev_t"), self.epoch("received_at").label("recv_t"),
            self.epoch("sent_at").label("sent_t"),
        ).select_from(sql_table(self.read.table, schema=self.read.schema)).where(*self.where()).subquery("r")  # fmt: skip
        hi = sql_float(self.w.now_epoch + 86400)
        ev_ok = and_(r.c.ev_t >= sql_int(MIN_EPOCH), r.c.ev_t <= hi)
        bucket_t = func.coalesce(
            case((ev_ok, r.c.ev_t), else_=None), r.c.recv_t, r.c.sent_t, sql_float(self.w.now_epoch)
        )
        bucket = _floor_to(bucket_t, self.w.bucket_seconds)
        counts: list[Any] = []
        for i, (_name, kind) in enumerate(self.read.extra):
            x = r.c[f"x{i}"]
            if kind in ("int", "float"):
                integral = x == func.floor(x)
                counts.append(
                    func.sum(case((and_(x.is_not(None), integral), sql_int(1)), else_=sql_int(0))).label(
                        f"i{i}"
                    )
                )
                counts.append(
                    func.sum(case((and_(x.is_not(None), ~integral), sql_int(1)), else_=sql_int(0))).label(
                        f"n{i}"
                    )
                )
            else:
                counts.append(func.count(x).label(f"n{i}"))
        keys = [r.c.slice_start, r.c.event, r.c.msg_type, bucket.label("bucket")]
        return select(*keys, *counts).group_by(r.c.slice_start, r.c.event, r.c.msg_type, bucket)


def build(
    read: TableRead, keys: list[str], window: Window, dialect: str, *, property_stats: bool = True
) -> Queries:
    """The aggregate queries of ``read``; ``keys`` are the plan's property names (JSON layouts)."""
    b = _Builder(read, keys, window, dialect)
    x, used = b.rows()
    extra = b.extra() if property_stats else None
    return Queries(read, b.aggregates(x, len(used)), b.users(), extra, tuple(used))
