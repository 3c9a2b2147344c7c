"""Alembic environment: runs on the connection handed in by :mod:`storage.migrate`."""

from __future__ import annotations

from alembic import context

import storage.all_tables  # noqa: F401  (registers every table on the metadata)
from storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only used through storage.migrate
    raise RuntimeError("run migrations with `python -m monitors migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
