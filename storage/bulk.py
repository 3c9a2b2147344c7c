"""Bulk writes shared by the Store's parts: upsert and plain inserts of many rows.

Rows whose values are all plain Python scalars need no SQLAlchemy type processing, so the compiled
statement and the rows go straight to the driver's executemany (several times faster for the
thousands of rows an ingest commit writes); other rows take SQLAlchemy's path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

_PLAIN = (int, float, str, bytes, bool, type(None))


# Compiled SQL by (dialect, paramstyle, table, statement shape): compiling an upsert costs ~0.3 ms,
# several per commit — most of a small file's commit when a folder holds thousands of them.
_Compiled = tuple[str, tuple[str, ...] | None]
_COMPILED: dict[tuple[Any, ...], _Compiled] = {}


def _execute_many(conn: Connection, shape: tuple[Any, ...], build: Callable[[], Executable],
                  rows: Sequence[dict[str, Any]]) -> None:  # fmt: skip
    if not all(type(v) in _PLAIN for v in rows[0].values()):
        stmt = build()
        for start in range(0, len(rows), 5000):
            conn.execute(stmt, list(rows[start : start + 5000]))
        return
    key = (conn.dialect.name, conn.dialect.paramstyle, *shape, tuple(rows[0]))
    found = _COMPILED.get(key)
    if found is None:
        compiled = build().compile(dialect=conn.dialect, column_keys=list(rows[0]))  # type: ignore[attr-defined]
        names = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup is not None else None
        found = _COMPILED[key] = (str(compiled), names)
    sql, names = found
    params = [tuple(r[k] for k in names) for r in rows] if names is not None else list(rows)
    conn.exec_driver_sql(sql, params)


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str], additive: Iterable[str] = ()) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE: replace non-key columns, or add those in ``additive``."""
    if not rows:
        return
    add = frozenset(additive)

    def build() -> Executable:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table)
        cols = [c for c in rows[0] if c not in keys]
        set_ = {c: (table.c[c] + stmt.excluded[c]) if c in add else stmt.excluded[c] for c in cols}
        done: Executable = stmt.on_conflict_do_update(index_elements=keys, set_=set_) if set_ else stmt.on_conflict_do_nothing()
        return done

    _execute_many(conn, ("upsert", table, tuple(keys), add), build, rows)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT many rows."""
    if rows:
        _execute_many(conn, ("insert", table), lambda: insert(table), rows)
