"""The Store: the only place SQL is written. One class, composed of one mixin per domain
(metrics, findings, detector state, Customer.io activity, alerts, jobs), each in its own module."""

from __future__ import annotations

from typing import Self

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from monitors.errors import DatabaseError
from storage import migrate
from storage.alerts_store import AlertsStore
from storage.customerio_store import CustomerIOStore
from storage.detector_store import DetectorStore
from storage.engine import make_engine, redact_url
from storage.findings_store import FindingsStore
from storage.jobs_store import JobsStore
from storage.leases_store import LeasesStore
from storage.metrics_read import MetricsReader
from storage.metrics_store import MetricsStore
from storage.rollups import RollupStore
from storage.semantic_store import SemanticStore
from storage.tables import meta
from storage.warehouse_store import WarehouseStore


class Store(MetricsStore, MetricsReader, FindingsStore, DetectorStore, CustomerIOStore, AlertsStore, LeasesStore, JobsStore, WarehouseStore, RollupStore, SemanticStore):
    """Owns the engine and every query. Create with :meth:`from_url`; call :meth:`migrate` first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str) -> Self:
        """Open the store at ``url`` (SQLite path URL or PostgreSQL URL)."""
        return cls(make_engine(url))

    @property
    def url(self) -> str:
        """The database URL with the password hidden."""
        return redact_url(self.engine.url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def ping(self) -> None:
        """Raise :class:`DatabaseError` with advice if the database cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, SQLAlchemyError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
            raise DatabaseError(
                f"cannot reach the database {self.url}: {reason} — check the URL (--db) and that the server is up"
            ) from exc

    def migrate(self) -> None:
        """Create or upgrade the schema (Alembic, all heads)."""
        self.ping()
        migrate.upgrade(self.engine)

    def ensure_current(self) -> None:
        """Raise :class:`DatabaseError` if the schema is missing or old."""
        self.ping()
        if not migrate.is_current(self.engine):
            raise DatabaseError(f"the database {self.url} is not migrated — run `python -m monitors migrate --db URL`")

    def get_meta(self, key: str) -> str | None:
        """A value from the ``meta`` table."""
        with self.engine.connect() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
