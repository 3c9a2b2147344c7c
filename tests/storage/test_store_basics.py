from __future__ import annotations

import pytest

from monitors.errors import DatabaseError
from storage import Store


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
