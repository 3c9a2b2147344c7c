"""Findings shared by every detector, and the actions people take on them."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from storage.tables import metadata
from storage.types import UTCDateTime

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(32), nullable=False, unique=True),
    Column("kind", String(48), nullable=False),
    Column("source", String(128), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("event", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("observed", Float, nullable=True),
    Column("expected", Float, nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Column("last_seen_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_by", String(128), nullable=True),
    Column("status_at", UTCDateTime(), nullable=True),
    Column("snoozed_until", UTCDateTime(), nullable=True),
    Column("baseline", String(8), nullable=True),
    Column("evidence", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
Index("ix_findings_status", findings.c.status, findings.c.kind)
Index("ix_findings_event", findings.c.source, findings.c.environment, findings.c.event)

finding_actions = Table(
    "finding_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("finding_id", Integer, ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("note", Text, nullable=True),
)
Index("ix_finding_actions_finding", finding_actions.c.finding_id)
