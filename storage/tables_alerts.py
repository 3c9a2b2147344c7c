"""Tables owned by `monitors.alerts` (added by its issue)."""

from __future__ import annotations

from storage.tables import metadata  # noqa: F401
