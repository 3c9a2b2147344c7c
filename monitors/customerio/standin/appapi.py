"""App API handlers of the stand-in: ``/v1/activities`` backed by the workspace's activity log, a
person's activities, workspaces, and the transactional ``/v1/send/*`` endpoints the SDK calls.

Bearer auth and the 10 requests/s limit are enforced by the server before these run; errors use
the App API envelope ``{"errors": [{"detail": ..., "status": "..."}]}``.
"""

from __future__ import annotations

from typing import Any

from monitors.customerio.standin.activitylog import Query
from monitors.customerio.standin.http import Request, Response, Router
from monitors.customerio.standin.workspace import Workspace

SEND_CHANNELS = {"email": "email", "sms": "twilio", "push": "push", "whatsapp": "whatsapp",
                 "in_app": "in_app", "inbox_message": "in_app"}


def app_error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """A response in the App API error envelope."""
    return Response.of_json(status, {"errors": [{"detail": detail, "status": str(status)}]}, headers)


def _limit(query: dict[str, str]) -> int | Response:
    raw = query.get("limit", "10")
    try:
        limit = int(raw)
    except ValueError:
        return app_error(400, f"limit must be an integer, got {raw!r}")
    return min(max(limit, 1), 100)


class AppAPI:
    """Routes the App API read endpoints onto a :class:`Workspace`."""

    def __init__(self, workspace: Workspace, name: str = "stand-in") -> None:
        self.ws = workspace
        self.name = name

    def register(self, router: Router) -> None:
        """Add the App API routes."""
        router.add("GET", "/v1/activities", self.activities)
        router.add("GET", "/v1/customers/{id}/activities", self.person_activities)
        router.add("GET", "/v1/workspaces", self.workspaces)
        router.add("POST", "/v1/send/{kind}", self.send)

    def activities(self, req: Request) -> Response:
        """``GET /v1/activities``: newest first, ``next`` is '' on the last page."""
        limit = _limit(req.query)
        if isinstance(limit, Response):
            return limit
        query = Query(type=req.query.get("type") or None, name=req.query.get("name") or None,
                      customer_id=req.query.get("customer_id"), deleted=req.query.get("deleted") == "true")
        found, nxt = self.ws.log.page(query, req.query.get("start"), limit, self.ws.is_deleted)
        return Response.of_json(200, {"activities": found, "next": nxt})

    def person_activities(self, req: Request) -> Response:
        """``GET /v1/customers/{id}/activities``: 404 for an unknown person."""
        limit = _limit(req.query)
        if isinstance(limit, Response):
            return limit
        id_type = req.query.get("id_type", "id")
        value = req.params[0][4:] if id_type == "id" and req.params[0].startswith("cio_") else req.params[0]
        person = self.ws.find("cio_id" if req.params[0].startswith("cio_") else id_type, value)
        if person is None or person.id is None:
            return app_error(404, "The customer_id does not exist.")
        query = Query(type=req.query.get("type") or None, name=req.query.get("name") or None,
                      customer_id=person.id, deleted=person.deleted)
        found, nxt = self.ws.log.page(query, req.query.get("start"), limit, self.ws.is_deleted)
        return Response.of_json(200, {"activities": found, "next": nxt})

    def workspaces(self, req: Request) -> Response:
        """``GET /v1/workspaces`` with live counts."""
        sent = sum(n for k, n in self.ws.stats.items() if k.startswith("activity_sent_"))
        people = self.ws.stats.get("activity_profile_create", 0) - self.ws.stats.get("activity_profile_delete", 0)
        return Response.of_json(200, {"workspaces": [{
            "id": 1, "name": self.name, "messages_sent": sent, "billable_messages_sent": sent,
            "people": people, "objects": 0, "object_types": 0}]})

    def send(self, req: Request) -> Response:
        """``POST /v1/send/<kind>``: queues a transactional message (a ``sent_<channel>`` activity)."""
        channel = SEND_CHANNELS.get(req.params[0])
        if channel is None:
            return app_error(404, f"unknown send endpoint {req.params[0]!r}")
        body: Any = req.json()
        idents = body.get("identifiers") if isinstance(body, dict) else None
        if not isinstance(idents, dict) or not idents:
            return app_error(400, "identifiers are required")
        kind, value = next(iter(idents.items()))
        person = self.ws.person(str(kind), str(value))
        activity = self.ws.delivery(person, channel, "sent")
        return Response.of_json(200, {"delivery_id": activity["delivery_id"], "queued_at": activity["timestamp"]})
