"""The metric store: SQLAlchemy Core tables, the :class:`Store` (the only place SQL is written)
and Alembic migrations. SQLite by default, PostgreSQL by URL; the same behaviour on both."""

from storage.store import Store

__all__ = ["Store"]
