"""Every SQL dialect difference of the warehouse queries, in one place.

The query builder (:mod:`monitors.warehouse.sqlbuild`) uses these constructs; each compiles per
dialect with ``@compiles`` (PostgreSQL, Redshift, DuckDB, BigQuery, Snowflake, Trino):

* :class:`Epoch` — seconds since 1970 of a timestamp, as a double (sub-second precision kept).
* :class:`Md5Hex` — lowercase hex MD5 of a string (the user-key hash of the HyperLogLog).
* :class:`HexToInt` — integer value of a short hex string (the HLL register).
* :class:`HexRank` — HyperLogLog rank of a hex word: position of its first 1-bit.
* :class:`JsonText` — the JSON text of one top-level key of a JSON column (NULL when absent).
* :class:`JsonValueText` — the JSON text of a whole JSON column value.
* :class:`JsonKeyCount` — number of top-level keys of a JSON object column.
* :class:`StringAgg` — comma-joined text of a group (``string_agg``, ``LISTAGG``, …).
* :class:`LooksLikeEmail` — the file path's ``[^@\\s]+@[^@\\s]+\\.[^@\\s]+`` test.
* ``SESSION_DEFAULTS`` — planner settings run first on each connection (PostgreSQL: hash joins and
  hash aggregation).

Constructs without an override for a dialect fall back to portable SQL (CASE over characters) or,
for JSON, raise a :class:`~sqlalchemy.exc.CompileError` that names the dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Double, Integer, String, case, cast, func, literal_column
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

EMAIL_RE = r"[^@\s]+@[^@\s]+\.[^@\s]+"
HEX = "0123456789abcdef"
JSON_KEY_COUNT = frozenset({"postgresql", "duckdb", "bigquery", "snowflake", "trino"})

# Run on every warehouse connection before the source's own ``session_sql``. PostgreSQL has no
# statistics on the computed keys (bucket, user keys per bucket): its estimates swing between a
# tenth of the rows and all of them with the shape of a query, and with the high ones it plans
# sorts — a sort-merge join that spills to disk, sorted GROUP BYs of 10 M rows — where hash joins
# and hash aggregations (which spill gracefully when they must) are several times faster.
SESSION_DEFAULTS: dict[str, tuple[str, ...]] = {
    "postgresql": ("SET enable_mergejoin = off", "SET enable_sort = off"),
}


def sql_text(value: str) -> ColumnElement[str]:
    """A string constant rendered inline (standard quoting), so compiled SQL is self-contained."""
    return literal_column("'" + value.replace("'", "''") + "'", String)


def sql_int(value: int) -> ColumnElement[int]:
    """An integer constant rendered inline (GROUP BY expressions must repeat it, not a bind parameter)."""
    return literal_column(str(int(value)), Integer)


def sql_float(value: float) -> ColumnElement[float]:
    """A float constant rendered inline, exactly (``repr``), typed as a double."""
    return cast(literal_column(repr(float(value))), Double)


def is_literal(expr: Any) -> bool:
    """Whether ``expr`` (or the expression a label names) is a constant written into the SQL, as
    :func:`sql_text` and :func:`sql_int` make them: the same for every row, so never grouped by."""
    return bool(getattr(getattr(expr, "element", expr), "is_literal", False))


def substr(expr: Any, start: int, length: int) -> ColumnElement[str]:
    """``substr(expr, start, length)`` (1-based) typed as a string, so ``+`` concatenates."""
    return func.substr(expr, sql_int(start), sql_int(length), type_=String)


class Epoch(FunctionElement[float]):
    """Seconds since the epoch (double) of a timestamp expression."""

    type = Double()
    inherit_cache = True
    name = "ehm_epoch"


class Md5Hex(FunctionElement[str]):
    """32 lowercase hex digits of the MD5 of a string."""

    type = String()
    inherit_cache = True
    name = "ehm_md5hex"


class HexToInt(FunctionElement[int]):
    """Integer of a hex string of ``digits`` digits (at most 13)."""

    type = Integer()
    inherit_cache = True
    name = "ehm_hex_to_int"

    def __init__(self, expr: Any, digits: int) -> None:
        self.digits = digits
        super().__init__(expr)


class HexRank(FunctionElement[int]):
    """HLL rank of a ``digits``-digit hex word w: ``4 * digits - floor(log2(w))`` (w = 0 counts as 1)."""

    type = Integer()
    inherit_cache = True
    name = "ehm_hex_rank"

    def __init__(self, expr: Any, digits: int) -> None:
        self.digits = digits
        super().__init__(expr)


class JsonText(FunctionElement[str]):
    """The JSON text of ``key`` in a JSON (or JSON-text) column; NULL when the key is absent."""

    type = String()
    inherit_cache = True
    name = "ehm_json_text"

    def __init__(self, expr: Any, key: str) -> None:
        self.json_key = key
        super().__init__(expr)


class JsonValueText(FunctionElement[str]):
    """The JSON text of a whole JSON column value (PostgreSQL ``jsonb``, Snowflake ``VARIANT``, …)."""

    type = String()
    inherit_cache = True
    name = "ehm_json_value_text"


class JsonKeyCount(FunctionElement[int]):
    """Number of top-level keys of a JSON object column (0 for other values)."""

    type = Integer()
    inherit_cache = True
    name = "ehm_json_key_count"


class StringAgg(FunctionElement[str]):
    """Comma-joined text of a group's values (order unspecified)."""

    type = String()
    inherit_cache = True
    name = "ehm_string_agg"


class LooksLikeEmail(FunctionElement[bool]):
    """Whether a string looks like an email address (as the file path decides)."""

    type = Boolean()
    inherit_cache = True
    name = "ehm_email"


def _arg(element: FunctionElement[Any], compiler: SQLCompiler, i: int = 0, **kw: Any) -> str:
    return str(compiler.process(list(element.clauses)[i], **kw))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------- epoch seconds
@compiles(Epoch)
def _epoch(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {_arg(element, compiler, **kw)}) AS DOUBLE PRECISION)"


@compiles(Epoch, "postgresql")
def _epoch_pg(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # date_part is computed in float8 (microseconds / 1e6, correctly rounded, as DuckDB's epoch);
    # EXTRACT goes through numeric, several times slower.
    return f"date_part('epoch', {_arg(element, compiler, **kw)})"


@compiles(Epoch, "duckdb")
def _epoch_duckdb(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"epoch({_arg(element, compiler, **kw)})"


@compiles(Epoch, "bigquery")
def _epoch_bigquery(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(UNIX_MICROS({_arg(element, compiler, **kw)}) / 1000000.0)"


@compiles(Epoch, "snowflake")
def _epoch_snowflake(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(DATE_PART(EPOCH_MICROSECOND, {_arg(element, compiler, **kw)}) / 1000000.0)"


@compiles(Epoch, "trino")
def _epoch_trino(element: Epoch, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_unixtime({_arg(element, compiler, **kw)})"


# ---------------------------------------------------------------- md5
@compiles(Md5Hex)
def _md5(element: Md5Hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"md5({_arg(element, compiler, **kw)})"


@compiles(Md5Hex, "bigquery")
def _md5_bigquery(element: Md5Hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"TO_HEX(MD5({_arg(element, compiler, **kw)}))"


@compiles(Md5Hex, "trino")
def _md5_trino(element: Md5Hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower(to_hex(md5(to_utf8({_arg(element, compiler, **kw)}))))"


# ---------------------------------------------------------------- hex → integer
def _digit_value(ch: ColumnElement[str]) -> ColumnElement[int]:
    return case(*((ch == sql_text(c), sql_int(i)) for i, c in enumerate(HEX)), else_=sql_int(0))


@compiles(HexToInt)
def _hex_to_int(element: HexToInt, compiler: SQLCompiler, **kw: Any) -> str:
    # Portable: one CASE per digit.
    expr = next(iter(element.clauses))
    total: ColumnElement[int] = sql_int(0)
    for i in range(element.digits):
        total = total * sql_int(16) + _digit_value(substr(expr, i + 1, 1))
    return str(compiler.process(total, **kw))


@compiles(HexToInt, "postgresql")
def _hex_to_int_pg(element: HexToInt, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(CAST('x' || {_arg(element, compiler, **kw)} AS BIT({4 * element.digits})) AS BIGINT)"


@compiles(HexToInt, "duckdb")
def _hex_to_int_duckdb(element: HexToInt, compiler: SQLCompiler, **kw: Any) -> str:
    # ``||`` keeps NULL (DuckDB's CONCAT would turn it into '0x').
    return f"CAST('0x' || {_arg(element, compiler, **kw)} AS BIGINT)"


@compiles(HexToInt, "bigquery")
def _hex_to_int_bigquery(element: HexToInt, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(CONCAT('0x', {_arg(element, compiler, **kw)}) AS INT64)"


@compiles(HexToInt, "snowflake")
def _hex_to_int_snowflake(element: HexToInt, compiler: SQLCompiler, **kw: Any) -> str:
    return f"TO_NUMBER({_arg(element, compiler, **kw)}, '{'X' * element.digits}')"


@compiles(HexToInt, "trino")
def _hex_to_int_trino(element: HexToInt, compiler: SQLCompiler, **kw: Any) -> str:
    return f"from_base({_arg(element, compiler, **kw)}, 16)"


@compiles(HexToInt, "redshift")
def _hex_to_int_redshift(element: HexToInt, compiler: SQLCompiler, **kw: Any) -> str:
    return f"STRTOL({_arg(element, compiler, **kw)}, 16)"


# ---------------------------------------------------------------- HLL rank
def _leading_zero_bits(ch: ColumnElement[str]) -> ColumnElement[int]:
    return case(
        (ch.in_([sql_text(c) for c in "89abcdef"]), sql_int(0)),
        (ch.in_([sql_text(c) for c in "4567"]), sql_int(1)),
        (ch.in_([sql_text(c) for c in "23"]), sql_int(2)),
        else_=sql_int(3),
    )


@compiles(HexRank)
def _hex_rank(element: HexRank, compiler: SQLCompiler, **kw: Any) -> str:
    # Portable: the first non-zero digit decides; 4 bits per zero digit before it.
    expr = next(iter(element.clauses))
    whens = []
    for i in range(element.digits):
        ch = substr(expr, i + 1, 1)
        whens.append((ch != sql_text("0"), sql_int(4 * i + 1) + _leading_zero_bits(ch)))
    return str(compiler.process(case(*whens, else_=sql_int(4 * element.digits)), **kw))


@compiles(HexRank, "postgresql")
def _hex_rank_pg(element: HexRank, compiler: SQLCompiler, **kw: Any) -> str:
    # Zero digits before the first non-zero one count 4 bits each; that digit's own leading zeros
    # come from a lookup string indexed by its value (plain text functions, no bit strings).
    t = f"ltrim({_arg(element, compiler, **kw)}, '0')"
    digit = f"position(substr({t}, 1, 1) IN '0123456789abcdef')"
    lz = f"CAST(substr('0322111100000000', {digit}, 1) AS INTEGER)"
    bits = 4 * element.digits
    return f"(CASE WHEN {t} = '' THEN {bits} ELSE {bits} - 4 * length({t}) + {lz} + 1 END)"


# ---------------------------------------------------------------- JSON
@compiles(JsonText)
def _json_text(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(
        f"JSON property columns are not supported on {compiler.dialect.name} — use per-event tables"
    )


@compiles(JsonText, "postgresql")
def _json_text_pg(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(CAST({_arg(element, compiler, **kw)} AS JSON) -> {_quote(element.json_key)} AS TEXT)"


@compiles(JsonText, "duckdb")
def _json_text_duckdb(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    pointer = "/" + element.json_key.replace("~", "~0").replace("/", "~1")
    return f"CAST(json_extract(CAST({_arg(element, compiler, **kw)} AS JSON), {_quote(pointer)}) AS VARCHAR)"


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


@compiles(JsonText, "bigquery")
def _json_text_bigquery(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"TO_JSON_STRING(JSON_QUERY({_arg(element, compiler, **kw)}, {_quote(_json_path(element.json_key))}))"
    )


@compiles(JsonText, "snowflake")
def _json_text_snowflake(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"TO_JSON(GET({_arg(element, compiler, **kw)}, {_quote(element.json_key)}))"


@compiles(JsonText, "trino")
def _json_text_trino(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    path = '$["' + element.json_key.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return f"json_format(json_extract({_arg(element, compiler, **kw)}, {_quote(path)}))"


@compiles(JsonText, "redshift")
def _json_text_redshift(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    ident = '"' + element.json_key.replace('"', '""') + '"'
    return f"JSON_SERIALIZE({_arg(element, compiler, **kw)}.{ident})"


@compiles(JsonValueText)
def _json_value(element: JsonValueText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_arg(element, compiler, **kw)} AS VARCHAR)"


@compiles(JsonValueText, "postgresql")
def _json_value_pg(element: JsonValueText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({_arg(element, compiler, **kw)} AS TEXT)"


@compiles(JsonValueText, "bigquery")
def _json_value_bigquery(element: JsonValueText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"TO_JSON_STRING({_arg(element, compiler, **kw)})"


@compiles(JsonValueText, "snowflake")
def _json_value_snowflake(element: JsonValueText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"TO_JSON({_arg(element, compiler, **kw)})"


@compiles(JsonValueText, "trino")
def _json_value_trino(element: JsonValueText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_format({_arg(element, compiler, **kw)})"


@compiles(JsonValueText, "redshift")
def _json_value_redshift(element: JsonValueText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"JSON_SERIALIZE({_arg(element, compiler, **kw)})"


@compiles(JsonKeyCount)
def _json_keys(element: JsonKeyCount, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"counting JSON keys is not supported on {compiler.dialect.name}")


@compiles(JsonKeyCount, "postgresql")
def _json_keys_pg(element: JsonKeyCount, compiler: SQLCompiler, **kw: Any) -> str:
    col = f"CAST({_arg(element, compiler, **kw)} AS JSONB)"
    return f"(CASE WHEN jsonb_typeof({col}) = 'object' THEN (SELECT count(*) FROM jsonb_object_keys({col})) ELSE 0 END)"


@compiles(JsonKeyCount, "duckdb")
def _json_keys_duckdb(element: JsonKeyCount, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalesce(len(json_keys(CAST({_arg(element, compiler, **kw)} AS JSON))), 0)"


@compiles(JsonKeyCount, "bigquery")
def _json_keys_bigquery(element: JsonKeyCount, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalesce(ARRAY_LENGTH(JSON_KEYS({_arg(element, compiler, **kw)}, 1)), 0)"


@compiles(JsonKeyCount, "snowflake")
def _json_keys_snowflake(element: JsonKeyCount, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalesce(ARRAY_SIZE(OBJECT_KEYS({_arg(element, compiler, **kw)})), 0)"


@compiles(JsonKeyCount, "trino")
def _json_keys_trino(element: JsonKeyCount, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalesce(cardinality(TRY_CAST({_arg(element, compiler, **kw)} AS map(varchar, json))), 0)"


# ---------------------------------------------------------------- string aggregation
@compiles(StringAgg)
def _string_agg(element: StringAgg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"string_agg({_arg(element, compiler, **kw)}, ',')"


@compiles(StringAgg, "bigquery")
def _string_agg_bigquery(element: StringAgg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"STRING_AGG({_arg(element, compiler, **kw)}, ',')"


@compiles(StringAgg, "snowflake")
@compiles(StringAgg, "redshift")
def _string_agg_listagg(element: StringAgg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LISTAGG({_arg(element, compiler, **kw)}, ',')"


@compiles(StringAgg, "trino")
def _string_agg_trino(element: StringAgg, compiler: SQLCompiler, **kw: Any) -> str:
    return f"array_join(array_agg({_arg(element, compiler, **kw)}), ',')"


# ---------------------------------------------------------------- email
@compiles(LooksLikeEmail)
def _email(element: LooksLikeEmail, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_arg(element, compiler, **kw)} ~ {_quote('^' + EMAIL_RE + '$')})"


@compiles(LooksLikeEmail, "duckdb")
def _email_duckdb(element: LooksLikeEmail, compiler: SQLCompiler, **kw: Any) -> str:
    return f"regexp_full_match({_arg(element, compiler, **kw)}, {_quote(EMAIL_RE)})"


@compiles(LooksLikeEmail, "bigquery")
def _email_bigquery(element: LooksLikeEmail, compiler: SQLCompiler, **kw: Any) -> str:
    return f"REGEXP_CONTAINS({_arg(element, compiler, **kw)}, r{_quote('^' + EMAIL_RE + '$')})"


@compiles(LooksLikeEmail, "snowflake")
def _email_snowflake(element: LooksLikeEmail, compiler: SQLCompiler, **kw: Any) -> str:
    # Snowflake string literals treat backslash as an escape; RLIKE matches the whole string.
    return f"RLIKE({_arg(element, compiler, **kw)}, {_quote(EMAIL_RE.replace(chr(92), chr(92) * 2))})"


@compiles(LooksLikeEmail, "trino")
def _email_trino(element: LooksLikeEmail, compiler: SQLCompiler, **kw: Any) -> str:
    return f"regexp_like({_arg(element, compiler, **kw)}, {_quote('^' + EMAIL_RE + '$')})"


def supports_json_key_count(dialect: str) -> bool:
    """Whether :class:`JsonKeyCount` compiles on ``dialect``."""
    return dialect in JSON_KEY_COUNT
