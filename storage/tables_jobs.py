"""Tables owned by the worker: one row per job run (and per missed or skipped run).

``job_runs`` — job name, the worker that ran it (``host:pid``) with its leader fencing token,
when it was due and when it started and ended, ``status`` (running, ok, partial, error,
skipped, missed), rows handled, a one-line summary and the error. The dashboard's
"Sources and jobs" page reads it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from storage.tables import metadata
from storage.types import UTCDateTime

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(160), nullable=False),
    Column("worker", String(160), nullable=False),
    Column("token", BigInteger, nullable=True),
    Column("scheduled_at", UTCDateTime(), nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("rows", BigInteger, nullable=True),
    Column("message", Text, nullable=True),
    Column("error", Text, nullable=True),
)
Index("ix_job_runs_job", job_runs.c.job, job_runs.c.started_at)
Index("ix_job_runs_started", job_runs.c.started_at)
