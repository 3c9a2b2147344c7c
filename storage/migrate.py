"""Run Alembic migrations programmatically (``python -m monitors migrate`` and the main command)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

_HERE = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (all heads)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest schema."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == heads
