"""Track API v1 and v2 handlers of the stand-in (Basic auth ``site_id:api_key`` is checked by the server).

Answers follow the vendor spec: ``200 {}``; a v1 event without a name is
``400 {"meta": {"error": "name cannot be blank"}}``; v2 batches with invalid operations answer
``207 {"errors": [{"batch_index", "reason", "field", "message"}]}`` and keep the valid ones.
"""

from __future__ import annotations

import json
from typing import Any

from monitors.customerio.standin.http import BadRequest, Request, Response, Router
from monitors.customerio.standin.workspace import Person, Workspace

OK = Response.of_json(200, {})
MAX_V2_OP = 32 * 1024
MAX_V2_BATCH = 500 * 1024


def _unix(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object")
    return payload


class TrackAPI:
    """Routes ``/api/v1/...`` and ``/api/v2/...`` onto a :class:`Workspace`."""

    def __init__(self, workspace: Workspace, environment_id: int = 1) -> None:
        self.ws = workspace
        self.environment_id = environment_id
        self._objects: set[str] = set()

    def register(self, router: Router) -> None:
        """Add the Track routes."""
        v1 = "/api/v1"
        router.add("GET", f"{v1}/accounts/region", self.region)
        router.add("PUT", f"{v1}/customers/{{id}}", self.identify)
        router.add("DELETE", f"{v1}/customers/{{id}}", self.delete)
        router.add("POST", f"{v1}/customers/{{id}}/events", self.track)
        router.add("POST", f"{v1}/events", self.track_anonymous)
        router.add("PUT", f"{v1}/customers/{{id}}/devices", self.device)
        router.add("DELETE", f"{v1}/customers/{{id}}/devices/{{device}}", self.device)
        router.add("POST", f"{v1}/customers/{{id}}/suppress", self.no_activity)
        router.add("POST", f"{v1}/customers/{{id}}/unsuppress", self.no_activity)
        router.add("POST", f"{v1}/merge_customers", self.merge)
        router.add("POST", f"{v1}/metrics", self.no_activity)
        router.add("POST", "/api/v2/entity", self.entity)
        router.add("POST", "/api/v2/batch", self.batch)

    def _person(self, identifier: str, *, create: bool = True) -> Person | None:
        kind, value = self.ws.resolve_identifier(identifier)
        return self.ws.person(kind, value, create=create)

    def region(self, req: Request) -> Response:
        """``GET /api/v1/accounts/region``."""
        return Response.of_json(200, {"url": "https://track.customer.io", "region": "us",
                                      "environment_id": self.environment_id})

    def identify(self, req: Request) -> Response:
        """``PUT /api/v1/customers/{id}``."""
        body = _object(req.json())
        kind, value = self.ws.resolve_identifier(req.params[0])
        self.ws.identify(kind, value, body, update_only=body.get("_update") is True)
        return OK

    def delete(self, req: Request) -> Response:
        """``DELETE /api/v1/customers/{id}``."""
        person = self._person(req.params[0], create=False)
        if person is not None:
            self.ws.delete(person)
        return OK

    def track(self, req: Request) -> Response:
        """``POST /api/v1/customers/{id}/events``."""
        body = _object(req.json())
        name = str(body.get("name") or "").strip()
        if not name:
            return Response.of_json(400, {"meta": {"error": "name cannot be blank"}})
        person = self._person(req.params[0])
        kind = str(body["type"]) if body.get("type") in ("page", "screen") else "event"
        self.ws.event(person, name, body.get("data"), event_id=body.get("id") or None,
                      event_ts=_unix(body.get("timestamp")), kind=kind)
        return OK

    def track_anonymous(self, req: Request) -> Response:
        """``POST /api/v1/events`` (anonymous, or an invite when no ``anonymous_id``)."""
        body = _object(req.json())
        name = str(body.get("name") or "").strip()
        if not name:
            return Response.of_json(400, {"meta": {"error": "name cannot be blank"}})
        anonymous_id = body.get("anonymous_id") or None
        self.ws.event(None, name, body.get("data"), event_id=body.get("id") or None,
                      event_ts=_unix(body.get("timestamp")), anonymous_id=anonymous_id)
        return OK

    def device(self, req: Request) -> Response:
        """``PUT .../devices`` and ``DELETE .../devices/{device}`` → ``device_change``."""
        person = self._person(req.params[0])
        if person is not None:
            self.ws.record("device_change", person, data={"method": req.method})
        return OK

    def no_activity(self, req: Request) -> Response:
        """Accepted operations that leave no activity in the stand-in (suppress, metrics, …)."""
        req.json()
        return OK

    def merge(self, req: Request) -> Response:
        """``POST /api/v1/merge_customers``."""
        body = _object(req.json())
        people = []
        for role in ("primary", "secondary"):
            ident = body.get(role)
            if not isinstance(ident, dict) or len(ident) != 1:
                return Response.of_json(400, {"meta": {"error": f"{role} must have exactly one identifier"}})
            kind, value = next(iter(ident.items()))
            people.append(self.ws.person(str(kind), str(value)))
        if people[0] is not None and people[1] is not None:
            self.ws.merge(people[0], people[1])
        return OK

    def entity(self, req: Request) -> Response:
        """``POST /api/v2/entity``: one operation."""
        if len(req.raw_body()) > MAX_V2_OP:
            return Response.of_json(400, {"errors": [{"reason": "too_large", "field": "",
                                                       "message": "request larger than 32 KB"}]})
        error = self._operation(_object(req.json()))
        if error:
            return Response.of_json(400, {"errors": [error]})
        return OK

    def batch(self, req: Request) -> Response:
        """``POST /api/v2/batch``: 207 lists the invalid operations, the rest are applied."""
        raw = req.raw_body()
        if len(raw) > MAX_V2_BATCH:
            return Response.of_json(400, {"errors": [{"reason": "too_large", "field": "batch",
                                                       "message": "batch larger than 500 KB"}]})
        ops = _object(req.json()).get("batch")
        if not isinstance(ops, list):
            return Response.of_json(400, {"errors": [{"reason": "required", "field": "batch",
                                                       "message": "batch must be a list"}]})
        errors = []
        for index, op in enumerate(ops):
            error = self._sized_operation(op)
            if error:
                errors.append({"batch_index": index, **error})
        return Response.of_json(207, {"errors": errors}) if errors else OK

    def _sized_operation(self, op: Any) -> dict[str, str] | None:
        if not isinstance(op, dict):
            return {"reason": "invalid", "field": "", "message": "operation must be an object"}
        if len(json.dumps(op, default=str).encode()) > MAX_V2_OP:
            return {"reason": "too_large", "field": "", "message": "operation larger than 32 KB"}
        return self._operation(op)

    def _operation(self, op: dict[str, Any]) -> dict[str, str] | None:
        kind, action = op.get("type"), op.get("action")
        ids = op.get("identifiers")
        if not isinstance(ids, dict) or not ids:
            return {"reason": "required", "field": "identifiers", "message": "identifiers are required"}
        if kind == "object":
            return self._object_op(op, ids, str(action))
        if kind != "person":
            return {"reason": "invalid", "field": "type", "message": f"unsupported type {kind!r}"}
        ident_kind, value = next(iter(ids.items()))
        ident_kind = "id" if ident_kind == "phone" else str(ident_kind)
        return self._person_op(op, ident_kind, str(value), str(action))

    def _person_op(self, op: dict[str, Any], kind: str, value: str, action: str) -> dict[str, str] | None:
        attrs: dict[str, Any] = op["attributes"] if isinstance(op.get("attributes"), dict) else {}
        if action == "identify":
            self.ws.identify(kind, value, attrs)
        elif action in ("event", "page", "screen"):
            name = str(op.get("name") or "").strip()
            if not name:
                return {"reason": "required", "field": "name", "message": "name cannot be blank"}
            self.ws.event(self.ws.person(kind, value), name, attrs, event_id=op.get("id") or None,
                          event_ts=_unix(op.get("timestamp")), kind=action)
        elif action == "delete":
            person = self.ws.person(kind, value, create=False)
            if person is not None:
                self.ws.delete(person)
        elif action in ("add_device", "delete_device"):
            self.ws.record("device_change", self.ws.person(kind, value), data={"action": action})
        elif action in ("add_relationships", "delete_relationships"):
            atype = "add_relationship" if action.startswith("add") else "delete_relationship"
            self.ws.record(atype, self.ws.person(kind, value), data={"relationships": op.get("cio_relationships")})
        elif action in ("merge", "suppress", "unsuppress"):
            self.ws.person(kind, value)
        else:
            return {"reason": "invalid", "field": "action", "message": f"unsupported action {action!r}"}
        return None

    def _object_op(self, op: dict[str, Any], ids: dict[str, Any], action: str) -> dict[str, str] | None:
        type_id = ids.get("object_type_id")
        if type_id is None or ids.get("object_id") is None:
            return {"reason": "required", "field": "identifiers", "message": "object_type_id and object_id"}
        key = f"{type_id}:{ids['object_id']}"
        suffix = {"identify": "create", "identify_anonymous": "create", "delete": "delete",
                  "add_relationships": "add_relationship", "delete_relationships": "delete_relationship"}
        if action not in suffix:
            return {"reason": "invalid", "field": "action", "message": f"unsupported action {action!r}"}
        atype = suffix[action]
        if atype == "create" and key in self._objects:
            atype = "attribute_change"
        self._objects.add(key)
        self.ws.record(f"_o:{type_id}:{atype}", None, data={"object_id": str(ids["object_id"])})
        return None
