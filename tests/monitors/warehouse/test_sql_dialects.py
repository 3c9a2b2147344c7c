"""The generated SQL compiles for every supported warehouse dialect, and the dialect constructs
compute the same numbers as the file path (run on SQLite, PostgreSQL and DuckDB)."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, literal, select
from sqlalchemy.dialects import registry
from sqlalchemy.exc import CompileError

from monitors.sketch import rank
from monitors.warehouse.dialects import HexRank, HexToInt, JsonKeyCount, JsonText, Md5Hex
from monitors.warehouse.mapping import PropColumn, TableRead
from monitors.warehouse.sqlbuild import Window, build, json_code
from tests.monitors.warehouse.conftest import Warehouse

STD = {"message_id": "id", "event_text": "event_text", "user_id": "user_id", "anonymous_id": "anonymous_id",
       "timestamp": "timestamp", "original_timestamp": "original_timestamp", "sent_at": "sent_at",
       "received_at": "received_at"}  # fmt: skip
TYPED = TableRead(
    "order_completed", "web_prod", STD, "track", only_events=("Order Completed",),
    props=(PropColumn("order_id", "order_id", "text", types=frozenset({"string"})),
           PropColumn("revenue", "revenue", "float", types=frozenset({"number"})),
           PropColumn("items", "items", "text", types=frozenset({"array"})),
           PropColumn("shipping", None, "object", ("shipping_method",), frozenset({"object"}))),
    extra=(("coupon", "text"), ("total", "float")),
)  # fmt: skip
CUSTOM = TableRead("events", "raw", {**STD, "event_text": "name"}, None, json_props="properties", json_traits="traits",
                   type_column="type")  # fmt: skip
WINDOW = Window(now_epoch=1_793_620_800.0, bucket_seconds=300, slice_seconds=3600)
BIND = {"lo": datetime(2026, 11, 2, tzinfo=UTC), "hi": datetime(2026, 11, 3, tzinfo=UTC)}

# What each dialect must say (its own functions), so that a broken dialect shows up here.
MARKERS = {
    "bigquery": [
        "UNIX_MICROS(",
        "TO_HEX(MD5(",
        "CAST(CONCAT('0x',",
        "REGEXP_CONTAINS(",
        "STRING_AGG(",
        "`web_prod`.`order_completed`",
    ],
    "snowflake": ["DATE_PART(EPOCH_MICROSECOND,", "md5(", "TO_NUMBER(", "RLIKE(", "LISTAGG("],
    "trino": [
        "to_unixtime(",
        "lower(to_hex(md5(to_utf8(",
        "from_base(",
        "regexp_like(",
        "array_join(array_agg(",
    ],
    "redshift": ["EXTRACT(EPOCH FROM", "md5(", "STRTOL(", " ~ ", "LISTAGG(", "OFFSET 0"],
    "postgresql": ["date_part('epoch',", "md5(", "AS BIT(12)", "ltrim(", "string_agg(", "OFFSET 0"],
    "duckdb": ["epoch(", "md5(", "CAST('0x' ||", "regexp_full_match(", "string_agg("],
}
JSON_MARKERS = {
    "bigquery": ["JSON_QUERY(", "JSON_KEYS("],
    "snowflake": ["GET(", "OBJECT_KEYS("],
    "trino": ["json_extract(", "map(varchar, json)"],
    "redshift": ["JSON_SERIALIZE("],
    "postgresql": ["AS JSON) ->", "jsonb_object_keys("],
    "duckdb": ["json_extract(", "json_keys("],
}


def compiled(read: TableRead, dialect_name: str) -> dict[str, str]:
    dialect = registry.load(dialect_name)()
    q = build(read, ["order_id", "revenue", "email"], WINDOW, dialect_name)
    return {
        part: str(stmt.params(**BIND).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        for part, stmt in q.statements()
    }


@pytest.mark.parametrize("dialect", sorted(MARKERS))
def test_typed_tables_compile_with_the_dialects_own_functions(dialect: str) -> None:
    sql = compiled(TYPED, dialect)
    assert set(sql) == {"aggregates", "users", "extra"}
    text = "\n".join(sql.values())
    missing = [m for m in MARKERS[dialect] if m not in text]
    assert missing == []
    assert "2026-11-02" in sql["aggregates"] and "'Order Completed'" in sql["aggregates"]
    assert "GROUPING SETS" in sql["aggregates"].upper()


@pytest.mark.parametrize("dialect", sorted(MARKERS))
def test_md5_runs_once_per_distinct_user_key_not_per_row(dialect: str) -> None:
    """MD5 (the costliest per-row function) appears only in the users query, applied to the union
    of distinct keys; the aggregates query groups the rows once before its GROUPING SETS."""
    sql = compiled(TYPED, dialect)
    md5 = "md5(" if dialect != "bigquery" else "MD5("
    assert [sql[q].count(md5) for q in ("aggregates", "users", "extra")] == [0, 1, 0]
    assert sql["users"].upper().count("UNION ALL") == 2  # keys per part; every key (then grouped)
    assert sql["aggregates"].upper().count("GROUP BY") == 3  # rows → combinations → sets → parts


@pytest.mark.parametrize("dialect", sorted(JSON_MARKERS))
def test_json_property_columns_compile(dialect: str) -> None:
    text = "\n".join(compiled(CUSTOM, dialect).values())
    assert [m for m in JSON_MARKERS[dialect] if m not in text] == []


def test_json_access_on_an_unsupported_dialect_says_so() -> None:
    with pytest.raises(CompileError, match="JSON property columns are not supported on sqlite"):
        select(JsonText(literal("{}"), "a")).compile(dialect=registry.load("sqlite")())
    with pytest.raises(CompileError, match="counting JSON keys is not supported on redshift"):
        select(JsonKeyCount(literal("{}"))).compile(dialect=registry.load("redshift")())


def _reference(key: str) -> tuple[str, int, int]:
    """md5 hex, HLL register and rank as the file path computes them (DuckDB md5_number_upper)."""
    digest = hashlib.md5(key.encode()).digest()
    h = int.from_bytes(digest[:8], "little")
    return digest.hex(), h >> 52, max(1, min(52, rank(h & ((1 << 52) - 1), 52)))


KEYS = [f"user-{i}" for i in range(60)] + ["", "jane@example.com", "ünïcødé"]


def _run_hll(engine: Any) -> list[tuple[str, int, int]]:
    out = []
    with engine.connect() as conn:
        for key in KEYS:
            h = conn.execute(select(Md5Hex(literal(key)))).scalar_one()
            rev = "".join(h[i : i + 2] for i in range(14, -1, -2))
            reg, rnk = conn.execute(
                select(HexToInt(literal(rev[:3]), 3), HexRank(literal(rev[3:]), 13))
            ).one()
            out.append((h, int(reg), int(rnk)))
    return out


def test_hll_constructs_match_the_file_path_on_real_engines(warehouse: Warehouse) -> None:
    assert _run_hll(warehouse.engine) == [_reference(k) for k in KEYS]


@pytest.mark.parametrize("digits", [3, 13])
def test_portable_hex_fallbacks_are_exact(digits: int) -> None:
    """The CASE-based forms (dialects without hex functions) on SQLite, against Python."""
    rng = random.Random(3)
    words = ["0" * digits, "f" * digits, "0" * (digits - 1) + "1"] + [
        "".join(rng.choice("0123456789abcdef") for _ in range(digits)) for _ in range(200)
    ]
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        got = [
            tuple(conn.execute(select(HexToInt(literal(w), digits), HexRank(literal(w), digits))).one())
            for w in words
        ]
    want = [(int(w, 16), min(4 * digits, rank(int(w, 16), 4 * digits))) for w in words]
    assert got == want


def test_json_type_codes_on_real_engines(warehouse: Warehouse) -> None:
    """JSON value texts get the file path's type codes; a fraction of zeros (``1.0``, Python's float
    spelling) is an integer, as in JSON Schema."""
    texts = {"1": 2, "-7": 2, "1.0": 2, "2.00": 2, "-0.0": 2, "100.0": 2, "1.5": 3, "10.50": 3, "0.001": 3,
             "1e2": 3, '"x"': 1, "true": 4, "false": 4, "null": 7, "{}": 6, "[]": 5}  # fmt: skip
    with warehouse.engine.connect() as conn:
        got = {t: conn.execute(select(json_code(literal(t)))).scalar_one() for t in texts}
    assert got == texts
