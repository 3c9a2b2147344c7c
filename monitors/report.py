"""Bucket metrics as records for people and scripts (``metrics`` command, dashboard, API).

Reads raw bucket rows from the store and rolls them up to the requested width: counts add,
latency sketches and user sketches merge, so percentiles over any window stay within the sketch's
1 % error (per-bucket percentiles are never averaged).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pandas as pd

from monitors.sketch import HLL, LatencySketch
from monitors.timeutil import iso
from storage import Store

HOPS = ("send", "deliver", "e2e")
QUANTILES = (0.5, 0.95, 0.99)
COLUMNS = (
    "source", "environment", "event", "type", "bucket_start", "bucket_seconds", "count",
    "latency_p50_s", "latency_p95_s", "latency_p99_s", "latency_hop",
    *(f"{hop}_{q}_s" for hop in HOPS for q in ("p50", "p95", "p99")),
    "conforming", "checked", "sample_rate", "conformance_rate", "violations", "violation_details",
    "identified", "users_estimate", "leak_suspect", "leak_signals",
)  # fmt: skip
"""The keys of every record of :func:`metric_records`, in order (the CSV header, even of no records)."""


WEEK = 7 * 86400
MONDAY = 4 * 86400  # 1970-01-05, the first Monday after the epoch (a Thursday)


def bucket_origin(width: int) -> int:
    """Where buckets of ``width`` seconds are counted from: weeks (and multiples) start on a
    Monday at 00:00 UTC, as ISO weeks and the weekly latency review do; others at the epoch."""
    return MONDAY if width % WEEK == 0 else 0


def _rollup(frame: pd.DataFrame, width: int) -> pd.DataFrame:
    if frame.empty:
        return frame
    origin = bucket_origin(width)
    return frame.assign(bucket_start=frame["bucket_start"] - (frame["bucket_start"] - origin) % width)


def metric_records(
    store: Store,
    *,
    since: int | None = None,
    until: int | None = None,
    width: int | None = None,
    source: str | None = None,
    environment: str | None = None,
    event: str | None = None,
) -> list[dict[str, Any]]:
    """One record per (source, environment, event, bucket) at ``width`` seconds (default: stored width).

    ``since``/``until`` select stored buckets (the one holding ``since``, up to the last one starting
    before ``until``), which are then rolled up: every width adds up to the same totals, and an
    output bucket cut by either end holds only the stored buckets inside the range."""
    return list(iter_metric_records(store, since=since, until=until, width=width, source=source,
                                    environment=environment, event=event))  # fmt: skip


SERIES_PER_READ = 8
"""Series whose rows are read (and their sketches held) at once by :func:`iter_metric_records` at
first; then as many as make about :data:`ROWS_PER_READ` bucket rows, judged on the reads before."""
ROWS_PER_READ = 20_000


def iter_metric_records(
    store: Store,
    *,
    since: int | None = None,
    until: int | None = None,
    width: int | None = None,
    source: str | None = None,
    environment: str | None = None,
    event: str | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`metric_records`, as they are made: the rows of a few series at a time, so a week of
    5-minute buckets for hundreds of events is printed in bounded memory (all at once, 504,000
    records held 2.6 GB)."""
    stored = store.bucket_seconds() or 300
    width = width or stored
    if width % stored:  # raised here, before anything is printed
        raise ValueError(f"bucket {width}s is not a multiple of the stored {stored}s buckets")
    lo = None if since is None else since - since % stored
    # in Python's order, as the records of a chunk are (a database's collation may differ)
    ids = sorted(store.metric_series(source=source, environment=environment, event=event), key=lambda r: (*r[1:], r[0]))

    def chunks() -> Iterator[dict[str, Any]]:
        chunk: list[int] = []
        per_read = SERIES_PER_READ
        for i, (sid, src, env, name) in enumerate(ids):
            chunk.append(sid)
            # a chunk ends between events: the series of one (source, environment, event) (its
            # message types) are sorted together
            if i + 1 == len(ids) or (len(chunk) >= per_read and ids[i + 1][1:] != (src, env, name)):
                records, rows = _records(store, lo, until, width, chunk)
                yield from records
                per_read = max(1, min(4096, len(chunk) * ROWS_PER_READ // max(rows, 1)))
                chunk = []

    return chunks()


def _records(
    store: Store, lo: int | None, until: int | None, width: int, series_ids: list[int]
) -> tuple[list[dict[str, Any]], int]:
    """The records of ``series_ids`` (see :func:`metric_records`), and the bucket rows read."""
    metrics, latency, viols = store.read_metric_rows(lo, until, series_ids=series_ids)
    n_rows = len(metrics)
    metrics, latency, viols = (_rollup(f, width) for f in (metrics, latency, viols))
    key_cols = ["source", "environment", "event", "msg_type", "bucket_start"]
    records: dict[tuple[Any, ...], dict[str, Any]] = {}
    # the encoded user sketches of each record, decoded one record at a time as it is printed: a
    # decoded sketch is 4 KB, and held for 500,000 records it took 2 GB
    users: dict[tuple[Any, ...], list[bytes]] = defaultdict(list)
    for row in metrics.itertuples(index=False):
        key = tuple(getattr(row, c) for c in key_cols)
        rec = records.setdefault(key, {"count": 0, "checked": 0, "conforming": 0, "identified": 0, "sample_rate": row.sample_rate})
        rec["count"] += int(row.count)
        rec["checked"] += int(row.checked)
        rec["conforming"] += int(row.conforming)
        rec["identified"] += int(row.identified)
        rec["sample_rate"] = min(rec["sample_rate"], row.sample_rate)  # as the rollups merge it
        users[key].append(row.users_hll)
    sketches: dict[tuple[Any, ...], dict[str, LatencySketch]] = defaultdict(dict)
    for row in latency.itertuples(index=False):
        key = tuple(getattr(row, c) for c in key_cols)
        hops = sketches[key]
        sk = LatencySketch.decode(row.bins)
        hops[row.hop] = sk if row.hop not in hops else hops[row.hop].merge(sk)
    vsum: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
    vdetail: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
    leaks: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
    for row in viols.itertuples(index=False):
        key = tuple(getattr(row, c) for c in key_cols)
        if row.vtype == "leak":  # staging/test-data signals are not plan violations
            name = row.property or "any"
            leaks[key][name] = leaks[key].get(name, 0) + int(row.count)
            continue
        vsum[key][row.vtype] = vsum[key].get(row.vtype, 0) + int(row.count)
        label = f"{row.vtype}:{row.property}" if row.property else row.vtype
        vdetail[key][label] = vdetail[key].get(label, 0) + int(row.count)
    out = []
    for key in sorted(records, key=lambda k: (k[0], k[1], k[2], k[4])):
        rec = records[key]
        hops = sketches.get(key, {})
        main = hops.get("e2e") or hops.get("send")
        q = main.quantiles(QUANTILES) if main else [None, None, None]
        item: dict[str, Any] = {
            "source": key[0], "environment": key[1], "event": key[2], "type": key[3],
            "bucket_start": iso(int(key[4])), "bucket_seconds": width, "count": rec["count"],
            "latency_p50_s": _r(q[0]), "latency_p95_s": _r(q[1]), "latency_p99_s": _r(q[2]),
            "latency_hop": "e2e" if hops.get("e2e") else "send" if hops.get("send") else None,
        }  # fmt: skip
        for hop in HOPS:
            hq = hops[hop].quantiles(QUANTILES) if hop in hops else [None, None, None]
            for name, value in zip(("p50", "p95", "p99"), hq, strict=True):
                item[f"{hop}_{name}_s"] = _r(value)
        item.update({
            "conforming": rec["conforming"], "checked": rec["checked"], "sample_rate": rec["sample_rate"],
            "conformance_rate": round(rec["conforming"] / rec["checked"], 6) if rec["checked"] else None,
            "violations": dict(sorted(vsum.get(key, {}).items())),
            "violation_details": dict(sorted(vdetail.get(key, {}).items())),
            "identified": rec["identified"], "users_estimate": _users(users.pop(key, [])),
            "leak_suspect": leaks.get(key, {}).get("any", 0),
            "leak_signals": {k: v for k, v in sorted(leaks.get(key, {}).items()) if k != "any"},
        })  # fmt: skip
        out.append(item)
    return out, n_rows


def _users(sketches: list[bytes]) -> int:
    merged = HLL.decode(sketches[0]) if sketches else HLL.empty()
    for data in sketches[1:]:
        merged.merge(HLL.decode(data))
    return round(merged.estimate())


def _r(value: float | None) -> float | None:
    # significant digits, not decimals: 4 decimals printed a 1.05 ms percentile as 0.0011 (5 % off)
    return None if value is None else float(f"{value:.9g}")
