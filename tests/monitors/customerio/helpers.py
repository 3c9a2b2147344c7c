"""Test helpers: sent-side rows written with the Store's engine and the foundation's tables."""

from __future__ import annotations

from sqlalchemy import insert, select

from storage import Store
from storage.tables import event_metrics, series


def write_sent(store: Store, source: str, event: str, counts: dict[int, int], environment: str = "production") -> None:
    """Record ``counts`` (bucket_start → events) as if the outgoing-log ingest had."""
    with store.engine.begin() as conn:
        found = conn.execute(select(series.c.id).where(
            series.c.source == source, series.c.environment == environment, series.c.event == event)).scalar()
        if found is None:
            found = conn.execute(insert(series).values(
                source=source, environment=environment, event=event, msg_type="track",
                first_seen=min(counts), last_seen=max(counts))).inserted_primary_key[0]
        conn.execute(insert(event_metrics), [
            {"series_id": found, "bucket_start": b, "count": n, "checked": n, "conforming": n, "identified": n,
             "sample_rate": 1.0, "users_hll": b""} for b, n in counts.items()])
