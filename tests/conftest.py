"""Shared fixtures: a migrated Store on SQLite and (when configured) PostgreSQL.

PostgreSQL tests use ``EHM_TEST_POSTGRES_URL``; each test gets its own schema, dropped afterwards.
Without the URL they skip with a visible reason, unless ``EHM_REQUIRE_POSTGRES=1`` (CI), where a
missing or unreachable server fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from storage import Store

PG_ENV = "EHM_TEST_POSTGRES_URL"


def _pg_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url and os.environ.get("EHM_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{PG_ENV} is required in CI")
    return url


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (dropped after the test)."""
    url = _pg_url()
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file URL in the test's temp folder."""
    return f"sqlite:///{tmp_path / 'ehm.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A database URL for each backend."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated Store on each backend."""
    st = Store.from_url(db_url)
    st.migrate()
    try:
        yield st
    finally:
        st.dispose()
