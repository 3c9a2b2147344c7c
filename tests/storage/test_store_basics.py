from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert

from monitors.errors import DatabaseError
from storage import Store
from storage.engine import normalise_url
from storage.migrate import alembic_config
from storage.tables import metadata, property_stats, series


def test_migrate_is_idempotent_and_current(store: Store) -> None:
    store.migrate()
    store.ensure_current()


def test_unmigrated_database_is_reported(sqlite_url: str) -> None:
    st = Store.from_url(sqlite_url)
    with pytest.raises(DatabaseError, match="not migrated"):
        st.ensure_current()


def test_unreachable_database_hides_password() -> None:
    st = Store.from_url("postgresql://bob:s3cret@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as info:
        st.ping()
    assert "s3cret" not in str(info.value)
    assert "check the URL" in str(info.value)


@pytest.mark.parametrize("url", ["mysql://bob:s3cret@db/ehm", "duckdb:///metrics.db", "http://example.com/x"])
def test_other_databases_are_refused_with_the_two_that_work(url: str) -> None:
    """``mysql://`` said only "No module named 'MySQLdb'" (with the driver, the Store's SQL would fail
    later); ``duckdb://`` went on to open a file."""
    with pytest.raises(DatabaseError) as info:
        Store.from_url(url)
    assert "the metric store is SQLite (sqlite:///path) or PostgreSQL (postgresql://user@host/db)" in str(info.value)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("url", ["postgresql+psycopg2://bob@db/ehm", "postgresql+asyncpg://bob@db/ehm",
                                 "postgres://bob@db/ehm", "postgresql://bob@db/ehm"])  # fmt: skip
def test_any_postgresql_driver_in_a_url_uses_psycopg(url: str) -> None:
    """A URL copied from another tool named psycopg2 ("No module named 'psycopg2'"): the server is
    the same, so the installed driver is used."""
    assert str(normalise_url(url)) == "postgresql+psycopg://bob@db/ehm"


def test_property_keys_migration_matches_its_table_and_knows_the_keys_stored_before_it(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "property_keys" in repr(d)] == []
    # back to before the table, with property stats stored: the upgrade makes their keys known
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "property_keys@0001_foundation")
        conn.execute(insert(series), [{"id": 1, "source": "web", "environment": "production", "event": "E",
                                       "msg_type": "track", "first_seen": 0, "last_seen": 0}])  # fmt: skip
        conn.execute(insert(property_stats), [
            {"series_id": 1, "bucket_start": b, "property": p, "json_type": "VARCHAR", "count": 1}
            for b in (0, 300) for p in ("a", "b")])  # fmt: skip
    with pytest.raises(DatabaseError, match="not migrated"):
        store.ensure_current()
    store.migrate()
    assert store.property_keys("web", "production") == {("E", "track"): {"a", "b"}}
    assert store.property_keys("web", "staging") == {}


def test_concurrent_first_migrations_run_one_after_the_other(db_url: str) -> None:
    """Two or three first ingests into a new database all migrate it: on PostgreSQL they once
    created the same tables at once (UniqueViolation), on SQLite one met 'database is locked'."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-m", "monitors", "migrate", "--db", db_url], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert not any("Traceback" in err for _, err in outs)
    st = Store.from_url(db_url)
    try:
        st.ensure_current()
    finally:
        st.dispose()
