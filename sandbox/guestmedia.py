"""A guest-media provider (branded event, QR sign, album) per docs/guest-media-contract.md.

Routes under ``/guestmedia/v1``; ``POST /guestmedia/_sandbox/events/{id}/end`` ends an event now
and attaches an album; ``DELETE /guestmedia/_sandbox/events/{id}`` and ``POST
/guestmedia/_sandbox/events/{id}/copies`` (``{"count"?, "fields"?}``) plant drift by hand.
Status is computed on read from the platform clock (``clock_offset_s``): scheduled → live at
``starts_at`` → ended at ``ends_at`` (album link appears) unless cancelled. ``GET /events``
pages with ``limit`` (1–100) and ``next_cursor``; unknown query parameters are a 400.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.idempotency import idempotent
from sandbox.platform import Platform, dropped_response

SCHEMA = """
CREATE TABLE IF NOT EXISTS guestmedia_events (
    id TEXT PRIMARY KEY, api_key TEXT, reference TEXT, doc TEXT);
"""
CREATE_FIELDS = {"name", "description", "starts_at", "ends_at", "timezone", "branding"} | {
    "external_reference"
}
PATCH_FIELDS = (CREATE_FIELDS - {"external_reference"}) | {"status"}
BRANDING = ("logo_url", "primary_color", "secondary_color", "custom_domain", "qr_text")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
DEFAULT_HOST = "media.sandbox.test"
LIST_PARAMS = {"limit", "cursor", "ends_after", "external_reference"}


class Invalid(Exception):
    def __init__(self, field: str, message: str, status: int = 400, code: str = "") -> None:
        self.field, self.message, self.status = field, message, status
        self.code = code or "validation_failed"


def routes(platform: Platform) -> list[Route]:
    async def guard(request: Request) -> str | Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in platform.keys("guestmedia"):
            return _error(401, "unauthorized", "Missing or invalid API key")
        injected = await platform.inject(request)
        return injected if injected else auth[7:]

    async def create(request: Request) -> Response:
        key = await guard(request)
        if isinstance(key, Response):
            return key
        idem = request.headers.get("idempotency-key")
        if idem is not None and len(idem) > 255:
            return _error(400, "validation_failed", "Idempotency-Key longer than 255 characters")

        async def run() -> tuple[int, dict[str, Any]]:
            try:
                doc = _new_event(platform, await _body(request))
            except Invalid as exc:
                return exc.status, _error_body(exc)
            platform.db.execute(
                "INSERT INTO guestmedia_events(id, api_key, reference, doc) VALUES (?, ?, ?, ?)",
                (doc["id"], key, doc["external_reference"], json.dumps(doc)),
            )
            platform.faults.count("guestmedia_creates")
            return 201, {"event": _view(platform, doc)}

        return await idempotent(
            platform,
            scope="guestmedia",
            api_key=key,
            key=idem,
            run=run,
            in_progress=lambda: _error(
                409, "idempotent_request_in_progress", "A request with this key is running"
            ),
            reused=lambda: _error(
                422, "idempotency_key_reused", "This key was used with a different request"
            ),
            request_body=await request.body(),
        )

    async def find(request: Request) -> Response:
        """``GET /events``: oldest first, ``limit`` (1–100) per page, ``next_cursor`` to go on;
        ``external_reference`` and ``ends_after`` filter."""
        key = await guard(request)
        if isinstance(key, Response):
            return key
        try:
            query = _list_query(request)
        except Invalid as exc:
            return JSONResponse(_error_body(exc), status_code=exc.status)
        sql = "SELECT rowid, doc FROM guestmedia_events WHERE api_key=? AND rowid>?"
        args: list[Any] = [key, query["after"]]
        if query["reference"] is not None:
            sql, args = sql + " AND reference=?", [*args, query["reference"]]
        found: list[dict[str, Any]] = []
        last = query["after"]
        for rowid, doc in platform.db.execute(sql + " ORDER BY rowid", args):
            event = json.loads(doc)
            if query["ends_after"] and _instant(event, "ends_at") < query["ends_after"]:
                continue
            if len(found) == query["limit"]:
                break
            found.append(_view(platform, event))
            last = rowid
        else:
            last = None
        cursor = str(last) if last is not None and found else None
        return JSONResponse({"events": found, "next_cursor": cursor})

    async def one(request: Request) -> Response:
        key = await guard(request)
        if isinstance(key, Response):
            return key
        row = platform.db.execute(
            "SELECT doc FROM guestmedia_events WHERE id=? AND api_key=?",
            (request.path_params["event_id"], key),
        ).fetchone()
        if row is None:
            return _error(404, "not_found", "Event not found")
        doc = json.loads(row[0])
        if request.method == "GET":
            return JSONResponse({"event": _view(platform, doc)})
        await platform.faults.delay()
        try:
            _patch(platform, doc, await _body(request))
        except Invalid as exc:
            return JSONResponse(_error_body(exc), status_code=exc.status)
        _save(platform, doc)
        platform.faults.count("guestmedia_patches")
        if platform.faults.should_drop():
            return dropped_response()
        return JSONResponse({"event": _view(platform, doc)})

    async def end_now(request: Request) -> Response:
        row = platform.db.execute(
            "SELECT doc FROM guestmedia_events WHERE id=?", (request.path_params["event_id"],)
        ).fetchone()
        if row is None:
            return _error(404, "not_found", "Event not found")
        doc, given = json.loads(row[0]), json.loads(await request.body() or b"{}")
        doc["ended_at"] = _iso(platform.faults.now())
        doc["album_url"] = given.get("album_url") or _album(doc)
        doc["media_count"] = int(given.get("media_count", doc.get("media_count") or 0))
        doc["status"] = "ended"
        _save(platform, doc)
        return JSONResponse({"event": _view(platform, doc)})

    async def plant_delete(request: Request) -> Response:
        """Sandbox only: the event is deleted by hand at the provider."""
        gone = platform.db.execute(
            "DELETE FROM guestmedia_events WHERE id=?", (request.path_params["event_id"],)
        ).rowcount
        return JSONResponse({"deleted": gone}, status_code=200 if gone else 404)

    async def plant_copy(request: Request) -> Response:
        """Sandbox only: ``count`` copies of the event (new ids, ``fields`` merged over it)."""
        row = platform.db.execute(
            "SELECT api_key, doc FROM guestmedia_events WHERE id=?",
            (request.path_params["event_id"],),
        ).fetchone()
        if row is None:
            return _error(404, "not_found", "Event not found")
        given = json.loads(await request.body() or b"{}")
        made = []
        for _ in range(int(given.get("count", 1))):
            doc = {
                **json.loads(row[1]),
                **given.get("fields", {}),
                "id": "gm_" + secrets.token_hex(6),
            }
            platform.db.execute(
                "INSERT INTO guestmedia_events(id, api_key, reference, doc) VALUES (?, ?, ?, ?)",
                (doc["id"], row[0], doc.get("external_reference"), json.dumps(doc)),
            )
            made.append(doc["id"])
        return JSONResponse({"ids": made}, status_code=201)

    return [
        Route("/guestmedia/_sandbox/events/{event_id}", plant_delete, methods=["DELETE"]),
        Route("/guestmedia/_sandbox/events/{event_id}/copies", plant_copy, methods=["POST"]),
        Route("/guestmedia/_sandbox/events/{event_id}/end", end_now, methods=["POST"]),
        Route("/guestmedia/v1/events", create, methods=["POST"]),
        Route("/guestmedia/v1/events", find, methods=["GET"]),
        Route("/guestmedia/v1/events/{event_id}", one, methods=["GET", "PATCH"]),
    ]


def _list_query(request: Request) -> dict[str, Any]:
    query = request.query_params
    unknown = sorted(set(query) - LIST_PARAMS)
    if unknown:
        raise Invalid(unknown[0], "unknown query parameter")
    try:
        limit = int(query.get("limit", "100"))
        after = int(query.get("cursor", "0"))
    except ValueError:
        raise Invalid("limit", "limit and cursor must be integers") from None
    if not 1 <= limit <= 100:
        raise Invalid("limit", "between 1 and 100")
    ends_after = _instant(dict(query), "ends_after") if "ends_after" in query else None
    reference = query.get("external_reference")
    if reference is not None and not reference:
        raise Invalid("external_reference", "must not be empty")
    return {"limit": limit, "after": after, "ends_after": ends_after, "reference": reference}


def _new_event(platform: Platform, body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - CREATE_FIELDS
    if unknown:
        raise Invalid(sorted(unknown)[0], "unknown field")
    for required in ("name", "starts_at", "ends_at", "timezone"):
        if required not in body:
            raise Invalid(required, "required")
    reference = body.get("external_reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 100):
        raise Invalid("external_reference", "at most 100 characters")
    now = _iso(platform.faults.now())
    doc: dict[str, Any] = {
        "id": "gm_" + secrets.token_hex(6),
        "status": "scheduled",
        "branding": dict.fromkeys(BRANDING),
        "code": secrets.token_hex(3),
        "album_url": None,
        "media_count": 0,
        "external_reference": reference,
        "created_at": now,
        "ended_at": None,
        "description": None,
    }
    _apply(doc, {k: v for k, v in body.items() if k != "external_reference"})
    doc["updated_at"] = now
    return doc


def _patch(platform: Platform, doc: dict[str, Any], body: dict[str, Any]) -> None:
    if not body:
        raise Invalid("(body)", "at least one field is required")
    unknown = set(body) - PATCH_FIELDS
    if unknown:
        raise Invalid(sorted(unknown)[0], "unknown field")
    if _status(platform, doc) == "ended" or (
        body.get("status") == "scheduled" and _over(platform, doc)
    ):
        raise Invalid("(event)", "the event has ended", 409, "event_ended")
    if "status" in body and body["status"] not in ("scheduled", "cancelled"):
        raise Invalid("status", "must be scheduled or cancelled")
    _apply(doc, body)
    doc["updated_at"] = _iso(platform.faults.now())


def _apply(doc: dict[str, Any], body: dict[str, Any]) -> None:
    """Validate and write ``body`` into ``doc`` (create and PATCH share the rules)."""
    merged = {**doc, **{k: v for k, v in body.items() if k != "branding"}}
    name = merged.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 120:
        raise Invalid("name", "1 to 120 characters")
    description = merged.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        raise Invalid("description", "at most 2000 characters")
    try:
        zone = ZoneInfo(str(merged.get("timezone")))
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("timezone", "unknown IANA time zone") from None
    starts, ends = _instant(merged, "starts_at"), _instant(merged, "ends_at")
    if ends <= starts:
        raise Invalid("ends_at", "must be after starts_at")
    branding = dict(doc.get("branding") or dict.fromkeys(BRANDING))
    given = body.get("branding", {})
    if not isinstance(given, dict) or set(given) - set(BRANDING):
        raise Invalid("branding", f"an object with keys among {', '.join(BRANDING)}")
    branding.update(given)
    _check_branding(branding)
    doc.update(merged)
    doc["starts_at"], doc["ends_at"] = _iso(starts.timestamp()), _iso(ends.timestamp())
    doc["date"] = starts.astimezone(zone).date().isoformat()
    doc["branding"] = branding
    host = branding["custom_domain"] or DEFAULT_HOST
    doc["guest_url"] = f"https://{host}/e/{doc['code']}"


def _check_branding(branding: dict[str, Any]) -> None:
    for key in ("primary_color", "secondary_color"):
        if branding[key] is not None and not COLOR.match(str(branding[key])):
            raise Invalid(f"branding.{key}", "must be #rrggbb")
    logo = branding["logo_url"]
    if logo is not None and not re.match(r"^https?://\S+$", str(logo)):
        raise Invalid("branding.logo_url", "must be an http(s) URL")
    domain = branding["custom_domain"]
    if domain is not None and not HOST.match(str(domain)):
        raise Invalid("branding.custom_domain", "must be a host name")
    qr_text = branding["qr_text"]
    if qr_text is not None and (not isinstance(qr_text, str) or len(qr_text) > 80):
        raise Invalid("branding.qr_text", "at most 80 characters")


def _status(platform: Platform, doc: dict[str, Any]) -> str:
    if doc["status"] in ("cancelled", "ended"):
        return str(doc["status"])
    now = platform.faults.now()
    if _over(platform, doc):
        return "ended"
    return "live" if now >= _instant(doc, "starts_at").timestamp() else "scheduled"


def _over(platform: Platform, doc: dict[str, Any]) -> bool:
    return platform.faults.now() >= _instant(doc, "ends_at").timestamp()


def _view(platform: Platform, doc: dict[str, Any]) -> dict[str, Any]:
    """The event as the API shows it: status and album as of the platform clock."""
    view = {k: v for k, v in doc.items() if k != "code"}
    view["status"] = _status(platform, doc)
    if view["status"] == "ended" and not view["album_url"]:
        view["album_url"] = _album(doc)
        view["ended_at"] = view["ends_at"]
    return view


def _album(doc: dict[str, Any]) -> str:
    return f"https://{doc['branding'].get('custom_domain') or DEFAULT_HOST}/albums/{doc['id']}"


def _instant(doc: dict[str, Any], field: str) -> datetime:
    value = doc.get(field)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(field, "an RFC 3339 instant with an offset") from None
    if parsed.tzinfo is None:
        raise Invalid(field, "an RFC 3339 instant with an offset")
    return parsed


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise Invalid("(body)", "invalid JSON") from None
    if not isinstance(body, dict):
        raise Invalid("(body)", "expected an object")
    return body


def _save(platform: Platform, doc: dict[str, Any]) -> None:
    platform.db.execute(
        "UPDATE guestmedia_events SET doc=? WHERE id=?", (json.dumps(doc), doc["id"])
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_body(exc: Invalid) -> dict[str, Any]:
    body = {"error": exc.message, "code": exc.code}
    if not exc.field.startswith("("):
        body["field"] = exc.field
    return body


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status)
