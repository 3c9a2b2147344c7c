"""Run Alembic migrations programmatically (``python -m monitors migrate`` and the main command)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

_HERE = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    return cfg


_MIGRATION_LOCK = 0x45484D5F4D494752  # PostgreSQL advisory lock key ("EHM_MIGR")


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (all heads). Concurrent upgrades (two first ingests
    into a new database) run one after the other: the second finds the schema current. SQLite
    takes its write lock up front (BEGIN IMMEDIATE, waiting out the busy timeout); PostgreSQL a
    transaction-scoped advisory lock (else both create the same tables and one fails)."""
    cfg = alembic_config()
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest schema."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads
