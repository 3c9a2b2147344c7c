"""Named leases with a holder, an expiry and a fencing token, on PostgreSQL and SQLite.

A lease says "``holder`` may do the work called ``name`` until ``expires_at``". Several processes
(or machines) sharing one store use it to make sure a job runs in one place at a time: the
scheduler leader (``worker-leader``), one collector per warehouse source (``warehouse:<source>``).

Usage::

    holder = new_holder_id()                      # once per process
    lease = store.acquire_lease("warehouse:shop", holder, ttl=120, now=utcnow())
    if lease is None:
        return                                    # someone else holds it; try again later
    ...                                           # work; every < ttl/3 s:
    lease = store.renew_lease(lease, ttl=120, now=utcnow())
    if lease is None:
        abort()                                   # lost it (expired and maybe taken): stop writing
    ...
    store.release_lease(lease)                    # done: the next acquirer need not wait

Semantics (all operations are single atomic statements, safe under concurrency):

* :meth:`LeasesStore.acquire_lease` grants the lease if nobody holds it, if the last holder's lease
  has expired, or if ``holder`` already holds it (then it is extended and keeps its token).
  Otherwise it returns ``None``.
* The **fencing token** increases by one every time the lease is granted anew (first grant,
  another holder, or the same holder after its lease expired or was released); it never goes back.
  A writer that passes its token along with its writes lets the store refuse a stale holder that
  was paused past its expiry: inside a write transaction call :meth:`LeasesStore.fence_lease` (other Store
  mixins) or, from outside, :meth:`LeasesStore.holds_lease`.
* :meth:`LeasesStore.renew_lease` extends a lease that is still valid and still carries the same
  token; once expired it fails even if nobody took over (acquire again to get a new token).
* :meth:`LeasesStore.release_lease` ends the lease now (only the current holder with the current token).

Time: ``now`` is passed in (aware UTC) so tests control it; in production pass ``utcnow()``.
Holders on different machines need clocks within a small fraction of ``ttl`` of each other (NTP).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from storage.tables_warehouse import leases


class LeaseLostError(RuntimeError):
    """A write was fenced off: the caller's lease expired or another holder took it over."""


@dataclass(frozen=True)
class Lease:
    """A granted lease: who holds ``name``, with which fencing ``token``, until when (aware UTC)."""

    name: str
    holder: str
    token: int
    acquired_at: datetime
    expires_at: datetime


def new_holder_id(prefix: str = "") -> str:
    """A holder id unique to this process and call: ``[prefix:]host:pid:random``."""
    parts = [prefix] if prefix else []
    parts += [socket.gethostname()[:80], str(os.getpid()), uuid.uuid4().hex[:12]]
    return ":".join(parts)


def _lease(row: Any) -> Lease:
    return Lease(row.name, row.holder, int(row.token), row.acquired_at, row.expires_at)


def _seconds(ttl: float | timedelta) -> timedelta:
    delta = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    if delta <= timedelta(0):
        raise ValueError(f"lease ttl must be positive, got {ttl!r}")
    return delta


class LeasesStore:
    """Acquire, renew, release and inspect named leases (see the module docstring)."""

    engine: Engine

    def acquire_lease(self, name: str, holder: str, ttl: float | timedelta, now: datetime) -> Lease | None:
        """Take ``name`` for ``holder`` until ``now + ttl`` (seconds or timedelta).

        Returns the lease, or ``None`` if another holder has an unexpired lease on it. Re-acquiring a
        lease one already holds extends it and keeps its token.
        """
        expires = now + _seconds(ttl)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(leases).values(
            name=name, holder=holder, token=1, acquired_at=now, expires_at=expires
        )
        mine = and_(leases.c.holder == holder, leases.c.expires_at > now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "holder": holder,
                "token": case((mine, leases.c.token), else_=leases.c.token + 1),
                "acquired_at": case((mine, leases.c.acquired_at), else_=now),
                "expires_at": expires,
            },
            where=or_(leases.c.holder == holder, leases.c.expires_at <= now),
        ).returning(*leases.c)
        with self._lease_writer() as conn, conn.begin():
            row = conn.execute(stmt).first()
        return None if row is None else _lease(row)

    def renew_lease(self, lease: Lease, ttl: float | timedelta, now: datetime) -> Lease | None:
        """Extend a still-valid lease to ``now + ttl``; ``None`` if it expired or changed hands."""
        expires = now + _seconds(ttl)
        stmt = (
            update(leases)
            .where(self._lease_valid(lease, now))
            .values(expires_at=expires)
            .returning(*leases.c)
        )
        with self._lease_writer() as conn, conn.begin():
            row = conn.execute(stmt).first()
        return None if row is None else _lease(row)

    def release_lease(self, lease: Lease) -> bool:
        """End the lease so others can take it at once; False if it had already changed hands.

        The row stays (expired) so that the next grant gets a higher token.
        """
        cond = and_(
            leases.c.name == lease.name, leases.c.holder == lease.holder, leases.c.token == lease.token
        )
        with self._lease_writer() as conn, conn.begin():
            return bool(
                conn.execute(update(leases).where(cond).values(expires_at=leases.c.acquired_at)).rowcount
            )

    def current_lease(self, name: str, now: datetime) -> Lease | None:
        """The unexpired lease on ``name``, if any."""
        query = select(leases).where(leases.c.name == name, leases.c.expires_at > now)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _lease(row)

    def holds_lease(self, lease: Lease, now: datetime) -> bool:
        """Whether ``lease`` is still valid at ``now`` (same holder and token, not expired)."""
        with self.engine.connect() as conn:
            return (
                conn.execute(select(leases.c.name).where(self._lease_valid(lease, now))).first() is not None
            )

    def list_leases(self, prefix: str = "") -> list[Lease]:
        """Every lease row whose name starts with ``prefix`` (expired ones too), by name."""
        query = select(leases).order_by(leases.c.name)
        if prefix:
            query = query.where(leases.c.name.startswith(prefix, autoescape=True))
        with self.engine.connect() as conn:
            return [_lease(r) for r in conn.execute(query).all()]

    def forget_lease(self, name: str) -> None:
        """Delete a lease row (administration; the token history of ``name`` restarts)."""
        with self._lease_writer() as conn, conn.begin():
            conn.execute(delete(leases).where(leases.c.name == name))

    def fence_lease(self, conn: Connection, lease: Lease, now: datetime) -> None:
        """Inside a write transaction: raise :class:`LeaseLostError` unless ``lease`` is still valid.

        On PostgreSQL the lease row is locked (``FOR SHARE``) until the transaction ends, so a
        takeover cannot slip in between this check and the commit; SQLite writers are serial.
        """
        query = select(leases.c.token).where(self._lease_valid(lease, now))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        if conn.execute(query).first() is None:
            raise LeaseLostError(
                f"lease {lease.name!r} (token {lease.token}) is no longer held by {lease.holder!r} — "
                "another worker took over; this run's results were not written"
            )

    @staticmethod
    def _lease_valid(lease: Lease, now: datetime) -> Any:
        return and_(
            leases.c.name == lease.name,
            leases.c.holder == lease.holder,
            leases.c.token == lease.token,
            leases.c.expires_at > now,
        )

    def _lease_writer(self) -> Connection:
        # BEGIN IMMEDIATE on SQLite: take the write lock first, wait on busy_timeout, never fail late.
        return self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")


__all__ = ["Lease", "LeaseLostError", "LeasesStore", "new_holder_id"]
