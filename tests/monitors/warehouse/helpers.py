"""Events as Segment messages, written both as a JSON-lines log and as a Segment-style warehouse
(``tracks``, one table per event with typed property columns, ``identifies``, ``pages``)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from monitors.sketch import HLL
from monitors.warehouse.mapping import snake_case
from storage import Store
from storage.tables import event_metrics, latency_sketches, property_stats, series, violations

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
STANDARD = ("id", "anonymous_id", "user_id", "event", "event_text", "timestamp", "original_timestamp", "sent_at",
            "received_at", "uuid_ts")  # fmt: skip
TIMES = ("timestamp", "original_timestamp", "sent_at", "received_at", "uuid_ts")


def iso(t: datetime) -> str:
    """ISO 8601 with milliseconds, as SDKs send it."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def _items(rng: random.Random) -> list[dict[str, Any]]:
    return [{"product_id": f"p{rng.randint(1, 9)}", "quantity": rng.randint(1, 3), "price": rng.choice([9.5, 12, 3.25])}
            for _ in range(rng.randint(1, 2))]  # fmt: skip


def _props(rng: random.Random, event: str) -> dict[str, Any]:
    if event == "Added to Cart":
        props: dict[str, Any] = {
            "cart_id": f"c{rng.randint(1, 50)}",
            "items": _items(rng),
            "cart_value": rng.choice([9.5, 20, 31.75]),
        }
        if rng.random() < 0.2:
            del props["cart_value"]  # missing required
        if rng.random() < 0.1:
            props["coupon"] = "SAVE10"  # unplanned property
        return props
    if event == "Order Completed":
        props = {
            "order_id": f"o{rng.randint(1, 99)}",
            "items": _items(rng),
            "revenue": rng.choice([40, 55.5]),
        }
        if rng.random() < 0.15:
            del props["order_id"]  # missing entity id
        return props
    if event == "Product Viewed":
        # price always arrives as a string: a wrong type, and a text column in the warehouse
        return {"product_id": "p1", "variant_id": "v1", "category": "shoes", "price": "12.50"}
    return {"step": rng.randint(1, 4), "label": "x"}


def messages(
    n: int = 400, seed: int = 7, now: datetime = NOW, span: timedelta = timedelta(hours=6), prefix: str = "m"
) -> list[dict[str, Any]]:
    """``n`` messages over ``span`` before ``now``: planned and unplanned events, identifies, pages,
    anonymous and email user ids, skewed clocks (negative latencies), impossible timestamps."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        received = now - span + timedelta(milliseconds=rng.randint(0, int(span.total_seconds() * 1000) - 1))
        sent = received - timedelta(milliseconds=rng.choice([0, 1, 35, 120, 900, 4000]))
        ts = sent - timedelta(milliseconds=rng.choice([0, 2, 50, 700, 30000]))
        if rng.random() < 0.05:
            ts = sent + timedelta(seconds=3)  # device clock ahead: negative send latency
        if rng.random() < 0.02:
            ts = datetime(1999, 12, 31, tzinfo=UTC)  # impossible: bucketed by receivedAt
        user = rng.choice([f"u{rng.randint(1, 40)}", None, "", "jane.doe@example.com"])
        anon = rng.choice([None, f"a{rng.randint(1, 60)}"]) if not user else None
        kind = rng.choices(["track", "identify", "page"], weights=[8, 1, 1])[0]
        msg: dict[str, Any] = {"type": kind, "messageId": f"{prefix}{i}", "userId": user, "anonymousId": anon,
                               "timestamp": iso(ts), "sentAt": iso(sent), "receivedAt": iso(received)}  # fmt: skip
        if kind == "track":
            event = rng.choice(["Added to Cart", "Order Completed", "Product Viewed", "Wishlist Opened"])
            msg["event"] = event
            msg["properties"] = _props(rng, event)
        elif kind == "identify":
            msg["traits"] = {"email": "x@example.com"} if rng.random() < 0.7 else {"plan": "pro", "age": 42}
        else:
            msg["properties"] = {"title": "Home", "path": "/"}
        out.append(msg)
    return out


def write_log(path: Path, msgs: list[dict[str, Any]]) -> Path:
    """The messages as a JSON-lines file."""
    path.write_text("".join(json.dumps(m) + "\n" for m in msgs), encoding="utf-8")
    return path


def _flatten(props: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in props.items():
        name = prefix + snake_case(k)
        if isinstance(v, dict):
            out.update(_flatten(v, name + "_"))
        elif isinstance(v, list):
            out[name] = json.dumps(v)  # arrays are stringified
        elif v is not None:
            out[name] = v
    return out


def _type_of(values: list[Any]) -> Any:
    if all(isinstance(v, bool) for v in values):
        return Boolean
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return BigInteger
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return Double
    return Text


def _std_row(m: dict[str, Any]) -> dict[str, Any]:
    def t(key: str) -> datetime | None:
        return datetime.fromisoformat(m[key]) if m.get(key) else None

    return {"id": m["messageId"], "anonymous_id": m.get("anonymousId"), "user_id": m.get("userId"),
            "event": snake_case(m["event"]) if m.get("event") else None, "event_text": m.get("event"),
            "timestamp": t("timestamp"), "original_timestamp": None, "sent_at": t("sentAt"),
            "received_at": t("receivedAt"), "uuid_ts": t("receivedAt")}  # fmt: skip


def _std_columns(naive: bool) -> list[Column[Any]]:
    cols: list[Column[Any]] = [Column("id", String(1024), primary_key=True)]
    for name in STANDARD[1:]:
        cols.append(Column(name, DateTime(timezone=not naive) if name in TIMES else Text))
    return cols


def load_warehouse(
    engine: Engine,
    msgs: list[dict[str, Any]],
    *,
    schema: str | None = None,
    naive: bool = False,
    event_tables: bool = True,
) -> None:
    """Create (if needed) and fill the Segment tables for ``msgs``; columns typed from the values.
    Without ``event_tables`` tracks land in ``tracks`` only (as for names too long for a table)."""
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for m in msgs:
        row = _std_row(m)
        if naive:
            row.update(
                {
                    k: (v.replace(tzinfo=None) if isinstance(v, datetime) else v)
                    for k, v in row.items()
                    if k in TIMES
                }
            )
        if m["type"] == "track":
            groups.setdefault("tracks", []).append((row, {}))
            if event_tables:
                groups.setdefault(snake_case(m["event"]), []).append((row, _flatten(m.get("properties") or {})))
        else:
            table = {"identify": "identifies", "page": "pages"}[m["type"]]
            groups.setdefault(table, []).append((row, _flatten(m.get("traits") or m.get("properties") or {})))
    md = MetaData(schema=schema)
    with engine.begin() as conn:
        for name, rows in groups.items():
            props: dict[str, list[Any]] = {}
            for _std, p in rows:
                for k, v in p.items():
                    props.setdefault(k, []).append(v)
            table = Table(
                name, md, *_std_columns(naive), *[Column(k, _type_of(v)) for k, v in sorted(props.items())]
            )
            table.create(conn, checkfirst=True)
            conn.execute(
                insert(table), [{**{c.name: None for c in table.columns}, **s, **p} for s, p in rows]
            )


def snapshot(store: Store, source: str) -> dict[str, Any]:
    """Every metric row of ``source``, keyed by (environment, event) instead of series ids.

    Sketches are compared bit for bit (both paths hash user keys with MD5), except the linked
    anonymousIds: files hash them with DuckDB's ``hash`` (cheaper), so they compare by estimate."""
    with store.engine.connect() as conn:
        names = {
            r.id: (r.environment, r.event)
            for r in conn.execute(select(series).where(series.c.source == source))
        }
        out: dict[str, Any] = {}
        for table in (event_metrics, latency_sketches, violations, property_stats):
            rows = []
            for r in conn.execute(select(table)).all():
                d = r._asdict()
                if "linked_hll" in d:
                    d["linked_hll"] = round(HLL.decode(d["linked_hll"]).estimate(), 6)
                sid = d.pop("series_id")
                if sid in names:
                    d["series"] = names[sid]
                    rows.append(tuple(sorted(d.items())))
            out[table.name] = sorted(rows)
    return out
