"""Gomry's ticket classes and attendees, emulated (docs/platform-gomry.md, Tickets).

- Every event has a "General Admission" class from the moment it exists, priced from the
  event's ``ticket_price`` (its id is not in the create response: list the classes to find it).
- Create Attendee (201, ``Idempotency-Key`` as on events) takes ``ticket_class_id`` and a
  ``contact`` upserted by email. It does *not* deduplicate: a second request for the same email
  issues a second ticket, except that an ``invited`` ticket is upgraded. Callers look first.
- Statuses: valid, checked_in, pending_approval, invited, rejected, deleted. Check-in is
  ``PATCH {"status": "checked_in"}``; DELETE is a soft delete. Lists paginate like events and
  default to ``status=valid,checked_in``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.gomry import (
    ValidationFailed,
    _api_key,
    _error,
    _iso,
    _json,
    _load,
    _validation,
    _validation_body,
)
from sandbox.idempotency import idempotent
from sandbox.platform import Platform, dropped_response

SCHEMA = """
CREATE TABLE IF NOT EXISTS gomry_ticket_classes (
    id TEXT PRIMARY KEY, event_id TEXT, api_key TEXT, doc TEXT);
CREATE TABLE IF NOT EXISTS gomry_attendees (
    id TEXT PRIMARY KEY, event_id TEXT, api_key TEXT, email TEXT, doc TEXT);
"""
STATUSES = ("valid", "checked_in", "pending_approval", "invited", "rejected", "deleted")
LISTABLE = ("valid", "checked_in", "pending_approval", "invited")
CREATE_FIELDS = {"ticket_class_id", "contact", "quantity", "status", "payment_method", "send_email"}
PATCH_FIELDS = {"status", "notify_guest", "custom_message"}


def routes(platform: Platform) -> list[Route]:
    async def guard(request: Request) -> tuple[str, dict[str, Any]] | Response:
        key = _api_key(platform, request)
        if isinstance(key, Response):
            return key
        injected = await platform.inject(request)
        if injected:
            return injected
        event = _load(platform, key, request.path_params["event_id"])
        if event is None:
            return _error(404, "Event not found")
        return key, event

    async def list_classes(request: Request) -> Response:
        found = await guard(request)
        if isinstance(found, Response):
            return found
        return JSONResponse({"data": _classes(platform, *found)})

    async def list_attendees(request: Request) -> Response:
        found = await guard(request)
        if isinstance(found, Response):
            return found
        key, event = found
        wanted = request.query_params.get("status", "valid,checked_in").split(",")
        if any(s not in LISTABLE for s in wanted):
            return _error(400, "Invalid status filter")
        try:
            page = int(request.query_params.get("page", "1"))
            size = int(request.query_params.get("page_size", "50"))
        except ValueError:
            return _error(400, "Invalid pagination parameters")
        if page < 1 or not 1 <= size <= 200:
            return _error(400, "Invalid pagination parameters")
        tickets = [t for t in _tickets(platform, key, event["id"]) if t["status"] in wanted]
        total = len(tickets)
        return JSONResponse(
            {
                "data": tickets[(page - 1) * size : page * size],
                "pagination": {
                    "total": total,
                    "page": page,
                    "page_size": size,
                    "total_pages": max(1, -(-total // size)),
                },
            }
        )

    async def create_attendee(request: Request) -> Response:
        found = await guard(request)
        if isinstance(found, Response):
            return found
        key, event = found

        async def run() -> tuple[int, dict[str, Any]]:
            try:
                return _issue(platform, key, event, await _json(request))
            except ValidationFailed as exc:
                return 400, _validation_body(exc)

        return await idempotent(
            platform,
            scope="gomry-attendees",
            api_key=key,
            key=request.headers.get("idempotency-key"),
            run=run,
            in_progress=lambda: _error(409, "idempotent_request_in_progress"),
            reused=lambda: _error(422, "idempotency_key_reused"),
            request_body=await request.body(),
        )

    async def one_attendee(request: Request) -> Response:
        found = await guard(request)
        if isinstance(found, Response):
            return found
        key, event = found
        row = platform.db.execute(
            "SELECT doc FROM gomry_attendees WHERE id=? AND event_id=? AND api_key=?",
            (request.path_params["attendee_id"], event["id"], key),
        ).fetchone()
        if row is None:
            return _error(404, "Attendee not found")
        ticket = json.loads(row[0])
        if request.method == "GET":
            return JSONResponse({"data": ticket})
        await platform.faults.delay()
        status: Any = "deleted"
        if request.method == "PATCH":
            try:
                body = await _json(request)
                if not body:
                    raise ValidationFailed("(body)", "At least one field is required")
                if set(body) - PATCH_FIELDS:
                    raise ValidationFailed(sorted(set(body) - PATCH_FIELDS)[0], "Unrecognized key")
                status = body.get("status")
                if status not in STATUSES:
                    raise ValidationFailed("status", "Invalid enum value")
            except ValidationFailed as exc:
                return _validation(exc)
        if ticket["status"] in ("deleted", "rejected") and status != ticket["status"]:
            return _error(422, f"Cannot move a {ticket['status']} ticket to {status}")
        now = _iso(platform.faults.now())
        if status == "checked_in" and ticket["status"] != "checked_in":
            ticket["checked_in_at"] = now
        ticket["status"], ticket["updated_at"] = status, now
        platform.db.execute(
            "UPDATE gomry_attendees SET doc=? WHERE id=?", (json.dumps(ticket), ticket["id"])
        )
        platform.faults.count("gomry_attendee_updates")
        if platform.faults.should_drop():
            return dropped_response()
        if request.method == "DELETE":
            return JSONResponse({"deleted": True, "id": ticket["id"]})
        return JSONResponse({"data": ticket})

    base = "/api/v1/events/{event_id}"
    return [
        Route(f"{base}/ticket-classes", list_classes, methods=["GET"]),
        Route(f"{base}/attendees", list_attendees, methods=["GET"]),
        Route(f"{base}/attendees", create_attendee, methods=["POST"]),
        Route(
            f"{base}/attendees/{{attendee_id}}", one_attendee, methods=["GET", "PATCH", "DELETE"]
        ),
    ]


def _classes(platform: Platform, key: str, event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's active classes; the General Admission class exists from the start."""
    rows = platform.db.execute(
        "SELECT doc FROM gomry_ticket_classes WHERE event_id=? AND api_key=? ORDER BY rowid",
        (event["id"], key),
    ).fetchall()
    if not rows:
        price = float(event.get("ticket_price") or 0)
        doc = {
            "id": "prod_" + secrets.token_hex(8),
            "name": "General Admission",
            "description": None,
            "status": "active",
            "currency": str(event.get("currency") or "usd").upper(),
            "cost": price,
            "free": price == 0,
            "quantity_total": int(event.get("capacity") or 0),
            "quantity_sold": 0,
            "sales_start": None,
            "sales_end": None,
            "minimum_per_order": 1,
            "maximum_per_order": 10,
            "require_approval": bool(event.get("require_approval")),
            "created_at": event["created_at"],
            "updated_at": event["created_at"],
        }
        platform.db.execute(
            "INSERT INTO gomry_ticket_classes(id, event_id, api_key, doc) VALUES (?, ?, ?, ?)",
            (doc["id"], event["id"], key, json.dumps(doc)),
        )
        return [doc]
    return [c for c in (json.loads(r[0]) for r in rows) if c["status"] == "active"]


def _tickets(platform: Platform, key: str, event_id: str) -> list[dict[str, Any]]:
    rows = platform.db.execute(
        "SELECT doc FROM gomry_attendees WHERE event_id=? AND api_key=? ORDER BY rowid",
        (event_id, key),
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def _issue(
    platform: Platform, key: str, event: dict[str, Any], body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    if set(body) - CREATE_FIELDS:
        raise ValidationFailed(sorted(set(body) - CREATE_FIELDS)[0], "Unrecognized key")
    classes = {c["id"]: c for c in _classes(platform, key, event)}
    ticket_class = classes.get(str(body.get("ticket_class_id")))
    if ticket_class is None:
        raise ValidationFailed("ticket_class_id", "Ticket class not found")
    contact = body.get("contact")
    if not isinstance(contact, dict) or not str(contact.get("email") or "").count("@") == 1:
        raise ValidationFailed("contact.email", "Invalid email")
    quantity = body.get("quantity", 1)
    if not isinstance(quantity, int) or not 1 <= quantity <= 100:
        raise ValidationFailed("quantity", "Number must be between 1 and 100")
    default = "pending_approval" if ticket_class["require_approval"] else "valid"
    status = body.get("status", default)
    if status not in ("valid", "pending_approval", "checked_in", "invited"):
        raise ValidationFailed("status", "Invalid enum value")
    email = str(contact["email"]).lower()
    tickets = _tickets(platform, key, event["id"])
    taken = sum(t["status"] in ("valid", "checked_in", "pending_approval") for t in tickets)
    capacity = int(event.get("capacity") or 0)
    if capacity and taken + quantity > capacity:
        return 422, {"error": "Not enough tickets available"}
    now = _iso(platform.faults.now())
    issued: list[dict[str, Any]] = []
    for invited in (t for t in tickets if t["email"] == email and t["status"] == "invited"):
        if len(issued) < quantity:
            invited["status"], invited["updated_at"] = status, now
            issued.append(invited)
    while len(issued) < quantity:
        issued.append(
            {
                "id": "tkt_" + secrets.token_hex(8),
                "status": status,
                "ticket_class_id": ticket_class["id"],
                "ticket_class_name": ticket_class["name"],
                "barcode": "GOMRY-" + secrets.token_hex(3).upper(),
                "first_name": contact.get("first_name"),
                "last_name": contact.get("last_name"),
                "email": email,
                "checked_in_at": now if status == "checked_in" else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    for ticket in issued:
        platform.db.execute(
            "INSERT OR REPLACE INTO gomry_attendees(id, event_id, api_key, email, doc) "
            "VALUES (?, ?, ?, ?, ?)",
            (ticket["id"], event["id"], key, email, json.dumps(ticket)),
        )
    platform.faults.count("gomry_attendee_creates")
    payment = "pay_" + secrets.token_hex(8)
    return 201, {"data": issued, "payment_id": payment, "quantity": len(issued)}
