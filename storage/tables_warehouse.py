"""Tables of the warehouse sources and of coordination between workers.

* ``leases``: generic named leases (holder, expiry, fencing token) — see :mod:`storage.leases_store`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table

from storage.tables import metadata
from storage.types import UTCDateTime

leases = Table(
    "leases",
    metadata,
    Column("name", String(200), nullable=False),
    Column("holder", String(200), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("name"),
)
