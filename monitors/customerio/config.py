"""Config section owned by `monitors.customerio` (filled in by its issue)."""

from __future__ import annotations

from monitors.configbase import StrictModel


class CustomerIOConfig(StrictModel):
    """The `customerio:` section of the config file."""
