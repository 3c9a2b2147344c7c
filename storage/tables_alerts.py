"""Tables owned by `monitors.alerts`: the outbox, the notification log and silences.

* ``alert_outbox`` — one row per message to deliver to one receiver (the format-neutral
  message as JSON, never a secret), with its delivery status, attempts, last error and receipt.
* ``alert_log`` — which transition of which finding each route has notified; the unique key
  ``(route, fingerprint, transition)`` makes every state change notified at most once per route.
* ``alert_silences`` — time-boxed label matchers.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from storage.tables import metadata
from storage.types import UTCDateTime

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(128), nullable=False),
    Column("receiver", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("group_hash", String(32), nullable=False),
    Column("thread_id", Integer, nullable=True),
    Column("closes_thread", Boolean, nullable=False, default=False),
    Column("message", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("claimed_until", UTCDateTime(), nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("receipt", Text, nullable=True),
)
Index("ix_alert_outbox_status", alert_outbox.c.status, alert_outbox.c.receiver, alert_outbox.c.id)

alert_log = Table(
    "alert_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("route", String(128), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    Column("transition", String(48), nullable=False),
    Column("group_hash", String(32), nullable=False),
    Column("outbox_id", Integer, ForeignKey("alert_outbox.id", ondelete="SET NULL"), nullable=True),
    Column("thread_id", Integer, nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    UniqueConstraint("route", "fingerprint", "transition", name="uq_alert_log_transition"),
)
Index("ix_alert_log_group", alert_log.c.route, alert_log.c.group_hash)
Index("ix_alert_log_fingerprint", alert_log.c.fingerprint)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
Index("ix_alert_silences_ends", alert_silences.c.ends_at)
