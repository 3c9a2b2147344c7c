"""Alerting part of the Store: the durable outbox, the notification log and silences.

Enqueueing is one transaction (outbox row + log rows); the log's unique key
``(route, fingerprint, transition)`` turns a second attempt to notify the same transition into
a no-op. Delivery claims a row with a lease before sending, so a dispatcher killed mid-send
leaves the row to be retried once the lease ends, never lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from storage.tables_alerts import alert_log, alert_outbox, alert_silences
from storage.tables_findings import findings

ACTIVE = ("open", "acknowledged")
UNSENT = ("pending", "sending")
_CHUNK = 500


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table here has an integer key
        raise RuntimeError("insert returned no primary key")
    return int(key[0])


def _outbox_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["receipt"] = json.loads(data["receipt"]) if data.get("receipt") else None
    data["closes_thread"] = bool(data.get("closes_thread"))
    return data


class AlertsStore:
    """Outbox, notification log, silences; read-only queries over ``findings``."""

    engine: Engine

    # -- findings, as alerting sees them -------------------------------------------------------

    def alert_candidates(self, resolved_since: datetime | None = None) -> list[dict[str, Any]]:
        """Findings that may need a notification: open or acknowledged ones, any finding a route
        notified as firing without a later ``resolved`` (so its resolution is not missed), and
        those that ended at or after ``resolved_since`` (they may still inhibit others)."""
        later_resolved = alert_log.alias("r")
        open_notified = (
            select(alert_log.c.fingerprint)
            .where(alert_log.c.transition.like("firing:%"))
            .where(
                ~exists().where(
                    and_(
                        later_resolved.c.route == alert_log.c.route,
                        later_resolved.c.fingerprint == alert_log.c.fingerprint,
                        later_resolved.c.transition.like("resolved%"),
                        later_resolved.c.id > alert_log.c.id,
                    )
                )
            )
        )
        wanted: list[ColumnElement[bool]] = [
            findings.c.status.in_(ACTIVE),
            findings.c.fingerprint.in_(open_notified),
        ]
        if resolved_since is not None:
            wanted.append(findings.c.ended_at >= resolved_since)
        query = select(findings).where(or_(*wanted)).order_by(findings.c.id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # -- notification log ----------------------------------------------------------------------

    def alert_log_for(self, fingerprints: Sequence[str]) -> list[dict[str, Any]]:
        """Log rows of these fingerprints, oldest first."""
        rows: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(fingerprints))):
                query = select(alert_log).where(alert_log.c.fingerprint.in_(chunk))
                rows.extend(dict(r._mapping) for r in conn.execute(query))
        return sorted(rows, key=lambda r: r["id"])

    def group_last_sent(self, group_hashes: Sequence[str]) -> dict[tuple[str, str], datetime]:
        """``(route, group_hash)`` → when that group last got a message."""
        out: dict[tuple[str, str], datetime] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(group_hashes))):
                query = (
                    select(alert_log.c.route, alert_log.c.group_hash, func.max(alert_log.c.at))
                    .where(alert_log.c.group_hash.in_(chunk), alert_log.c.outbox_id.is_not(None))
                    .group_by(alert_log.c.route, alert_log.c.group_hash)
                )
                for route, group, at in conn.execute(query):
                    out[(route, group)] = at
        return out

    def enqueue_notification(
        self, outbox: Mapping[str, Any] | None, log_rows: Sequence[Mapping[str, Any]]
    ) -> int | None:
        """In one transaction: add the outbox row (if any) and the log rows pointing at it.

        A row without ``thread_id`` starts a thread: its own id. Returns the outbox id (0 when
        only log rows were written), or None when another dispatcher already logged one of
        these transitions (nothing is written then).
        """
        try:
            with self.engine.begin() as conn:
                outbox_id = 0
                thread_id = outbox.get("thread_id") if outbox else None
                if outbox is not None:
                    values = {**outbox, "status": "pending", "attempts": 0}
                    outbox_id = _new_id(conn.execute(insert(alert_outbox).values(**values)))
                    if thread_id is None:
                        thread_id = outbox_id
                        conn.execute(
                            update(alert_outbox)
                            .where(alert_outbox.c.id == outbox_id)
                            .values(thread_id=outbox_id)
                        )
                if log_rows:
                    rows = [
                        {**r, "outbox_id": outbox_id or None, "thread_id": r.get("thread_id", thread_id)}
                        for r in log_rows
                    ]
                    conn.execute(insert(alert_log), rows)
                return outbox_id
        except IntegrityError:
            return None

    # -- outbox --------------------------------------------------------------------------------

    def unsent_outbox(self, limit: int = 500) -> list[dict[str, Any]]:
        """Pending or in-flight rows, oldest first."""
        query = (
            select(alert_outbox)
            .where(alert_outbox.c.status.in_(UNSENT))
            .order_by(alert_outbox.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_outbox_dict(r) for r in conn.execute(query)]

    def claim_outbox(self, outbox_id: int, now: datetime, until: datetime) -> bool:
        """Take a due row for sending until ``until`` (a lease); False if it is not due or taken."""
        due = or_(
            and_(alert_outbox.c.status == "pending", alert_outbox.c.next_attempt_at <= now),
            and_(alert_outbox.c.status == "sending", alert_outbox.c.claimed_until <= now),
        )
        stmt = (
            update(alert_outbox)
            .where(alert_outbox.c.id == outbox_id, due)
            .values(status="sending", claimed_until=until, attempts=alert_outbox.c.attempts + 1)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def finish_outbox(
        self,
        outbox_id: int,
        status: str,
        now: datetime,
        *,
        error: str | None = None,
        receipt: Mapping[str, Any] | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Record the outcome: ``sent`` (with receipt), ``pending`` (retry at ``next_attempt_at``) or ``failed``."""
        values: dict[str, Any] = {"status": status, "claimed_until": None, "last_error": error}
        if status == "sent":
            values.update(sent_at=now, receipt=json.dumps(dict(receipt or {}), sort_keys=True))
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self.engine.begin() as conn:
            conn.execute(update(alert_outbox).where(alert_outbox.c.id == outbox_id).values(**values))

    def outbox_row(self, outbox_id: int) -> dict[str, Any] | None:
        """One outbox row (``receipt`` decoded)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_outbox).where(alert_outbox.c.id == outbox_id)).first()
        return _outbox_dict(row) if row is not None else None

    def list_outbox(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest outbox rows first, optionally of one status (``failed`` shows permanent failures)."""
        query = select(alert_outbox).order_by(alert_outbox.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(alert_outbox.c.status == status)
        with self.engine.connect() as conn:
            return [_outbox_dict(r) for r in conn.execute(query)]

    def outbox_counts(self) -> dict[str, int]:
        """Rows per status."""
        query = select(alert_outbox.c.status, func.count()).group_by(alert_outbox.c.status)
        with self.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(query)}

    # -- silences ------------------------------------------------------------------------------

    def add_silence(
        self,
        matchers: Mapping[str, Any],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        now: datetime,
    ) -> int:
        """Store a silence; returns its id."""
        values = {
            "matchers": json.dumps(dict(matchers), sort_keys=True),
            "starts_at": starts_at,
            "ends_at": ends_at,
            "created_by": created_by,
            "comment": comment,
            "created_at": now,
        }
        with self.engine.begin() as conn:
            return _new_id(conn.execute(insert(alert_silences).values(**values)))

    def list_silences(
        self, now: datetime | None = None, *, include_expired: bool = False
    ) -> list[dict[str, Any]]:
        """Silences (``matchers`` decoded); without ``include_expired`` only those not yet ended at ``now``."""
        query = select(alert_silences).order_by(alert_silences.c.id)
        if not include_expired and now is not None:
            query = query.where(alert_silences.c.ends_at > now)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["matchers"] = json.loads(row["matchers"])
        return rows

    def expire_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence at ``now``; False when it does not exist or already ended."""
        stmt = (
            update(alert_silences)
            .where(alert_silences.c.id == silence_id, alert_silences.c.ends_at > now)
            .values(ends_at=now)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1
