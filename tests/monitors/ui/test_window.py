"""Time windows: aligned to their display width, ending with the current bucket."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitors.ui.window import window


@pytest.mark.parametrize(("key", "width", "since", "until"), [
    ("1h", 300, "2026-11-28T09:10:00", "2026-11-28T10:10:00"),
    ("24h", 300, "2026-11-27T10:10:00", "2026-11-28T10:10:00"),
    ("7d", 3600, "2026-11-21T11:00:00", "2026-11-28T11:00:00"),
    ("90d", 86400, "2026-08-31T00:00:00", "2026-11-29T00:00:00"),
])
def test_window_includes_the_current_bucket(key: str, width: int, since: str, until: str) -> None:
    win = window(key, datetime(2026, 11, 28, 10, 7, 31, tzinfo=UTC))
    assert (win.width, win.start.isoformat()[:19], win.end.isoformat()[:19]) == (width, since, until)


def test_unknown_range_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown range '2h'"):
        window("2h", datetime(2026, 11, 28, tzinfo=UTC))
