"""Config section owned by `monitors.alerts` (filled in by its issue)."""

from __future__ import annotations

from monitors.configbase import StrictModel


class AlertsConfig(StrictModel):
    """The `alerts:` section of the config file."""
