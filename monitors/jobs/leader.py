"""Single leader: only the worker holding the leadership runs the scheduler.

Two implementations of one small interface (:class:`Leadership`):

* :class:`LeaseLeadership` — a lease row (``Store.acquire_lease``) renewed every ``ttl / 3``; a
  standby takes over at most ``ttl`` after the leader died. Portable (SQLite, PostgreSQL). Every
  grant carries a higher fencing token, recorded with each job run.
* :class:`AdvisoryLeadership` — ``pg_try_advisory_lock`` on a dedicated PostgreSQL connection;
  the lock vanishes with the leader's connection, so a standby takes over within one poll.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from datetime import datetime
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from storage import Store
from storage.leases_store import Lease

log = logging.getLogger(__name__)
LEADER_NAME = "worker-leader"


class Leadership(Protocol):
    """Who runs the scheduler. ``acquire`` and ``renew`` are cheap and called about every second."""

    holder: str

    def acquire(self, now: datetime) -> bool:
        """Try to become (or stay) the leader."""
        ...

    def renew(self, now: datetime) -> bool:
        """Still the leader? False means: stop scheduling now."""
        ...

    def release(self) -> None:
        """Step down so a standby takes over at once."""
        ...

    @property
    def token(self) -> int | None:
        """Fencing token of the current leadership (None when not leading or not supported)."""
        ...


class LeaseLeadership:
    """Leadership through a lease row named ``name`` with a ``ttl`` in seconds."""

    def __init__(self, store: Store, holder: str, ttl: float, name: str = LEADER_NAME) -> None:
        self.store, self.holder, self.ttl, self.name = store, holder, ttl, name
        self._lease: Lease | None = None

    @property
    def token(self) -> int | None:
        """The lease's fencing token."""
        return self._lease.token if self._lease else None

    def acquire(self, now: datetime) -> bool:
        """Take the lease if it is free or expired (or extend ours)."""
        try:
            self._lease = self.store.acquire_lease(self.name, self.holder, self.ttl, now)
        except SQLAlchemyError as exc:
            log.warning("leader lease: cannot reach the database: %s", type(exc).__name__)
            self._lease = None
        return self._lease is not None

    def renew(self, now: datetime) -> bool:
        """Extend the lease; False once it expired or changed hands."""
        if self._lease is None:
            return False
        try:
            self._lease = self.store.renew_lease(self._lease, self.ttl, now)
        except SQLAlchemyError as exc:
            log.warning("leader lease: renewal failed: %s", type(exc).__name__)
            self._lease = None
        return self._lease is not None

    def release(self) -> None:
        """End the lease now."""
        if self._lease is not None:
            try:
                self.store.release_lease(self._lease)
            except SQLAlchemyError:
                log.warning("leader lease: could not release; it expires in %ss", self.ttl)
            self._lease = None


def advisory_key(name: str) -> int:
    """A stable advisory-lock key for ``name`` (0 ≤ key < 2³², so ``pg_locks.objid`` holds it)."""
    return zlib.crc32(f"ehm:{name}".encode())


class AdvisoryLeadership:
    """Leadership through a PostgreSQL session advisory lock on a dedicated connection."""

    def __init__(self, engine: Engine, holder: str, name: str = LEADER_NAME) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("advisory-lock leadership needs PostgreSQL; use the lease on SQLite")
        self.engine, self.holder, self.name = engine, holder, name
        self.key = advisory_key(name)
        self._conn: Connection | None = None

    @property
    def token(self) -> int | None:
        """Advisory locks carry no fencing token."""
        return None

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            schema = conn.execute(text("SELECT current_schema()")).scalar() or "public"
            self.key = advisory_key(f"{schema}:{self.name}")  # one leader per schema, not per server
            self._conn = conn
        return self._conn

    def acquire(self, now: datetime) -> bool:
        """``pg_try_advisory_lock`` (re-entrant: check first whether we hold it)."""
        if self._conn is not None and self.renew(now):
            return True
        try:
            got = self._connection().execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
        except SQLAlchemyError as exc:
            log.warning("leader lock: cannot reach the database: %s", type(exc).__name__)
            self._drop()
            return False
        return bool(got)

    def renew(self, now: datetime) -> bool:
        """Whether this session still holds the lock (False if the connection broke)."""
        if self._conn is None:
            return False
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
            "AND classid = 0 AND objsubid = 1 AND objid::bigint = :k"
        )
        try:
            held = self._conn.execute(query, {"k": self.key}).scalar()
        except SQLAlchemyError:
            self._drop()
            return False
        return bool(held)

    def release(self) -> None:
        """Unlock and close the dedicated connection."""
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None


def make_leadership(store: Store, mode: str, holder: str, ttl: float) -> Leadership:
    """``auto``: advisory lock on PostgreSQL, lease row elsewhere."""
    if mode == "advisory" or (mode == "auto" and store.dialect == "postgresql"):
        return AdvisoryLeadership(store.engine, holder)
    return LeaseLeadership(store, holder, ttl)
