"""Config section owned by `monitors.detectors` (filled in by its issue)."""

from __future__ import annotations

from monitors.configbase import StrictModel


class DetectorsConfig(StrictModel):
    """The `detectors:` section of the config file."""
