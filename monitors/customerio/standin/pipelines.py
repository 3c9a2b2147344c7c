"""Pipelines (Data Pipelines / CDP) API handlers of the stand-in.

Like the live API, every accepted request answers exactly ``200 {}`` — including messages over
32 KB and batches over 500 KB, which are then silently dropped (counted in the stand-in's stats).
Errors use the Segment shape the SDK decodes: ``{"code": ..., "message": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from monitors.customerio.standin.http import Request, Response, Router
from monitors.customerio.standin.workspace import Person, Workspace
from monitors.timeutil import parse_iso

OK = Response.of_json(200, {})
MAX_MESSAGE = 32 * 1024
MAX_BATCH = 500 * 1024
DEVICE_EVENTS = {"Device Created or Updated", "Device Deleted"}


def _epoch(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(parse_iso(value).timestamp())
    except ValueError:
        return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class PipelinesAPI:
    """Routes ``/v1/batch`` and the single-call endpoints onto a :class:`Workspace`."""

    TYPES = ("track", "identify", "page", "screen", "group", "alias")

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def register(self, router: Router) -> None:
        """Add the Pipelines routes."""
        router.add("POST", "/v1/batch", self.batch)
        for kind in self.TYPES:
            router.add("POST", f"/v1/{kind}", self._single_of(kind))

    def batch(self, req: Request) -> Response:
        """``POST /v1/batch``."""
        raw = req.raw_body()
        if len(raw) > MAX_BATCH:
            self.ws.count("pipelines_batch_oversize")
            return OK
        body = req.json()
        messages = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            return Response.of_json(400, {"code": "bad_request", "message": "batch must be a list"})
        shared_context = body.get("context") if isinstance(body.get("context"), dict) else {}
        for message in messages:
            if isinstance(message, dict):
                self._message({"context": shared_context, **message}, str(message.get("type", "")))
        return OK

    def _single_of(self, kind: str) -> Callable[[Request], Response]:
        return lambda req: self.single(req, kind)

    def single(self, req: Request, kind: str) -> Response:
        """``POST /v1/<type>``: one message."""
        if len(req.raw_body()) > MAX_MESSAGE:
            self.ws.count("pipelines_message_oversize")
            return OK
        body = req.json()
        if not isinstance(body, dict):
            return Response.of_json(400, {"code": "bad_request", "message": "body must be an object"})
        self._handle(body, kind)
        return OK

    def _message(self, message: dict[str, Any], kind: str) -> None:
        if len(json.dumps(message, default=str).encode()) > MAX_MESSAGE:
            self.ws.count("pipelines_message_oversize")
            return
        self._handle(message, kind)

    def _handle(self, msg: dict[str, Any], kind: str) -> None:
        self.ws.count(f"pipelines_{kind or 'untyped'}")
        user_id = str(msg["userId"]) if msg.get("userId") not in (None, "") else None
        anonymous_id = str(msg["anonymousId"]) if msg.get("anonymousId") not in (None, "") else None
        person = self.ws.person("id", user_id) if user_id and kind != "identify" else None
        if kind == "track":
            self._track(msg, person, anonymous_id)
        elif kind in ("page", "screen"):
            props = _mapping(msg.get("properties"))
            name = str(props.get("url") or msg.get("name") or "") if kind == "page" else str(msg.get("name") or "")
            if name:
                self.ws.event(person, name, props, event_id=msg.get("messageId"),
                              event_ts=_epoch(msg.get("timestamp")), kind=kind, anonymous_id=anonymous_id)
        elif kind == "identify" and user_id:
            traits = _mapping(msg.get("traits"))
            self.ws.identify("id", user_id, traits)
            identified = self.ws.find("id", user_id)
            if anonymous_id and identified is not None:
                self.ws.anon_merge(identified, anonymous_id)
        elif kind == "group" and person is not None:
            self.ws.record("add_relationship", person, data={"group_id": str(msg.get("groupId"))})
        elif kind == "alias" and person is not None and msg.get("previousId"):
            self._alias(person, str(msg["previousId"]))
        else:
            self.ws.count("pipelines_ignored")

    def _track(self, msg: dict[str, Any], person: Person | None, anonymous_id: str | None) -> None:
        event = msg.get("event")
        if not isinstance(event, str) or not event.strip():
            self.ws.count("pipelines_ignored")
            return
        if event == "User Deleted" and person is not None:
            self.ws.delete(person)
        elif event in DEVICE_EVENTS and person is not None:
            self.ws.record("device_change", person, data={"event": event})
        else:
            self.ws.event(person, event.strip(), msg.get("properties"), event_id=msg.get("messageId"),
                          event_ts=_epoch(msg.get("timestamp")), anonymous_id=anonymous_id)

    def _alias(self, person: Person, previous_id: str) -> None:
        previous = self.ws.find("id", previous_id)
        if previous is not None and not previous.deleted:
            self.ws.merge(person, previous)
        else:
            self.ws.anon_merge(person, previous_id)
