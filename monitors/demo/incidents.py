"""Weeks of realistic D2C traffic from two sources (web and an iOS app) with incidents injected at
known times, for the incident benchmark (``bench/incidents.py``) and end-to-end tests.

Traffic: sessions with a diurnal (peak 20:00 UTC) and weekly rhythm and a level that wanders
±5 % around it (mean-reverting); known
users who log in (identify with traits) and anonymous visitors who sometimes sign up mid-session
(identify linking their anonymous id); a funnel of planned events (Product Viewed → Added to Cart
→ Checkout Started → Order Completed) and unplanned ones (Product Searched, Cart Viewed…), page
calls, all three timestamps, a trickle of QA sessions (0.05 %: the normal background of test data).
Messages are yielded in the order they *arrive* (``receivedAt``), as a log would hold them.

Incidents (:class:`Incident`) change the traffic of one source in a time window: an event
rename, a property rename, staging data leaking in, a slow hop, a required property missing for
a share of events, an event stopping, userId = email after a deploy, cart events without
``cart_id``, a number arriving as a string.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SOURCES = {"web": 1000.0, "ios": 500.0}  # sessions per hour at the daily mean
CATEGORIES = ("skincare", "makeup", "haircare", "fragrance", "bodycare")
EXPECTED = {
    "event_rename": ("event_rename",),
    "property_rename": ("property_rename",),
    "staging_leak": ("staging_leak",),
    "latency": ("latency_slo", "latency_anomaly"),
    "property_missing": ("property_missing",),
    "event_stop": ("silence", "volume_drop"),
    "email_as_id": ("email_as_user_id",),
    "missing_cart_id": ("missing_entity_id",),
    "type_change": ("type_change",),
}


@dataclass(frozen=True)
class Incident:
    """What goes wrong, where, and when (``[start, end)``)."""

    kind: str
    source: str
    start: datetime
    end: datetime
    event: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def active(self, at: datetime) -> bool:
        """Whether the incident covers ``at``."""
        return self.start <= at < self.end

    @property
    def expects(self) -> tuple[str, ...]:
        """Finding kinds that report this incident."""
        return EXPECTED[self.kind]

    def describe(self) -> str:
        """One line for tables."""
        extra = ", ".join(f"{k}={v}" for k, v in self.detail.items())
        return f"{self.kind} {self.source}/{self.event or '*'} {extra}".strip()


# kind, source, event, detail, duration in hours (None: to the end), hour of day it starts at
PLAN: list[tuple[str, str, str, dict[str, Any], float | None, float]] = [
    ("staging_leak", "web", "", {"share": 0.03}, 4, 14.25),
    ("email_as_id", "web", "", {"share": 0.6}, 6, 15.5),
    ("latency", "ios", "", {"hop": "send", "delay_s": 2700}, 3, 19.0),
    ("property_missing", "web", "Product Viewed", {"property": "price", "share": 0.3}, 5, 13.0),
    ("event_stop", "ios", "Added to Cart", {}, 2, 18.5),
    ("missing_cart_id", "ios", "Added to Cart", {"share": 0.4}, 3, 16.0),
    ("type_change", "web", "Order Completed", {"property": "revenue", "to": "string"}, 4, 20.0),
    ("staging_leak", "ios", "", {"share": 0.02}, 6, 13.5),
    ("event_rename", "web", "Checkout Started", {"to": "checkout_started"}, 6, 14.0),
    ("property_rename", "web", "Added to Cart", {"from": "cart_value", "to": "cartValue"}, None, 15.0),
    ("event_rename", "ios", "Order Completed", {"to": "order_completed"}, None, 17.0),
]


def default_incidents(start: datetime, days: int) -> list[Incident]:
    """One incident of each kind after the first 14 days (the volume baseline), with clean time
    between them; the last two (renames that are never rolled back) run to the end. Over four
    weeks each starts on its own day at a varied working hour of the shop's (US) team; shorter
    runs (18+ days) pack three a day (13:00, 17:00, 21:00 UTC, at most 4 hours each)."""
    first = start + timedelta(days=14)
    end = start + timedelta(days=days)
    spacing = (end - first - timedelta(hours=6)) / len(PLAN)
    out = []
    for i, (kind, source, event, detail, hours, hour) in enumerate(PLAN):
        if spacing >= timedelta(days=1):
            begin = first + timedelta(days=(spacing * i).days, hours=hour)
        else:
            begin = first + timedelta(days=i // 3, hours=(13.0, 17.0, 21.0)[i % 3])
            hours = None if hours is None else min(hours, 4)
        stop = end if hours is None else begin + timedelta(hours=hours)
        out.append(Incident(kind, source, begin, min(stop, end), event, dict(detail)))
    return out


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class Traffic:
    """Yields (source, arrival, message) between ``start`` and ``end`` in arrival order."""

    start: datetime
    end: datetime
    incidents: list[Incident] = field(default_factory=list)
    seed: int = 3
    scale: float = 1.0
    users: int = 40000

    def rate(self, source: str, at: datetime, drift: float) -> float:
        """Sessions per hour of ``source`` at ``at``."""
        hour = at.hour + at.minute / 60
        diurnal = 0.55 + 0.45 * math.cos((hour - 20) / 24 * 2 * math.pi)
        weekly = 1.25 if at.weekday() >= 5 else 1.0
        return SOURCES[source] * self.scale * diurnal * weekly * drift

    def messages(self) -> Iterator[tuple[str, datetime, dict[str, Any]]]:
        """Every message, ordered by arrival (``receivedAt``)."""
        rnd = random.Random(self.seed)
        clocks = {s: self.start for s in SOURCES}
        drift = {s: 1.0 for s in SOURCES}
        pending: list[tuple[datetime, int, str, dict[str, Any]]] = []
        seq = 0
        while True:
            source = min(clocks, key=lambda s: clocks[s])
            t = clocks[source]
            if t >= self.end:
                break
            if t.minute == 0 and t.second < 10:  # the level wanders ±5 % around the weekly rhythm
                drift[source] = 1.0 + 0.97 * (drift[source] - 1.0) + rnd.gauss(0, 0.012)
            while pending and pending[0][0] <= t:
                arrival, _, src, msg = heapq.heappop(pending)
                yield src, arrival, msg
            for arrival, msg in _Session(self, rnd, source, t).messages():
                seq += 1
                heapq.heappush(pending, (arrival, seq, source, msg))
            clocks[source] = t + timedelta(seconds=rnd.expovariate(self.rate(source, t, drift[source]) / 3600.0))
        while pending:
            arrival, _, src, msg = heapq.heappop(pending)
            yield src, arrival, msg

    def active(self, kind: str, source: str, event: str, at: datetime) -> Incident | None:
        """The incident of ``kind`` affecting (source, event) at ``at``, if any."""
        for inc in self.incidents:
            if inc.kind == kind and inc.source == source and (not inc.event or inc.event == event) and inc.active(at):
                return inc
        return None


class _Session:
    """One visit: who, which device, and the messages it sends."""

    def __init__(self, traffic: Traffic, rnd: random.Random, source: str, t: datetime) -> None:
        self.tr, self.rnd, self.source, self.t = traffic, rnd, source, t
        self.anon = f"{rnd.getrandbits(64):016x}"
        self.known = rnd.random() < 0.5
        n = int(rnd.paretovariate(1.2)) % traffic.users
        self.uid: str | None = f"user_{n:06d}" if self.known else None
        self.email = f"customer{n}@{rnd.choice(('gmail.com', 'yahoo.com', 'icloud.com', 'outlook.com'))}"
        self.host = "https://shop.example-brand.com"
        self.build = "4.12.0"
        leak = traffic.active("staging_leak", source, "", t)
        if rnd.random() < 0.0005 or (leak is not None and rnd.random() < leak.detail["share"]):
            q = rnd.randrange(40)
            self.known, self.uid, self.email = True, f"test_user_{q}", f"qa+{q}@example.com"
            if leak is not None:
                self.host, self.build = "https://staging.example-brand.com", "4.13.0-debug"
        ident = traffic.active("email_as_id", source, "", t)
        self.email_id = ident is not None and rnd.random() < ident.detail["share"]

    def user(self) -> str | None:
        """The userId this session sends (the email after a bad deploy)."""
        if self.uid is None:
            return None
        return self.email if self.email_id and not self.uid.startswith("test_") else self.uid

    def messages(self) -> Iterator[tuple[datetime, dict[str, Any]]]:
        """The session's messages with their arrival times."""
        rnd, at = self.rnd, self.t
        yield self._msg(at, "page", name=rnd.choice(("Home", "Product", "Collection")), properties={"path": "/"})
        if self.known and rnd.random() < 0.25:
            yield self._identify(at)
        for event in self._funnel():
            at += timedelta(seconds=rnd.expovariate(1 / 40))
            if event == "$signup":
                self.known, self.uid = True, f"user_{rnd.randrange(self.tr.users, 2 * self.tr.users):06d}"
                yield self._identify(at)
                continue
            msg = self._track(at, event)
            if msg is not None:
                yield msg

    def _funnel(self) -> list[str]:
        rnd = self.rnd
        events = ["Product Viewed"] * min(1 + int(rnd.expovariate(0.7)), 6)
        if rnd.random() < 0.25:
            events.insert(0, "Product Searched")
        if rnd.random() < 0.04:
            events.append("Wishlist Added")
        if not self.known and rnd.random() < 0.12:
            events.append("$signup")
        if rnd.random() < 0.28:
            events.append("Added to Cart")
            if rnd.random() < 0.5:
                events.append("Cart Viewed")
            if rnd.random() < 0.43:
                events.append("Checkout Started")
                if rnd.random() < 0.1:
                    events.append("Coupon Applied")
                if rnd.random() < 0.58:
                    events.append("Order Completed")
        if rnd.random() < 0.01:
            events.append("Newsletter Signup")
        return events

    def _identify(self, at: datetime) -> tuple[datetime, dict[str, Any]]:
        rnd = self.rnd
        traits = {"email": self.email, "first_name": rnd.choice(("Ana", "Ben", "Chloé", "Dev", "Emi")),
                  "accepts_sms": rnd.random() < 0.4, "marketing_opt_in": rnd.random() < 0.6,
                  "lifetime_value": round(rnd.uniform(0, 900), 2)}  # fmt: skip
        return self._msg(at, "identify", traits=traits)

    def _track(self, at: datetime, event: str) -> tuple[datetime, dict[str, Any]] | None:
        tr, src = self.tr, self.source
        if tr.active("event_stop", src, event, at):
            return None
        props = _props(event, self.rnd)
        if (inc := tr.active("property_rename", src, event, at)) and inc.detail["from"] in props:
            props[inc.detail["to"]] = props.pop(inc.detail["from"])
        if (inc := tr.active("property_missing", src, event, at)) and self.rnd.random() < inc.detail["share"]:
            props.pop(inc.detail["property"], None)
        if (inc := tr.active("missing_cart_id", src, event, at)) and self.rnd.random() < inc.detail["share"]:
            props.pop("cart_id", None)
        if (inc := tr.active("type_change", src, event, at)) and inc.detail["property"] in props:
            props[inc.detail["property"]] = str(props[inc.detail["property"]])
        if inc := tr.active("event_rename", src, event, at):
            event = inc.detail["to"]
        return self._msg(at, "track", event=event, properties=props)

    def _msg(self, at: datetime, kind: str, **body: Any) -> tuple[datetime, dict[str, Any]]:
        rnd = self.rnd
        send = rnd.expovariate(1 / 0.8) if self.source == "web" else rnd.uniform(0.5, 20.0)
        event = body.get("event", "")
        if (inc := self.tr.active("latency", self.source, "", at)) and inc.detail["hop"] == "send":
            send += inc.detail["delay_s"] * rnd.uniform(0.8, 1.2)
        sent = at + timedelta(seconds=send)
        received = sent + timedelta(seconds=rnd.expovariate(1 / 0.25))
        if inc and inc.detail["hop"] == "deliver":
            received += timedelta(seconds=inc.detail["delay_s"] * rnd.uniform(0.8, 1.2))
        msg: dict[str, Any] = {"type": kind, "messageId": f"{rnd.getrandbits(96):024x}", "anonymousId": self.anon, **body}
        if (uid := self.user()) is not None:
            msg["userId"] = uid
        msg["context"] = self._context(event)
        msg["timestamp"], msg["sentAt"], msg["receivedAt"] = _iso(at), _iso(sent), _iso(received)
        return received, msg

    def _context(self, event: str) -> dict[str, Any]:
        ctx: dict[str, Any] = {"library": {"name": "analytics-python", "version": "2.3.1"},
                               "ip": f"203.0.113.{self.rnd.randrange(1, 255)}", "traits": {"email": self.email}}  # fmt: skip
        if self.source == "web":
            ctx["page"] = {"url": f"{self.host}/products/{self.rnd.randrange(800)}", "referrer": "https://www.google.com/"}
        else:
            ctx["app"] = {"name": "Shop", "version": self.build, "build": self.build.replace(".", ""),
                          "namespace": "com.example.shop"}  # fmt: skip
        return ctx


def _props(event: str, rnd: random.Random) -> dict[str, Any]:
    product = f"sku_{rnd.randrange(800):04d}"
    price = round(rnd.uniform(8, 95), 2)
    qty = rnd.randint(1, 3)
    items = [{"product_id": product, "quantity": qty, "price": price}]
    value = round(price * qty, 2)
    cart = f"cart_{rnd.getrandbits(40):010x}"
    if event == "Product Viewed":
        return {"product_id": product, "variant_id": f"{product}-v{rnd.randint(1, 4)}",
                "category": rnd.choice(CATEGORIES), "price": price}  # fmt: skip
    if event == "Added to Cart":
        return {"cart_id": cart, "items": items, "cart_value": value, "currency": "USD"}
    if event == "Checkout Started":
        return {"cart_id": cart, "checkout_id": f"chk_{rnd.getrandbits(32):08x}", "items": items, "cart_value": value}
    if event == "Order Completed":
        props: dict[str, Any] = {"order_id": f"ord_{rnd.getrandbits(40):010x}", "items": items, "revenue": value}
        if rnd.random() < 0.2:
            props["discount_code"] = "WELCOME10"
        return props
    if event == "Product Searched":
        return {"query": rnd.choice(("serum", "spf", "lipstick", "shampoo")), "results": rnd.randint(0, 40)}
    if event == "Coupon Applied":
        return {"coupon": "WELCOME10", "cart_id": cart}
    if event in ("Cart Viewed", "Wishlist Added"):
        return {"cart_id": cart, "product_id": product}
    return {"list": "newsletter"}


def dumps(message: dict[str, Any]) -> str:
    """One JSON line."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
