"""Windows split into whole days, whole hours and raw edges."""

from __future__ import annotations

from monitors.ui.queries.tiling import tiles

D, H = 86400, 3600


def test_a_week_ending_mid_hour_reads_days_hours_and_raw_edges() -> None:
    since, until = 10 * D + 5 * H + 600, 17 * D + 9 * H + 1200
    assert tiles(since, until, 300) == [
        (since, 10 * D + 6 * H, 300), (10 * D + 6 * H, 11 * D, H), (11 * D, 17 * D, D),
        (17 * D, 17 * D + 9 * H, H), (17 * D + 9 * H, until, 300)]


def test_short_windows_stay_raw_and_hour_only_reads_skip_days() -> None:
    assert tiles(H + 300, 2 * H - 300, 300) == [(H + 300, 2 * H - 300, 300)]
    assert tiles(0, 2 * D, 300, widths=(H,)) == [(0, 2 * D, H)]
