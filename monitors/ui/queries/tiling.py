"""Read a window at the coarsest resolutions that tile it: whole days from the day rollups, whole
hours from the hour rollups, the ragged edges from raw buckets. Percentiles over a window then
merge a few hundred sketches instead of tens of thousands (the Store falls back to raw buckets
by itself when a rollup is not up to date)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from storage import Store

DAY, HOUR = 86400, 3600


def tiles(since: int, until: int, raw: int, widths: Sequence[int] = (DAY, HOUR)) -> list[tuple[int, int, int]]:
    """``[since, until)`` as (lo, hi, width) pieces: the coarsest widths first, raw for what is left."""
    out: list[tuple[int, int, int]] = []

    def cover(lo: int, hi: int, rest: Sequence[int]) -> None:
        if lo >= hi:
            return
        if not rest:
            out.append((lo, hi, raw))
            return
        width = rest[0]
        first, last = -(-lo // width) * width, hi - hi % width
        if last - first >= width:
            cover(lo, first, rest[1:])
            out.append((first, last, width))
            cover(last, hi, rest[1:])
        else:
            cover(lo, hi, rest[1:])

    cover(since, until, [w for w in widths if w > raw])
    return sorted(out)


def latency_rows(store: Store, since: int, until: int, *, raw: int, hop: str | None = None,
                 widths: Sequence[int] = (DAY, HOUR), **where: str) -> pd.DataFrame:  # fmt: skip
    """Sketch rows covering ``[since, until)``; ``bucket_start`` is each piece's own bucket."""
    parts = [store.ui_latency_rows(lo, hi, width=w, hop=hop, **where) for lo, hi, w in tiles(since, until, raw, widths)]  # type: ignore[arg-type]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return store.ui_latency_rows(since, since, hop=hop)
    return pd.concat(parts, ignore_index=True)
