"""The stand-in's workspace: people, their attributes, and the activities synthesised from what
the Track and Pipelines APIs received (and from injected activities).

Synthesis rules (what ``/v1/activities`` then lists):

* first sight of a person → ``profile_create``; a changed attribute → ``attribute_change``
  (``name`` = attribute, ``data`` = ``{attr: {"from": old, "to": new}}``); an attribute value that
  is an object/array or over 1000 bytes → ``failed_attribute_change``;
* an event → ``event`` (``page`` / ``screen`` for views) with ``data`` =
  ``{"event_id", "event_timestamp", "properties"}``, where ``event_id`` is the sender's ``id`` /
  ``messageId`` and ``event_timestamp`` the sender's own timestamp (both omitted when not sent);
  an event with a name over 100 bytes or data over 100 KB → ``failed_event``;
* delete → ``profile_delete`` (the person's activities then need ``deleted=true``), merge →
  ``profile_merge``, identify of an anonymous id that sent events → ``anon_merge``;
* an event named in ``campaigns`` sends a message: ``sent_<channel>`` then ``delivered_<channel>``
  or (``bounce`` fault) ``bounced_<channel>``.

The activity ``timestamp`` is the receive time (whole seconds of the stand-in's clock).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitors.customerio.standin.activitylog import ActivityLog
from monitors.customerio.standin.faults import Faults

RESERVED_ATTRIBUTES = {"id", "_timestamp", "_update", "cio_relationships", "cio_subscription_preferences",
                       "anonymous_id", "created_at", "createdAt", "cio_id"}
DELIVERY_TYPES = {"email": "email", "push": "ios", "twilio": "phone", "whatsapp": "phone"}
MAX_EVENT_NAME = 100
MAX_EVENT_DATA = 100_000
MAX_ATTRIBUTE_VALUE = 1000


@dataclass
class Person:
    """A profile of the stand-in workspace."""

    id: str | None
    email: str | None
    cio_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    def identifiers(self) -> dict[str, str | None]:
        """``customer_identifiers`` as activities show them."""
        return {"id": self.id, "email": self.email, "cio_id": self.cio_id}


class Workspace:
    """People and activity log, thread-safe. ``clock`` gives epoch seconds (injectable for tests)."""

    def __init__(self, faults: Faults | None = None, clock: Callable[[], float] = time.time,
                 campaigns: dict[str, str] | None = None) -> None:
        self.faults = faults or Faults()
        self.clock = clock
        self.campaigns = dict(campaigns or {})
        self.log = ActivityLog()
        self.stats: Counter[str] = Counter()
        self._people: dict[tuple[str, str], Person] = {}
        self._event_ids: set[str] = set()
        self._anon_with_events: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- people -------------------------------------------------------------------------------
    def find(self, kind: str, value: str) -> Person | None:
        """The person with identifier ``kind`` (id, email, cio_id) = ``value``, if any."""
        with self._lock:
            return self._people.get((kind, value))

    def person(self, kind: str, value: str, *, create: bool = True) -> Person | None:
        """Find or (when ``create``) create a person; creation records ``profile_create``."""
        with self._lock:
            found = self._people.get((kind, value))
            if found is not None and not found.deleted:
                return found
            if not create:
                return None
            cio_id = f"{next(self._ids):012x}"
            created = Person(value if kind == "id" else None, value if kind == "email" else None,
                             value if kind == "cio_id" else cio_id)
            self._index(created)
            self.record("profile_create", created)
            return created

    def _index(self, person: Person) -> None:
        for kind in ("id", "email", "cio_id"):
            value = getattr(person, kind)
            if value:
                self._people[(kind, value)] = person

    @staticmethod
    def resolve_identifier(identifier: str) -> tuple[str, str]:
        """Track v1 path identifiers: ``cio_<id>``, an email, or an id."""
        if identifier.startswith("cio_"):
            return "cio_id", identifier[4:]
        return ("email", identifier) if "@" in identifier else ("id", identifier)

    def identify(self, kind: str, value: str, attributes: dict[str, Any], *, update_only: bool = False) -> None:
        """Create or update a person; records attribute changes and failures."""
        with self._lock:
            existed = self.find(kind, value)
            existed = existed if existed is not None and not existed.deleted else None
            person = self.person(kind, value, create=not update_only)
            if person is None:
                return
            for attr, new in attributes.items():
                if attr not in RESERVED_ATTRIBUTES:
                    self._set_attribute(person, attr, new, record=existed is not None)

    def _set_attribute(self, person: Person, attr: str, new: Any, *, record: bool) -> None:
        old = person.attributes.get(attr)
        change = {attr: {"from": _text(old), "to": _text(new)}}
        if isinstance(new, dict | list) or len(_text(new)) > MAX_ATTRIBUTE_VALUE:
            self.record("failed_attribute_change", person, name=attr, data=change)
            return
        if attr == "email" and isinstance(new, str) and new != person.email:
            person.email = new
            self._index(person)
        if record and old != new:
            self.record("attribute_change", person, name=attr, data=change)
        person.attributes[attr] = new

    def delete(self, person: Person) -> None:
        """Delete a profile (``profile_delete``)."""
        with self._lock:
            self.record("profile_delete", person)
            person.deleted = True

    def merge(self, primary: Person, secondary: Person) -> None:
        """Merge ``secondary`` into ``primary`` (``profile_merge``)."""
        with self._lock:
            if primary is secondary:
                return
            primary.attributes = {**secondary.attributes, **primary.attributes}
            self.record("profile_merge", primary, data={"merged": secondary.identifiers()})
            secondary.deleted = True

    def anon_merge(self, person: Person, anonymous_id: str) -> None:
        """Attach an anonymous id's events to ``person`` (``anon_merge``), once."""
        with self._lock:
            if anonymous_id in self._anon_with_events:
                self._anon_with_events.discard(anonymous_id)
                self.record("anon_merge", person, data={"anonymous_id": anonymous_id})

    # -- events -------------------------------------------------------------------------------
    def event(self, person: Person | None, name: str, properties: Any, *, event_id: str | None = None,
              event_ts: int | None = None, kind: str = "event", anonymous_id: str | None = None) -> str:
        """Receive one event; returns what happened: recorded, duplicate, dropped or failed."""
        with self._lock:
            if event_id:
                if event_id in self._event_ids:
                    return self._count("duplicate")
                self._event_ids.add(event_id)
            if self.faults.hit("drop", name):
                return self._count("dropped")
            data: dict[str, Any] = {"properties": properties if properties is not None else {}}
            if event_id:
                data["event_id"] = event_id
            if event_ts is not None:
                data["event_timestamp"] = event_ts
            reason = self._failure(name, properties)
            if reason:
                self.record("failed_event", person, name=name[:255], data={**data, "reason": reason})
                return self._count("failed")
            if anonymous_id and person is None:
                self._anon_with_events.add(anonymous_id)
                data["anonymous_id"] = anonymous_id
            if kind == "page":
                self.record(kind, person, data=data, url=name)
            else:
                self.record(kind, person, name=name, data=data)
            if person is not None and name in self.campaigns:
                self._campaign_message(person, self.campaigns[name])
            return self._count("recorded")

    def _failure(self, name: str, properties: Any) -> str | None:
        if len(name.encode()) > MAX_EVENT_NAME:
            return f"event name longer than {MAX_EVENT_NAME} bytes"
        if len(json.dumps(properties, default=str).encode()) > MAX_EVENT_DATA:
            return f"event data larger than {MAX_EVENT_DATA} bytes"
        if self.faults.hit("fail", name):
            return "rejected (injected fault)"
        return None

    def _count(self, outcome: str) -> str:
        self.count(f"events_{outcome}")
        return outcome

    def _campaign_message(self, person: Person, channel: str) -> None:
        delivery_id = f"dlv{next(self._ids):010d}"
        self.delivery(person, channel, "sent", delivery_id)
        outcome = "bounced" if self.faults.hit("bounce") else "delivered"
        self.delivery(person, channel, outcome, delivery_id)

    def delivery(self, person: Person | None, channel: str, outcome: str, delivery_id: str | None = None,
                 timestamp: int | None = None) -> dict[str, Any]:
        """Record a message activity ``<outcome>_<channel>`` (e.g. ``bounced_email``)."""
        delivery_id = delivery_id or f"dlv{next(self._ids):010d}"
        data = {"delivery_id": delivery_id, "delivered": None, "opened": None}
        return self.record(f"{outcome}_{channel}", person, data=data, delivery_id=delivery_id,
                           delivery_type=DELIVERY_TYPES.get(channel, channel), timestamp=timestamp)

    # -- recording ----------------------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        """Add to a stats counter (thread-safe)."""
        with self._lock:
            self.stats[key] += n

    def record(self, atype: str, person: Person | None, *, name: str | None = None, data: Any = None,
               timestamp: int | None = None, **extra: Any) -> dict[str, Any]:
        """Append one activity to the log (receive time unless ``timestamp``)."""
        activity: dict[str, Any] = {
            "type": atype,
            "timestamp": int(self.clock()) if timestamp is None else int(timestamp),
            "customer_id": person.id if person else None,
            "customer_identifiers": person.identifiers() if person else {"id": None, "email": None, "cio_id": ""},
        }
        if name is not None:
            activity["name"] = name
        if data is not None:
            activity["data"] = data
        activity.update({k: v for k, v in extra.items() if v is not None})
        with self._lock:
            self.stats[f"activity_{atype}"] += 1
            return self.log.add(activity)

    def is_deleted(self, customer_id: str | None) -> bool:
        """Whether the person with this id was deleted (their activities need ``deleted=true``)."""
        if customer_id is None:
            return False
        person = self._people.get(("id", customer_id))
        return bool(person and person.deleted)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, default=str)
