"""Warehouses to read from: a PostgreSQL schema and a DuckDB file, both real."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.sql import functions

from storage import Store

PG_ENV = "EHM_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def _no_leaked_sql_functions() -> Iterator[None]:
    """sqlalchemy-bigquery registers a global ``func.unnest`` (without ``inherit_cache``) when its
    dialect is loaded; every later ``func.unnest`` on any dialect then warns. Undo it after each test."""
    yield
    registry = functions._registry["_default"]
    leaked = registry.get("unnest")
    if leaked is not None and leaked.__module__.startswith("sqlalchemy_bigquery"):
        del registry["unnest"]


@dataclass
class Warehouse:
    """A warehouse engine, its URL (for the env var a source names) and the schema holding the tables."""

    engine: Engine
    url: str
    schema: str | None


def _pg(tmp_path: Path) -> Iterator[Warehouse]:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL warehouse tests need {PG_ENV}")
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"wh_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Warehouse(engine, url, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _duckdb(tmp_path: Path) -> Iterator[Warehouse]:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    engine = create_engine(url)
    try:
        yield Warehouse(engine, url, None)
    finally:
        engine.dispose()


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "duckdb"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse on PostgreSQL and on DuckDB."""
    yield from (_pg if request.param == "postgresql" else _duckdb)(tmp_path)


@pytest.fixture
def pg_warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    """An empty PostgreSQL warehouse schema."""
    yield from _pg(tmp_path)


@pytest.fixture
def duck_warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    """An empty DuckDB warehouse."""
    yield from _duckdb(tmp_path)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store."""
    st = Store.from_url(f"sqlite:///{tmp_path / 'ehm.sqlite'}")
    st.migrate()
    try:
        yield st
    finally:
        st.dispose()
