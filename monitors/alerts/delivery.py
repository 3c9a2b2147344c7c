"""Deliver the outbox: per receiver, oldest first; retry with backoff; record every outcome.

Each receiver's rows go out in order: while its oldest unsent row waits for a retry, later rows
wait too (a resolved message never overtakes its firing message). A row is claimed with a lease
before sending; a dispatcher killed mid-send leaves it ``sending`` until the lease ends, then
the next run sends it again (at-least-once in that one window; webhook receivers can drop the
duplicate by ``X-EHM-Delivery``, PagerDuty by ``dedup_key``). Retryable failures wait
``Retry-After`` when given, else an exponential backoff; after ``give_up_after`` — or at once for
permanent failures — the row is ``failed`` with its reason, visible in ``alerts outbox``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitors.alerts.config import DeliveryConfig
from monitors.alerts.message import Message
from monitors.alerts.sinks import Delivery, Sink
from monitors.errors import DeliveryError
from monitors.timeutil import parse_duration
from storage import Store

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, config: DeliveryConfig) -> float:
    """Seconds before retry number ``attempts`` (1, 2, …): doubling from ``backoff`` up to ``max_backoff``."""
    base, cap = parse_duration(config.backoff), parse_duration(config.max_backoff)
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def _due(row: Mapping[str, Any], now: datetime) -> bool:
    if row["status"] == "pending":
        return bool(row["next_attempt_at"] <= now)
    return row["claimed_until"] is None or bool(row["claimed_until"] <= now)


def _delivery(store: Store, row: Mapping[str, Any]) -> Delivery:
    thread_id = row.get("thread_id")
    receipt, root_message = None, None
    if thread_id and thread_id != row["id"]:
        root = store.outbox_row(int(thread_id))
        if root is not None and root["status"] == "sent":
            receipt = root["receipt"]
            root_message = Message.from_dict(json.loads(root["message"]))
    return Delivery(str(row["id"]), receipt, root_message, bool(row.get("closes_thread")))


def _send(
    store: Store, sink: Sink, row: Mapping[str, Any], now: datetime, config: DeliveryConfig
) -> tuple[str, str]:
    """Send one claimed row; returns ``sent``, ``pending`` (retry later) or ``failed``, and the error."""
    attempts = int(row["attempts"]) + 1
    try:
        message = Message.from_dict(json.loads(row["message"]))
        receipt = sink.send(message, _delivery(store, row))
    except DeliveryError as exc:
        return _failure(store, row, now, config, attempts, str(exc), exc.retryable, exc.retry_after)
    except Exception as exc:  # a bug must not lose the alert: keep retrying until give-up
        log.exception("alert delivery #%s crashed", row["id"])
        return _failure(
            store, row, now, config, attempts, f"internal error: {type(exc).__name__}", True, None
        )
    store.finish_outbox(int(row["id"]), "sent", now, receipt=receipt)
    log.info("alert #%s sent to %s", row["id"], row["receiver"])
    return "sent", ""


def _failure(
    store: Store,
    row: Mapping[str, Any],
    now: datetime,
    config: DeliveryConfig,
    attempts: int,
    error: str,
    retryable: bool,
    retry_after: float | None,
) -> tuple[str, str]:
    give_up = row["created_at"] + timedelta(seconds=parse_duration(config.give_up_after))
    if retryable and now < give_up:
        wait = retry_after if retry_after is not None else backoff(attempts, config)
        store.finish_outbox(
            int(row["id"]), "pending", now, error=error, next_attempt_at=now + timedelta(seconds=wait)
        )
        log.warning(
            "alert #%s to %s failed (attempt %d), retrying in %.0fs: %s",
            row["id"],
            row["receiver"],
            attempts,
            wait,
            error,
        )
        return "pending", error
    reason = error if not retryable else f"gave up after {attempts} attempts: {error}"
    store.finish_outbox(int(row["id"]), "failed", now, error=reason)
    log.error("alert #%s to %s failed permanently: %s", row["id"], row["receiver"], reason)
    return "failed", reason


def deliver(store: Store, sinks: Mapping[str, Sink], config: DeliveryConfig, now: datetime) -> DeliveryReport:
    """Send every due outbox row, receiver by receiver in order."""
    report = DeliveryReport()
    blocked: set[str] = set()
    lease = timedelta(seconds=parse_duration(config.lease))
    for row in store.unsent_outbox(config.batch):
        receiver = row["receiver"]
        if receiver in blocked or not _due(row, now):
            blocked.add(receiver)
            report.waiting += 1
            continue
        sink = sinks.get(receiver)
        if sink is None:
            store.finish_outbox(
                int(row["id"]), "failed", now, error=f"receiver {receiver} is no longer configured"
            )
            report.failed += 1
            continue
        if not store.claim_outbox(int(row["id"]), now, now + lease):
            blocked.add(receiver)
            continue
        outcome, error = _send(store, sink, row, now, config)
        if outcome == "sent":
            report.sent += 1
        elif outcome == "pending":
            report.retrying += 1
            blocked.add(receiver)
        else:
            report.failed += 1
        if error:
            report.errors.append(f"#{row['id']} {receiver}: {error}")
    return report
