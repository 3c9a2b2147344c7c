"""Alerting part of the Store (filled in by the alerting issue)."""

from __future__ import annotations


class AlertsStore:
    """Outbox, notification log, silences."""
