"""The stand-in's activity log: activities kept sorted by (timestamp, sequence), listed newest
first with an opaque ``next`` cursor, filtered by ``type`` / ``name`` / person like ``/v1/activities``.

Ids are ULID-shaped (26 Crockford base-32 characters: 48-bit milliseconds, then the sequence), so
they sort like the activity order.
"""

from __future__ import annotations

import base64
import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
Key = tuple[int, int]


def ulid(millis: int, seq: int) -> str:
    """A sortable ULID-shaped id from a millisecond time and a sequence number."""
    value = (millis & (2**48 - 1)) << 80 | (seq & (2**80 - 1))
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def encode_cursor(key: Key) -> str:
    """Opaque ``next`` token for 'everything older than ``key``'."""
    return base64.urlsafe_b64encode(f"{key[0]}.{key[1]}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Key | None:
    """The key inside a ``next`` token, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        ts, seq = raw.split(".")
        return int(ts), int(seq)
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Query:
    """Filters of ``/v1/activities``."""

    type: str | None = None
    name: str | None = None
    customer_id: str | None = None
    deleted: bool = False


class ActivityLog:
    """Thread-safe, sorted activity store with per-type and per-(type, name) indexes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._by_key: dict[Key, dict[str, Any]] = {}
        self._index: dict[tuple[str | None, str | None], list[Key]] = {(None, None): []}

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, activity: dict[str, Any]) -> dict[str, Any]:
        """Store an activity (``type``, ``timestamp`` required); assigns its ``id``. Returns it."""
        with self._lock:
            self._seq += 1
            key = (int(activity["timestamp"]), self._seq)
            activity.setdefault("id", ulid(key[0] * 1000, self._seq))
            self._by_key[key] = activity
            atype, name = activity["type"], activity.get("name")
            for index in ((None, None), (atype, None), (atype, name)):
                bisect.insort(self._index.setdefault(index, []), key)
            return activity

    def page(
        self, query: Query, start: str | None, limit: int, is_deleted: Callable[[str | None], bool]
    ) -> tuple[list[dict[str, Any]], str]:
        """Up to ``limit`` activities older than the ``start`` cursor, newest first, and the next cursor."""
        with self._lock:
            keys = self._index.get((query.type, query.name if query.type else None), [])
            end = len(keys)
            if start:
                cursor = decode_cursor(start)
                end = bisect.bisect_left(keys, cursor) if cursor else 0
            found: list[dict[str, Any]] = []
            pos = end
            while pos > 0 and len(found) < limit:
                pos -= 1
                activity = self._by_key[keys[pos]]
                if self._matches(activity, query, is_deleted):
                    found.append(dict(activity))
            more = pos > 0 and len(found) == limit
            return found, encode_cursor(keys[pos]) if more else ""

    @staticmethod
    def _matches(activity: dict[str, Any], query: Query, is_deleted: Callable[[str | None], bool]) -> bool:
        if query.name and activity.get("name") != query.name:
            return False
        if query.customer_id is not None and activity.get("customer_id") != query.customer_id:
            return False
        return query.deleted == is_deleted(activity.get("customer_id"))

    def all(self) -> list[dict[str, Any]]:
        """Every activity, oldest first (for tests and the demo)."""
        with self._lock:
            return [dict(self._by_key[k]) for k in self._index[(None, None)]]
