"""Tables owned by `monitors.customerio` (added by its issue)."""

from __future__ import annotations

from storage.tables import metadata  # noqa: F401
