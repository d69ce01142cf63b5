"""Gatsby's events and guest-list API, emulated faithfully to docs/platform-gatsby.md (routes under
``/gatsby``).

- ``Authorization: Bearer <token>`` and ``organizationSlug`` on every call: 401 / 400
  ``{"message": ...}``. Data is scoped per organization.
- ``GET /event``: ``{"events": [...]}``, ``limit`` (default 10) / ``skip``, no totals; past events
  (``primaryDate`` before now on the platform clock) only with ``includePastEvents=true``. The
  four documented parameters only: another one, a non-integer page or a flag other than
  ``true``/``false`` is a 400.
- ``GET|POST|PUT|DELETE /event/{eventId}/guestlist``: ``{"guests": [...]}`` in and out; DELETE
  takes a JSON body and answers ``{"success": true}``. Adding by ``personId`` adds an existing
  person; adding by name/email *always creates a new person* (the docs do not promise to merge by
  email, so the emulator does not: a client that adds without looking first makes duplicates).
  Adding someone already on the list is a 422. New guests start ``Invited``.
- ``POST /gatsby/_seed`` (sandbox only, no auth): upsert events for an organization.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.platform import Platform, dropped_response

SCHEMA = """
CREATE TABLE IF NOT EXISTS gatsby_events (
    org TEXT, event_id TEXT, primary_date TEXT, doc TEXT, PRIMARY KEY (org, event_id));
CREATE TABLE IF NOT EXISTS gatsby_persons (person_id TEXT PRIMARY KEY, org TEXT, doc TEXT);
CREATE TABLE IF NOT EXISTS gatsby_guests (
    org TEXT, event_id TEXT, person_id TEXT, doc TEXT, PRIMARY KEY (org, event_id, person_id));
"""
RSVP = {
    "Invited",
    "Clicked",
    "Accepted",
    "Declined",
    "Canceled",
    "Waitlist",
    "Maybe",
    "Bounced",
    "Failed",
    "Blocked",
}
ATTENDANCE = {"Attended", "No Show", None}
LIST_PARAMS = {"limit", "skip", "includePastEvents", "showOrganizationEvents"}
PERSON_FIELDS = ("firstName", "lastName", "email", "phoneNumber", "company", "position")
EVENT_DEFAULTS: dict[str, Any] = {
    "name": None,
    "primarySlug": None,
    "primaryDate": None,
    "timezone": None,
    "userRole": "admin",
    "isPublic": True,
    "locationName": None,
    "locationAddress": None,
    "locationPhoneNumber": None,
    "locationWebsite": None,
    "virtualLocations": [],
    "eventTags": [],
    "images": [],
    "rsvpDescription": None,
}


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


def routes(platform: Platform) -> list[Route]:
    async def guard(request: Request) -> str | Response:
        """The organization of an authorised request, or the answer to give instead."""
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in platform.keys("gatsby"):
            return _message(401, "Invalid or missing access token")
        org = request.headers.get("organizationslug")
        if not org:
            return _message(400, "Missing required header: organizationSlug")
        injected = await platform.inject(request)
        if injected:
            return injected
        await platform.faults.delay()
        return org

    async def list_events(request: Request) -> Response:
        org = await guard(request)
        if isinstance(org, Response):
            return org
        query = request.query_params
        unknown = sorted(set(query) - LIST_PARAMS)
        if unknown:
            return _message(400, f"Unknown query parameter: {unknown[0]}")
        try:
            limit, skip = int(query.get("limit", "10")), int(query.get("skip", "0"))
        except ValueError:
            return _message(400, "limit and skip must be integers")
        if limit < 1 or skip < 0:
            return _message(400, "limit must be positive and skip not negative")
        for flag in ("includePastEvents", "showOrganizationEvents"):
            if query.get(flag, "false") not in ("true", "false"):
                return _message(400, f"{flag} must be true or false")
        past = query.get("includePastEvents", "false") == "true"
        now = datetime.fromtimestamp(platform.faults.now(), UTC)
        events = [
            json.loads(row[0])
            for row in platform.db.execute(
                "SELECT doc FROM gatsby_events WHERE org=? ORDER BY rowid", (org,)
            )
        ]
        if not past:
            events = [e for e in events if not _before(e.get("primaryDate"), now)]
        return JSONResponse({"events": events[skip : skip + limit]})

    async def guestlist(request: Request) -> Response:
        org = await guard(request)
        if isinstance(org, Response):
            return org
        event_id = request.path_params["event_id"]
        if not platform.db.execute(
            "SELECT 1 FROM gatsby_events WHERE org=? AND event_id=?", (org, event_id)
        ).fetchone():
            return _message(404, "Event not found")
        if request.method == "GET":
            return JSONResponse({"guests": _guests(platform, org, event_id)})
        try:
            body = json.loads(await request.body())
            guests = body["guests"]
            if not isinstance(guests, list) or not guests:
                raise ValueError
            if not all(isinstance(g, dict) for g in guests):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _message(400, "guests must be a non-empty array of guest objects")
        write = {"POST": _add, "PUT": _update, "DELETE": _remove}[request.method]
        try:
            answer = write(platform, org, event_id, guests)
        except Refused as exc:
            return _message(exc.status, exc.message)
        platform.faults.count(f"gatsby_{request.method.lower()}")
        if platform.faults.should_drop():
            return dropped_response()
        return JSONResponse(answer)

    async def seed(request: Request) -> Response:
        body = json.loads(await request.body())
        org, stored = body["organizationSlug"], []
        for given in body.get("events", []):
            event = {"eventId": given.get("eventId") or secrets.token_hex(8), **EVENT_DEFAULTS}
            event.update(given)
            platform.db.execute(
                "INSERT OR REPLACE INTO gatsby_events(org, event_id, primary_date, doc) "
                "VALUES (?, ?, ?, ?)",
                (org, event["eventId"], event["primaryDate"], json.dumps(event)),
            )
            stored.append(event)
        return JSONResponse({"events": stored})

    return [
        Route("/gatsby/_seed", seed, methods=["POST"]),
        Route("/gatsby/event", list_events, methods=["GET"]),
        Route(
            "/gatsby/event/{event_id}/guestlist",
            guestlist,
            methods=["GET", "POST", "PUT", "DELETE"],
        ),
    ]


def _add(platform: Platform, org: str, event_id: str, guests: list[dict[str, Any]]) -> Any:
    on_list = {g["personId"] for g in _guests(platform, org, event_id)}
    people: list[dict[str, Any]] = []
    for given in guests:
        if given.get("personId"):
            person = _person(platform, org, given["personId"])
            if person is None:
                raise Refused(404, f"Person {given['personId']} not found")
            if person["personId"] in on_list:
                raise Refused(422, f"Person {person['personId']} is already on the guest list")
        else:
            if "@" not in str(given.get("email") or ""):
                raise Refused(422, "email is required to create a new person")
            person = {"personId": _new_id(), **{k: given.get(k) for k in PERSON_FIELDS}}
        on_list.add(person["personId"])
        people.append({**person, "notes": given.get("notes")})
    now = _now(platform)
    for person in people:
        notes = person.pop("notes")
        platform.db.execute(
            "INSERT OR IGNORE INTO gatsby_persons(person_id, org, doc) VALUES (?, ?, ?)",
            (person["personId"], org, json.dumps(person)),
        )
        entry = {
            "rsvpStatus": "Invited",
            "rsvpStatusHistory": [_history("Invited", now)],
            "dietaryRestrictions": None,
            "attendanceStatus": None,
            "rsvpQuestionResponses": [],
            "rsvpNote": None,
            "customColumns": None,
            "notes": notes,
        }
        _save_guest(platform, org, event_id, person["personId"], entry)
    ids = [p["personId"] for p in people]
    return {"guests": [g for g in _guests(platform, org, event_id) if g["personId"] in ids]}


def _update(platform: Platform, org: str, event_id: str, guests: list[dict[str, Any]]) -> Any:
    current = {g["personId"]: g for g in _guests(platform, org, event_id)}
    for given in guests:
        if given.get("personId") not in current:
            raise Refused(404, f"Person {given.get('personId')} is not on the guest list")
        if "rsvpStatus" in given and given["rsvpStatus"] not in RSVP:
            raise Refused(422, f"Unknown rsvpStatus {given['rsvpStatus']!r}")
        if "attendanceStatus" in given and given["attendanceStatus"] not in ATTENDANCE:
            raise Refused(422, f"Unknown attendanceStatus {given['attendanceStatus']!r}")
    now = _now(platform)
    for given in guests:
        entry = current[given["personId"]]
        if "rsvpStatus" in given and given["rsvpStatus"] != entry["rsvpStatus"]:
            entry["rsvpStatus"] = given["rsvpStatus"]
            entry["rsvpStatusHistory"].append(_history(given["rsvpStatus"], now))
        if "attendanceStatus" in given:
            entry["attendanceStatus"] = given["attendanceStatus"]
        guest = {k: v for k, v in entry.items() if k not in ("personId", *PERSON_FIELDS)}
        _save_guest(platform, org, event_id, given["personId"], guest)
    ids = [g["personId"] for g in guests]
    return {"guests": [g for g in _guests(platform, org, event_id) if g["personId"] in ids]}


def _remove(platform: Platform, org: str, event_id: str, guests: list[dict[str, Any]]) -> Any:
    for given in guests:
        platform.db.execute(
            "DELETE FROM gatsby_guests WHERE org=? AND event_id=? AND person_id=?",
            (org, event_id, given.get("personId")),
        )
    return {"success": True}


def _guests(platform: Platform, org: str, event_id: str) -> list[dict[str, Any]]:
    rows = platform.db.execute(
        "SELECT p.doc, g.doc FROM gatsby_guests g JOIN gatsby_persons p "
        "ON p.person_id = g.person_id WHERE g.org=? AND g.event_id=? ORDER BY g.rowid",
        (org, event_id),
    ).fetchall()
    return [{**json.loads(person), **json.loads(guest)} for person, guest in rows]


def _person(platform: Platform, org: str, person_id: str) -> dict[str, Any] | None:
    row = platform.db.execute(
        "SELECT doc FROM gatsby_persons WHERE org=? AND person_id=?", (org, person_id)
    ).fetchone()
    return json.loads(row[0]) if row else None


def _save_guest(
    platform: Platform, org: str, event_id: str, person_id: str, entry: dict[str, Any]
) -> None:
    platform.db.execute(
        "INSERT INTO gatsby_guests(org, event_id, person_id, doc) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (org, event_id, person_id) DO UPDATE SET doc=excluded.doc",
        (org, event_id, person_id, json.dumps(entry)),
    )


def _history(status: str, at: str) -> dict[str, Any]:
    return {"status": status, "actorId": "api", "actorType": "user", "createdAt": at}


def _new_id() -> str:
    raw = secrets.token_hex(10)
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16]}"


def _now(platform: Platform) -> str:
    return datetime.fromtimestamp(platform.faults.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _before(value: Any, now: datetime) -> bool:
    if not isinstance(value, str):
        return False
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) < now


def _message(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)
