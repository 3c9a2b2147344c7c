"""Where a source's messages and properties are: the tables to read and how each column maps.

The common warehouse layout (Segment, RudderStack): ``tracks`` holds every track call with the
standard columns; one table per event (``Order Completed`` → ``order_completed``) repeats them and
adds one column per (flattened) property; ``identifies`` has traits as columns; ``pages`` and
``screens`` have page / screen properties. Planned events are read from their own tables (so their
properties can be checked); every other track call is counted from ``tracks``.

Columns are discovered with SQLAlchemy's inspector; a planned property without a column has never
been sent (both vendors add a column with its first non-null value), so it counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import types as sqltypes

from monitors.plan import ObjectSpec, Plan
from monitors.warehouse.config import ColumnsConfig, WarehouseSourceConfig

Kind = Literal["text", "int", "float", "bool", "time", "json", "object"]
STANDARD = frozenset({
    "id", "anonymous_id", "user_id", "event", "event_text", "timestamp", "original_timestamp", "sent_at",
    "received_at", "uuid", "uuid_ts", "loaded_at", "channel", "record_id", "name", "_user_id",
})  # fmt: skip
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z0-9]+|[A-Z]+")
TABLE_TYPES = {
    "identifies": "identify",
    "pages": "page",
    "screens": "screen",
    "groups": "group",
    "aliases": "alias",
}


def snake_case(name: str) -> str:
    """Segment's table/column naming (``segmentio/go-snakecase``): ``Order Completed`` → ``order_completed``."""
    ascii_name = name.encode("ascii", "ignore").decode()
    return "_".join(t.lower() for t in _WORD.findall(ascii_name))


def column_kind(sqltype: sqltypes.TypeEngine[object]) -> Kind:
    """How a column's SQL type maps to the JSON types of the tracking plan."""
    name = type(sqltype).__name__.upper()
    if isinstance(sqltype, sqltypes.Boolean) or name in {"BOOLEAN", "BOOL"}:
        return "bool"
    if isinstance(sqltype, sqltypes.Integer) or name in {"INT64", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT"}:
        return "int"
    if isinstance(sqltype, sqltypes.Float | sqltypes.Numeric) or name in {"FLOAT64", "DOUBLE", "NUMERIC"}:
        return "float"
    if isinstance(sqltype, sqltypes.DateTime | sqltypes.Date | sqltypes.Time):
        return "time"
    if isinstance(sqltype, sqltypes.JSON) or name in {"JSON", "JSONB", "VARIANT", "OBJECT", "SUPER", "ARRAY"}:
        return "json"
    return "text"


def type_name_kind(data_type: str) -> tuple[Kind, bool]:
    """Kind of a column from its ``information_schema`` type name, and whether it is a timestamp
    without time zone."""
    t = data_type.upper()
    if t.startswith("TIMESTAMP") or t in {"DATE", "TIME", "DATETIME"}:
        return "time", "WITH TIME ZONE" not in t and t != "TIMESTAMPTZ"
    if t.startswith("BOOL"):
        return "bool", False
    if t in {"TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT", "UBIGINT", "INT64", "UINTEGER"}:
        return "int", False
    if t.startswith(("DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL", "NUMBER")):
        return "float", False
    if t.startswith(("JSON", "STRUCT", "MAP", "VARIANT", "OBJECT", "SUPER")) or t.endswith("[]"):
        return "json", False
    return "text", False


@dataclass(frozen=True)
class PropColumn:
    """Where one planned property lives: a column of some kind, or flattened child columns (objects)."""

    name: str
    column: str | None
    kind: Kind | None
    children: tuple[str, ...] = ()
    types: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TableRead:
    """One table to aggregate and how to read it.

    ``msg_type`` is fixed for the built-in tables; ``None`` means the custom table's type column.
    ``event`` fixes the event name (``$identify``); ``None`` takes it from ``event_text`` (tracks and
    per-event tables) or the custom event column. ``only_events`` / ``skip_events`` filter by name.
    ``stats_only`` reads only property types (unplanned events, counted from ``tracks``).
    """

    table: str
    schema: str | None
    cols: dict[str, str]
    msg_type: str | None
    event: str | None = None
    only_events: tuple[str, ...] = ()
    skip_events: tuple[str, ...] = ()
    props: tuple[PropColumn, ...] = ()
    extra: tuple[tuple[str, Kind], ...] = ()
    json_props: str | None = None
    json_traits: str | None = None
    type_column: str | None = None
    stats_only: bool = False


@dataclass
class Catalog:
    """Tables and columns of one schema: ``{table: {column: kind}}`` (lower-case names), and the
    timestamp columns without a time zone per table (compared with naive UTC values)."""

    tables: dict[str, dict[str, Kind]] = field(default_factory=dict)
    naive: dict[str, set[str]] = field(default_factory=dict)

    def has(self, table: str) -> bool:
        """Whether the table exists."""
        return table in self.tables


def standard_cols(columns: ColumnsConfig, present: Iterable[str]) -> dict[str, str]:
    """Role → column name, for the roles whose column exists in the table."""
    have = set(present)
    out = {}
    for role, name in columns.model_dump().items():
        if name and name.lower() in have:
            out[role] = name.lower()
    return out


def _prop_columns(spec: ObjectSpec, columns: dict[str, Kind]) -> tuple[PropColumn, ...]:
    out = []
    for prop in spec.props.values():
        col = next(
            (
                c
                for c in (prop.name.lower(), snake_case(prop.name), "_" + snake_case(prop.name))
                if c in columns
            ),
            None,
        )
        if col is not None:
            out.append(PropColumn(prop.name, col, columns[col], types=prop.types))
            continue
        prefix = snake_case(prop.name) + "_"
        children = tuple(sorted(c for c in columns if c.startswith(prefix))) if "object" in prop.types else ()
        out.append(PropColumn(prop.name, None, "object" if children else None, children, prop.types))
    return tuple(out)


def _extra(
    columns: dict[str, Kind], props: tuple[PropColumn, ...], ignore: set[str]
) -> tuple[tuple[str, Kind], ...]:
    used = {p.column for p in props if p.column} | {c for p in props for c in p.children}
    return tuple(
        (c, k) for c, k in sorted(columns.items())
        if c not in used and c not in ignore and c not in STANDARD and not c.startswith("context_")
    )  # fmt: skip


def segment_reads(
    cfg: WarehouseSourceConfig, plan: Plan, catalog: Catalog, tables_of: dict[str, str]
) -> list[TableRead]:
    """The reads of the Segment / RudderStack layout. ``tables_of`` maps event names to their tables
    (from ``SELECT DISTINCT event_text, event FROM tracks``, config overrides win)."""
    reads: list[TableRead] = []
    ignore = {cfg.watermark.lower()}
    planned: list[str] = []
    for name, ev in plan.events.items():
        table = (cfg.event_tables.get(name) or tables_of.get(name) or snake_case(name)).lower()
        if not catalog.has(table) or table in TABLE_TYPES or table == "tracks":
            continue
        cols = catalog.tables[table]
        props = _prop_columns(ev.spec, cols)
        reads.append(TableRead(table, cfg.schema_, standard_cols(cfg.columns, cols), "track", only_events=(name,),
                               props=props, extra=_extra(cols, props, ignore)))  # fmt: skip
        planned.append(name)
    if "tracks" in cfg.tables and catalog.has("tracks"):
        cols = catalog.tables["tracks"]
        reads.append(
            TableRead(
                "tracks", cfg.schema_, standard_cols(cfg.columns, cols), "track", skip_events=tuple(planned)
            )
        )
        if cfg.property_stats:
            reads.extend(
                _unplanned_stats(
                    cfg, catalog, {n: t for n, t in tables_of.items() if n not in plan.events}, ignore
                )
            )
    for table, msg_type in TABLE_TYPES.items():
        if table not in cfg.tables or not catalog.has(table):
            continue
        cols = catalog.tables[table]
        spec = plan.identify if msg_type == "identify" else ObjectSpec()
        props = _prop_columns(spec, cols)
        reads.append(TableRead(table, cfg.schema_, standard_cols(cfg.columns, cols), msg_type, event="$" + msg_type,
                               props=props, extra=_extra(cols, props, ignore)))  # fmt: skip
    return reads


def _unplanned_stats(
    cfg: WarehouseSourceConfig, catalog: Catalog, tables_of: dict[str, str], ignore: set[str]
) -> list[TableRead]:
    """Property-type reads of the tables of unplanned events (their counts come from ``tracks``)."""
    out = []
    for name, table in sorted(tables_of.items()):
        table = table.lower()
        if not catalog.has(table) or table in TABLE_TYPES or table == "tracks":
            continue
        cols = catalog.tables[table]
        extra = _extra(cols, (), ignore)
        if extra:
            out.append(TableRead(table, cfg.schema_, standard_cols(cfg.columns, cols), "track", only_events=(name,),
                                 extra=extra, stats_only=True))  # fmt: skip
    return out


def custom_reads(cfg: WarehouseSourceConfig, catalog: Catalog) -> list[TableRead]:
    """The single read of a ``layout: custom`` source."""
    custom = cfg.custom
    assert custom is not None  # validated by the config
    table = custom.table.lower()
    if not catalog.has(table):
        return []
    cols = catalog.tables[table]
    std = standard_cols(cfg.columns, cols)
    std.pop("event_text", None)
    std["event_text"] = custom.event_column.lower()
    return [TableRead(
        table, cfg.schema_, std, None if custom.type_column else "track",
        json_props=custom.properties_column.lower() or None, json_traits=custom.traits_column.lower() or None,
        type_column=custom.type_column.lower() or None,
    )]  # fmt: skip
