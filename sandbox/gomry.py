"""Gomry's events API, emulated faithfully (docs/platform-gomry.md).

- ``X-API-KEY`` on every request (401 ``Missing X-API-KEY header`` / ``Invalid or revoked``).
- Create: 201; ``Idempotency-Key`` replays the original response verbatim for 24 h with
  ``Idempotent-Replay: true``; a concurrent request with the same key gets
  409 ``idempotent_request_in_progress``; keys are scoped per API key.
- Request ``start.utc``/``end.utc`` are wall-clock times in ``timezone``; responses carry true
  UTC with milliseconds. A wall-clock time that happens twice (clocks go back) or never (clocks
  go forward) is refused with a 400 validation error (undocumented: we do not guess). End must
  be strictly after start, on create as on PATCH. An ``https://`` location makes the event
  virtual.
- Unknown fields: 400. PATCH needs at least one field, replaces ``venue`` whole, and requires
  end strictly after start with matching zones. There is no DELETE.
- Lists paginate with ``page``/``page_size`` (1–200); any other query parameter is a 400 (the
  list filters are undocumented, so none is accepted).
- Sandbox only, to plant drift by hand: ``DELETE /_sandbox/gomry/events/{id}`` (deleted in the
  dashboard), ``POST /_sandbox/gomry/events/{id}/copies`` ``{"count"?, "fields"?}`` (copies).
- Ticket classes (the automatic General Admission) and attendees with check-in live in
  ``sandbox.gomry_tickets``.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.idempotency import idempotent
from sandbox.platform import Platform, dropped_response

CREATE_FIELDS = {
    "name",
    "start",
    "end",
    "location",
    "currency",
    "capacity",
    "ticket_price",
    "require_approval",
    "is_private",
    "description",
    "space_identifier",
}
PATCH_FIELDS = {
    "name",
    "description",
    "start",
    "end",
    "venue",
    "location",
    "capacity",
    "currency",
    "is_private",
    "registration_status",
    "require_approval",
}
LIST_PARAMS = {"page", "page_size"}
WALL_CLOCK = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


class ValidationFailed(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message


def routes(platform: Platform) -> list[Route]:
    async def create(request: Request) -> Response:
        key = _api_key(platform, request)
        if isinstance(key, Response):
            return key
        injected = await platform.inject(request)
        if injected:
            return injected
        idem = request.headers.get("idempotency-key")
        if idem is not None and len(idem) > 255:
            return _error(400, "Idempotency-Key longer than 255 characters")

        async def run() -> tuple[int, dict[str, Any]]:
            try:
                body_in = await _json(request)
            except ValidationFailed as exc:
                return 400, _validation_body(exc)
            return _create(platform, key, body_in)

        return await idempotent(
            platform,
            scope="gomry",
            api_key=key,
            key=idem,
            run=run,
            in_progress=lambda: _error(409, "idempotent_request_in_progress"),
            reused=lambda: _error(422, "idempotency_key_reused"),
            request_body=await request.body(),
        )

    async def list_events(request: Request) -> Response:
        key = _api_key(platform, request)
        if isinstance(key, Response):
            return key
        injected = await platform.inject(request)
        if injected:
            return injected
        unknown = sorted(set(request.query_params) - LIST_PARAMS)
        if unknown:  # filters are undocumented: refuse rather than silently ignore (inferred)
            return JSONResponse(
                {
                    "error": "Invalid query parameters",
                    "details": {"fieldErrors": {unknown[0]: ["Unrecognized key"]}},
                },
                status_code=400,
            )
        try:
            page = int(request.query_params.get("page", "1"))
            size = int(request.query_params.get("page_size", "50"))
        except ValueError:
            return _error(400, "Invalid pagination parameters")
        if page < 1 or not 1 <= size <= 200:
            return JSONResponse(
                {
                    "error": "Invalid pagination parameters",
                    "details": {"fieldErrors": {"page_size": ["Number must be between 1 and 200"]}},
                },
                status_code=400,
            )
        total = platform.db.execute(
            "SELECT COUNT(*) FROM gomry_events WHERE api_key=?", (key,)
        ).fetchone()[0]
        rows = platform.db.execute(
            "SELECT doc FROM gomry_events WHERE api_key=? ORDER BY rowid LIMIT ? OFFSET ?",
            (key, size, (page - 1) * size),
        ).fetchall()
        return JSONResponse(
            {
                "data": [json.loads(r[0]) for r in rows],
                "pagination": {
                    "total": total,
                    "page": page,
                    "page_size": size,
                    "total_pages": max(1, -(-total // size)),
                },
            }
        )

    async def get_event(request: Request) -> Response:
        key = _api_key(platform, request)
        if isinstance(key, Response):
            return key
        injected = await platform.inject(request)
        if injected:
            return injected
        doc = _load(platform, key, request.path_params["event_id"])
        if doc is None:
            return _error(404, "Event not found")
        return JSONResponse({"data": doc})

    async def patch_event(request: Request) -> Response:
        key = _api_key(platform, request)
        if isinstance(key, Response):
            return key
        injected = await platform.inject(request)
        if injected:
            return injected
        await platform.faults.delay()
        doc = _load(platform, key, request.path_params["event_id"])
        if doc is None:
            return _error(404, "Event not found")
        try:
            body = await _json(request)
            _patch(doc, body, platform.faults.now())
        except ValidationFailed as exc:
            return _validation(exc)
        platform.db.execute(
            "UPDATE gomry_events SET doc=? WHERE id=?", (json.dumps(doc), doc["id"])
        )
        platform.db.commit()
        platform.faults.count("gomry_patches")
        if platform.faults.should_drop():
            return dropped_response()
        return JSONResponse({"data": doc})

    async def plant_delete(request: Request) -> Response:
        """Sandbox only: the event is deleted by hand in the dashboard."""
        gone = platform.db.execute(
            "DELETE FROM gomry_events WHERE id=?", (request.path_params["event_id"],)
        ).rowcount
        return JSONResponse({"deleted": gone}, status_code=200 if gone else 404)

    async def plant_copy(request: Request) -> Response:
        """Sandbox only: ``count`` copies of the event (new ids, ``fields`` merged over the
        original), as a hand-made duplicate in the dashboard would be."""
        row = platform.db.execute(
            "SELECT api_key, doc FROM gomry_events WHERE id=?", (request.path_params["event_id"],)
        ).fetchone()
        if row is None:
            return _error(404, "Event not found")
        given = json.loads(await request.body() or b"{}")
        made = []
        for _ in range(int(given.get("count", 1))):
            doc = {**json.loads(row[1]), **given.get("fields", {}), "id": _new_id()}
            platform.db.execute(
                "INSERT INTO gomry_events(id, api_key, doc) VALUES (?, ?, ?)",
                (doc["id"], row[0], json.dumps(doc)),
            )
            made.append(doc["id"])
        platform.db.commit()
        return JSONResponse({"ids": made}, status_code=201)

    return [
        Route("/_sandbox/gomry/events/{event_id}", plant_delete, methods=["DELETE"]),
        Route("/_sandbox/gomry/events/{event_id}/copies", plant_copy, methods=["POST"]),
        Route("/api/v1/events", create, methods=["POST"]),
        Route("/api/v1/events", list_events, methods=["GET"]),
        Route("/api/v1/events/{event_id}", get_event, methods=["GET"]),
        Route("/api/v1/events/{event_id}", patch_event, methods=["PATCH"]),
    ]


SCHEMA = """
CREATE TABLE IF NOT EXISTS gomry_events (id TEXT PRIMARY KEY, api_key TEXT, doc TEXT);
"""


def _api_key(platform: Platform, request: Request) -> str | Response:
    key = request.headers.get("x-api-key")
    if not key:
        return _error(401, "Missing X-API-KEY header")
    if key not in platform.keys("gomry"):
        return _error(401, "Invalid or revoked API key")
    return key


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ValidationFailed("(body)", "Invalid JSON") from None
    if not isinstance(body, dict):
        raise ValidationFailed("(body)", "Expected an object")
    return body


def _create(platform: Platform, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        unknown = set(body) - CREATE_FIELDS
        if unknown:
            raise ValidationFailed(sorted(unknown)[0], "Unrecognized key")
        for required in ("name", "start", "end", "location"):
            if required not in body:
                raise ValidationFailed(required, "Required")
        name = body["name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise ValidationFailed("name", "String must contain between 1 and 200 character(s)")
        start, tz = _instant(body["start"], "start")
        end, end_tz = _instant(body["end"], "end")
        if end <= start:
            raise ValidationFailed("end", "End must be after start")
        location = body["location"]
        if not isinstance(location, str) or not location.strip():
            raise ValidationFailed("location", "Required")
    except ValidationFailed as exc:
        return 400, _validation_body(exc)
    now = _iso(platform.faults.now())
    virtual = location.startswith("https://")
    doc = {
        "id": _new_id(),
        "name": name,
        "status": "active",
        "registration_status": "open",
        "currency": str(body.get("currency") or "usd").lower(),
        "capacity": int(body.get("capacity") or 0),
        "tickets_sold": 0,
        "start": {"utc": _iso(start.timestamp()), "timezone": tz},
        "end": {"utc": _iso(end.timestamp()), "timezone": end_tz},
        "venue": None
        if virtual
        else {"name": location, "address": location, "city": None, "state": None, "country": None},
        "is_virtual": virtual,
        "meeting_url": location if virtual else None,
        "description": body.get("description"),
        "ticket_price": body.get("ticket_price", 0),
        "require_approval": bool(body.get("require_approval", False)),
        "is_private": bool(body.get("is_private", False)),
        "space_identifier": body.get("space_identifier") or "GENERAL",
        "created_at": now,
        "updated_at": now,
    }
    platform.db.execute(
        "INSERT INTO gomry_events(id, api_key, doc) VALUES (?, ?, ?)",
        (doc["id"], key, json.dumps(doc)),
    )
    platform.faults.count("gomry_creates")
    return 201, {"data": doc}


def _patch(doc: dict[str, Any], body: dict[str, Any], now: float) -> None:
    if not body:
        raise ValidationFailed("(body)", "At least one field is required")
    unknown = set(body) - PATCH_FIELDS
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], "Unrecognized key")
    if "name" in body and not (isinstance(body["name"], str) and 1 <= len(body["name"]) <= 200):
        raise ValidationFailed("name", "String must contain between 1 and 200 character(s)")
    start = _instant(body["start"], "start") if "start" in body else None
    end = _instant(body["end"], "end") if body.get("end") is not None else None
    if start and end:
        if end[1] != start[1]:
            raise ValidationFailed("end", "Start and end time zones must match")
        if end[0] <= start[0]:
            raise ValidationFailed("end", "End must be after start")
    if "registration_status" in body and body["registration_status"] not in ("open", "closed"):
        raise ValidationFailed("registration_status", "Invalid enum value")
    for field in (
        "name",
        "description",
        "capacity",
        "is_private",
        "registration_status",
        "require_approval",
    ):
        if field in body:
            doc[field] = body[field]
    if "currency" in body:
        doc["currency"] = str(body["currency"]).lower()
    if start:
        doc["start"] = {"utc": _iso(start[0].timestamp()), "timezone": start[1]}
    if "end" in body:
        doc["end"] = None if end is None else {"utc": _iso(end[0].timestamp()), "timezone": end[1]}
    if "venue" in body:
        venue = body["venue"]
        if not isinstance(venue, dict):
            raise ValidationFailed("venue", "Expected object")
        doc["venue"] = {k: venue.get(k) for k in ("name", "address", "city", "state", "country")}
    if "location" in body:
        location = str(body["location"])
        if location.startswith("https://"):
            doc["is_virtual"], doc["meeting_url"] = True, location
        else:
            doc["is_virtual"], doc["meeting_url"] = False, None
            doc["venue"] = {
                "name": location,
                "address": location,
                "city": None,
                "state": None,
                "country": None,
            }
    doc["updated_at"] = _iso(now)


def _instant(value: Any, field: str) -> tuple[datetime, str]:
    """A request ``{utc, timezone}``: ``utc`` is wall-clock time in ``timezone``."""
    if not isinstance(value, dict) or set(value) != {"utc", "timezone"}:
        raise ValidationFailed(field, "Expected {utc, timezone}")
    wall, tz = value["utc"], value["timezone"]
    if not isinstance(wall, str) or not WALL_CLOCK.match(wall):
        raise ValidationFailed(f"{field}.utc", "Expected YYYY-MM-DDTHH:MM")
    try:
        zone = ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"{field}.timezone", "Invalid time zone") from None
    local = datetime.fromisoformat(wall).replace(tzinfo=zone)
    readings = {local.replace(fold=fold).astimezone(UTC) for fold in (0, 1)}
    if len(readings) > 1:  # the real API documents nothing here; we refuse rather than guess
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(
            tzinfo=None
        ):
            raise ValidationFailed(f"{field}.utc", "Local time is ambiguous in this time zone")
        raise ValidationFailed(f"{field}.utc", "Local time does not exist in this time zone")
    return local.astimezone(UTC), str(tz)


def _new_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20))


def _load(platform: Platform, key: str, event_id: str) -> dict[str, Any] | None:
    row = platform.db.execute(
        "SELECT doc FROM gomry_events WHERE id=? AND api_key=?", (event_id, key)
    ).fetchone()
    return json.loads(row[0]) if row else None


def _iso(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(ts * 1000) % 1000:03d}Z"
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_body(exc: ValidationFailed) -> dict[str, Any]:
    if exc.field == "(body)":
        return {"error": exc.message}
    return {"error": "Validation failed", "details": {"fieldErrors": {exc.field: [exc.message]}}}


def _validation(exc: ValidationFailed) -> JSONResponse:
    return JSONResponse(_validation_body(exc), status_code=400)
