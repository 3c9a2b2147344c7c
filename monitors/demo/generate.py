"""Realistic D2C traffic as Segment-spec messages (the format the Pipelines SDK sends).

Used by the demo, the tests and the benchmarks. Deterministic for a seed. Traffic has a diurnal
and weekly rhythm, a funnel (Product Viewed → Added to Cart → Checkout Started → Order Completed),
identify calls, all three timestamps (``timestamp``, ``sentAt``, ``receivedAt``) and a
``messageId``. Incidents can be injected by the callers through :class:`Incidents`.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

FUNNEL = (("Product Viewed", 1.0), ("Added to Cart", 0.28), ("Checkout Started", 0.12), ("Order Completed", 0.07))
CATEGORIES = ("skincare", "makeup", "haircare", "fragrance", "bodycare")


@dataclass
class Incidents:
    """Windows (start, end) in which the generator misbehaves on purpose."""

    rename: tuple[datetime, datetime] | None = None  # Order Completed → order_completed
    staging_leak: tuple[datetime, datetime] | None = None  # test users from staging hosts
    latency: tuple[datetime, datetime] | None = None  # 45-minute batch delay on sentAt
    drop: tuple[datetime, datetime] | None = None  # Checkout Started stops arriving
    missing_cart_id: tuple[datetime, datetime] | None = None
    leak_rate: float = 0.03

    def active(self, name: str, at: datetime) -> bool:
        """Whether incident ``name`` covers ``at``."""
        window: tuple[datetime, datetime] | None = getattr(self, name)
        return window is not None and window[0] <= at < window[1]


@dataclass
class Generator:
    """Yields messages in time order between ``start`` and ``end``."""

    start: datetime
    end: datetime
    sessions_per_hour: float = 400.0
    seed: int = 7
    users: int = 20000
    incidents: Incidents = field(default_factory=Incidents)

    def rate(self, at: datetime) -> float:
        """Sessions per hour at ``at``: diurnal (peak 20:00 UTC) and weekly (weekend +25 %) rhythm."""
        hour = at.hour + at.minute / 60
        diurnal = 0.55 + 0.45 * math.cos((hour - 20) / 24 * 2 * math.pi)
        weekly = 1.25 if at.weekday() >= 5 else 1.0
        return self.sessions_per_hour * diurnal * weekly

    def messages(self) -> Iterator[dict[str, Any]]:
        """All messages, ordered by event time."""
        rnd = random.Random(self.seed)
        t = self.start
        pending: list[tuple[datetime, int, dict[str, Any]]] = []
        seq = 0
        while t < self.end:
            for msg_time, msg in self._session(rnd, t):
                seq += 1
                heapq.heappush(pending, (msg_time, seq, msg))
            t += timedelta(seconds=rnd.expovariate(self.rate(t) / 3600.0))
            while pending and pending[0][0] < t:  # sessions never go back in time
                yield heapq.heappop(pending)[2]
        while pending:
            yield heapq.heappop(pending)[2]

    def _session(self, rnd: random.Random, t: datetime) -> Iterator[tuple[datetime, dict[str, Any]]]:
        inc = self.incidents
        leak = inc.active("staging_leak", t) and rnd.random() < inc.leak_rate * 10
        uid = f"user_{rnd.randrange(self.users):06d}"
        email = f"{uid}@example-shop.com"
        host = "https://shop.example-brand.com"
        if leak:
            uid = f"qa_test_{rnd.randrange(50)}"
            email = f"qa+test{rnd.randrange(50)}@example.com"
            host = "https://staging.example-brand.com"
        anon = str(uuid.UUID(int=rnd.getrandbits(128)))
        cart_id = f"cart_{rnd.getrandbits(40):010x}"
        product = f"sku_{rnd.randrange(800):04d}"
        price = round(rnd.uniform(8, 95), 2)
        quantity = rnd.randint(1, 3)
        items: list[dict[str, Any]] = [{"product_id": product, "quantity": quantity, "price": price}]
        cart_value = round(price * quantity, 2)
        if rnd.random() < 0.3:
            yield t, self._msg(rnd, t, "identify", uid, anon, host, traits={
                "email": email, "first_name": rnd.choice(("Ana", "Ben", "Chloé", "Dev", "Emi")),
                "accepts_sms": rnd.random() < 0.4, "marketing_opt_in": rnd.random() < 0.6,
                "lifetime_value": round(rnd.uniform(0, 900), 2)})  # fmt: skip
        at = t
        prev = 1.0
        for name, p in FUNNEL:
            if rnd.random() > p / prev:
                break
            prev = p
            at += timedelta(seconds=rnd.expovariate(1 / 40))
            props = self._props(name, rnd, product, price, items, cart_id, cart_value)
            if name == "Checkout Started" and inc.active("drop", at):
                continue
            if name in ("Added to Cart", "Checkout Started") and inc.active("missing_cart_id", at) and rnd.random() < 0.4:
                props.pop("cart_id", None)
            event = "order_completed" if name == "Order Completed" and inc.active("rename", at) else name
            yield at, self._msg(rnd, at, "track", uid, anon, host, event=event, properties=props)

    @staticmethod
    def _props(name: str, rnd: random.Random, product: str, price: float, items: list[dict[str, Any]],
               cart_id: str, cart_value: float) -> dict[str, Any]:  # fmt: skip
        if name == "Product Viewed":
            return {"product_id": product, "variant_id": f"{product}-v{rnd.randint(1, 4)}",
                    "category": rnd.choice(CATEGORIES), "price": price}  # fmt: skip
        if name == "Added to Cart":
            return {"cart_id": cart_id, "items": items, "cart_value": cart_value, "currency": "USD"}
        if name == "Checkout Started":
            return {"cart_id": cart_id, "checkout_id": f"chk_{rnd.getrandbits(32):08x}", "items": items,
                    "cart_value": cart_value}  # fmt: skip
        props: dict[str, Any] = {"order_id": f"ord_{rnd.getrandbits(40):010x}", "items": items, "revenue": cart_value}
        if rnd.random() < 0.2:
            props["discount_code"] = "WELCOME10"
        return props

    def _msg(self, rnd: random.Random, at: datetime, kind: str, uid: str, anon: str, host: str,
             **body: Any) -> dict[str, Any]:  # fmt: skip
        send_delay = rnd.expovariate(1 / 0.8)
        if self.incidents.active("latency", at):
            send_delay += 2700 * rnd.uniform(0.8, 1.2)
        sent = at + timedelta(seconds=send_delay)
        received = sent + timedelta(seconds=rnd.expovariate(1 / 0.25))
        msg: dict[str, Any] = {"type": kind, "messageId": str(uuid.UUID(int=rnd.getrandbits(128))), "userId": uid,
                               "anonymousId": anon, **body}  # fmt: skip
        msg["context"] = {
            "library": {"name": "analytics-python", "version": "1.1.0"},
            "ip": f"203.0.113.{rnd.randrange(1, 255)}",
            "page": {"url": f"{host}/products/{rnd.randrange(800)}", "referrer": "https://www.google.com/"},
        }
        msg["integrations"] = {}
        msg["timestamp"] = _iso(at)
        msg["sentAt"] = _iso(sent)
        msg["receivedAt"] = _iso(received)
        return msg


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def write_jsonl(path: str, messages: Iterator[dict[str, Any]]) -> int:
    """Write messages as JSON lines; returns how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for msg in messages:
            fh.write(json.dumps(msg, separators=(",", ":")) + "\n")
            n += 1
    return n
