"""The user sketches' push-down query: HyperLogLog registers of userIds, anonymous-only ids and
linked anonymousIds per (slice, event, type, bucket), merge-compatible with the file path's.

MD5 is by far the most expensive per-row function a warehouse evaluates here (≈ 2 µs a row on
PostgreSQL, more than the scan), so it is computed once per *distinct user key* of the window:

1. ``d`` — the distinct (slice, event, type, bucket, userId, anonymousId) of the rows (a hash
   aggregation of the rows: 10 M rows → 2.5 M in the benchmark);
2. ``u`` — their keys per part: 4 userId, 5 anonymousId of a message without userId, 6 anonymousId
   seen with a userId (the users sketch is 4 ∪ 5, as in the file path);
3. ``k`` — MD5, register and rank of each distinct key of ``d`` (260 k in the benchmark), joined back;
4. the (register, rank) pairs packed as 3 base-64 characters per (…, part); the monitor keeps the
   max rank per register (the pairs are few per part: keys are distinct there already).

Dialect differences (MD5, hex → integer, rank, string aggregation) are in :mod:`.dialects`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, and_, case, cast, func, or_, select, union_all
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from monitors.warehouse.dialects import (
    HexRank,
    HexToInt,
    Md5Hex,
    StringAgg,
    is_literal,
    sql_float,
    sql_int,
    sql_text,
    substr,
)

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
PART_UIDS, PART_ANON_ONLY, PART_LINKED = 4, 5, 6


def _reg_hex(h: ColumnElement[str]) -> ColumnElement[str]:
    """The 3 hex digits of the HLL register: the top 12 bits of the first 8 MD5 bytes read
    little-endian (DuckDB's ``md5_number_upper``), i.e. byte 8 then the high half of byte 7."""
    return substr(h, 15, 2) + substr(h, 13, 1)


def _word_hex(h: ColumnElement[str]) -> ColumnElement[str]:
    """The 13 hex digits of the remaining 52 bits (rank), in the same little-endian order."""
    out: ColumnElement[str] = substr(h, 14, 1)
    for start in (11, 9, 7, 5, 3, 1):
        out = out + substr(h, start, 2)
    return out


def _b64_char(index: ColumnElement[int]) -> ColumnElement[str]:
    return func.substr(sql_text(BASE64), cast(index, Integer) + sql_int(1), sql_int(1), type_=String)


def base64_register(reg: ColumnElement[int], rank: ColumnElement[int]) -> ColumnElement[str]:
    """A register and its rank as 3 base-64 characters (6 + 6 bits of register, 6 bits of rank)."""
    high = cast(func.floor(reg / sql_float(64)), Integer)
    return _b64_char(high) + _b64_char(reg - high * sql_int(64)) + _b64_char(rank)


def users_query(r: Subquery, slice_start: ColumnElement[int], msg_type: ColumnElement[str],
                bucket: ColumnElement[int], fence: Any) -> Select[Any]:  # fmt: skip
    """Registers per (slice, event, type, bucket, part) from the per-row subquery ``r`` (columns
    event, uid, aid; ``slice_start``, ``msg_type`` and ``bucket`` computed from its columns — a
    constant type is not hashed per row). ``fence`` keeps PostgreSQL from repeating the MD5 in
    every expression that uses it. Event names are cut to 255 characters on the result rows."""
    typed = [] if is_literal(msg_type) else [msg_type]
    combo = [slice_start.label("slice_start"), r.c.event, *typed, bucket.label("bucket"), r.c.uid, r.c.aid]
    d = select(*combo).where(or_(r.c.uid.is_not(None), r.c.aid.is_not(None))).group_by(*combo).cte("d")
    dk = [d.c.slice_start, d.c.event, *[d.c.msg_type for _t in typed], d.c.bucket]
    own = case((d.c.uid.is_not(None), sql_int(PART_UIDS)), else_=sql_int(PART_ANON_ONLY))
    linked = and_(d.c.uid.is_not(None), d.c.aid.is_not(None))
    u = union_all(
        select(*dk, own.label("part"), func.coalesce(d.c.uid, d.c.aid).label("key")),
        select(*dk, sql_int(PART_LINKED).label("part"), d.c.aid.label("key")).where(linked),
    ).subquery("u")
    # The distinct keys as a GROUP BY over UNION ALL (not UNION): engines hash it (PostgreSQL sorts a
    # UNION it expects to be large), and its small estimate makes it the hashed side of the join.
    every = union_all(select(func.coalesce(d.c.uid, d.c.aid).label("key")), select(d.c.aid).where(linked))
    ea = every.subquery("every_key")
    ks = select(ea.c.key).group_by(ea.c.key).subquery("keys")
    hk = fence(select(ks.c.key, Md5Hex(ks.c.key).label("h"))).subquery("hk")
    # Fenced as well: register, rank and their 3 characters are text work, done once per key (not
    # per joined row).
    k = fence(
        select(
            hk.c.key, HexToInt(_reg_hex(hk.c.h), 3).label("reg"), HexRank(_word_hex(hk.c.h), 13).label("rank")
        )
    ).subquery("k")
    packed = fence(select(k.c.key, base64_register(k.c.reg, k.c.rank).label("b64"))).subquery("kp")
    # No max per register here: keys are distinct per (…, part) already, so few registers repeat
    # (the monitor keeps the max); a grouping over millions of rows costs more than the bytes saved.
    out = [u.c.slice_start, u.c.event, *[u.c.msg_type for _t in typed], u.c.bucket, u.c.part]
    shown = [u.c.slice_start, substr(u.c.event, 1, 255).label("event"), u.c.msg_type if typed else msg_type,
             u.c.bucket, u.c.part]  # fmt: skip
    return (
        select(*shown, StringAgg(packed.c.b64).label("items"))
        .select_from(u.join(packed, u.c.key == packed.c.key))
        .group_by(*out)
    )
