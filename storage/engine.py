"""Engine creation: URL normalisation, SQLite pragmas (WAL, busy timeout), secret-free rendering."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from monitors.errors import DatabaseError

DEFAULT_URL = "sqlite:///data/ehm.sqlite"


def normalise_url(url: str) -> URL:
    """Parse a database URL; ``postgresql://``, ``postgres://`` and URLs naming another PostgreSQL
    driver (``postgresql+psycopg2://``, copied from another tool) use psycopg 3, the one installed."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number, an unclosed [
        raise DatabaseError(f"not a database URL: {redact_url(url)!r} (use sqlite:///path or postgresql://…)") from exc
    if parsed.drivername.split("+")[0] == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


_SECRET_PARAM = re.compile(r"pass|secret|token|key", re.I)


def redact_url(url: str | URL) -> str:
    """The URL with any password hidden, for logs and messages: the user's password and query
    parameters that carry secrets (``?password=…``, ``sslpassword``, ``sslkey``…)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
        hidden = {k: "***" for k in parsed.query if _SECRET_PARAM.search(k)}
        rendered = (parsed.update_query_dict(hidden) if hidden else parsed).render_as_string(hide_password=True)
        return rendered.replace("%2A%2A%2A", "***")
    except Exception:
        return "<unparseable database URL>"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin) instead of pysqlite's implicit one.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for BEGIN IMMEDIATE (execution option ``sqlite_begin``) so that a read-then-write
    # transaction takes the write lock up front and waits (busy_timeout) instead of failing later.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite files, create the parent folder and set WAL + busy timeout."""
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 15}
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() != "postgresql":  # the Store's SQL (upserts, locks) is written for these two
        raise DatabaseError(f"cannot use database {redact_url(parsed)}: the metric store is SQLite "
                            "(sqlite:///path) or PostgreSQL (postgresql://user@host/db), not "
                            f"{parsed.get_backend_name()}")  # fmt: skip
    kwargs["pool_pre_ping"] = True
    kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        return create_engine(parsed, **kwargs)
    except Exception as exc:  # missing driver and the like
        raise DatabaseError(f"cannot use database {redact_url(parsed)}: {exc}") from exc
