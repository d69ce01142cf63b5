"""Calendly API v2, the part bookwire reads: scheduled events and their invitees (at /calendly).

- ``Authorization: Bearer <token>`` on every call; 401 ``{"title": "Unauthenticated",
  "message": …}``.
- ``GET /users/me``: ``{"resource": {"uri", "current_organization", …}}``.
- ``GET /scheduled_events``: needs ``organization`` or ``user`` (else 400 ``Invalid
  Argument``); ``min_start_time``/``max_start_time`` (UTC, inclusive/exclusive), ``status``
  (``active``/``canceled``), ``sort=start_time:asc|desc``, ``count`` 1–100 (default 20) and an
  opaque ``page_token``; answers ``{"collection", "pagination": {"count", "next_page",
  "previous_page", "next_page_token", "previous_page_token"}}``.
- ``GET /scheduled_events/{uuid}/invitees``: the same paging; 404 for an unknown event.
- ``GET /webhook_subscriptions``: needs ``organization`` and ``scope`` (``organization`` or
  ``user``; ``user`` then needs ``user``), else 400; the same paging. Each subscription has
  ``uri``, ``callback_url``, ``state`` (``active``/``disabled``), ``events``, ``scope``,
  ``organization``, ``user``, ``created_at``, ``updated_at``, ``retry_started_at``.
- ``POST /_seed`` loads ``tokens``, ``events`` (scheduled events, replaced by ``uri``) and
  ``invitees`` (``{event uuid: [invitee, …]}``, replaced by ``uri``).
- ``POST /_subscriptions`` (tests only) ``{"callback_url", "state", "scope"?}``: adds or
  changes the subscription of that callback URL, e.g. ``"state": "disabled"`` as Calendly
  does after failing deliveries for long enough.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.platform import Platform

API = "https://api.calendly.com"
ME = f"{API}/users/SANDBOXUSER"
ORGANIZATION = f"{API}/organizations/SANDBOXORG"


class CalendlyState:
    def __init__(self, tokens: set[str]) -> None:
        self.tokens = set(tokens)
        self.events: dict[str, dict[str, Any]] = {}
        self.invitees: dict[str, dict[str, dict[str, Any]]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}  # by callback URL


def routes(platform: Platform) -> list[Route]:
    state = CalendlyState(platform.keys("calendly"))

    async def seed(request: Request) -> Response:
        body = await request.json()
        state.tokens |= set(body.get("tokens", []))
        for event in body.get("events", []):
            state.events[_uuid(event["uri"])] = dict(event)
        for event_uuid, invitees in body.get("invitees", {}).items():
            bucket = state.invitees.setdefault(event_uuid, {})
            for invitee in invitees:
                bucket[invitee["uri"]] = dict(invitee)
        return JSONResponse({"events": len(state.events)})

    async def me(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        return JSONResponse(
            {"resource": {"uri": ME, "current_organization": ORGANIZATION, "timezone": "UTC"}}
        )

    async def list_events(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        query = request.query_params
        if not query.get("organization") and not query.get("user"):
            return _error(400, "Invalid Argument", "organization or user is required")
        low, high = query.get("min_start_time"), query.get("max_start_time")
        chosen = []
        for event in state.events.values():
            start = _instant(event["start_time"])
            if (low and start < _instant(low)) or (high and start >= _instant(high)):
                continue
            if query.get("status") and event.get("status") != query["status"]:
                continue
            chosen.append(event)
        chosen.sort(
            key=lambda e: _instant(e["start_time"]), reverse=query.get("sort") == "start_time:desc"
        )
        platform.faults.count("calendly_event_pages")
        return _page(request, chosen)

    async def list_invitees(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        event_uuid = request.path_params["event_uuid"]
        if event_uuid not in state.events:
            return _error(
                404, "Resource Not Found", "The server could not find the requested resource."
            )
        invitees = list(state.invitees.get(event_uuid, {}).values())
        if request.query_params.get("status"):
            invitees = [i for i in invitees if i.get("status") == request.query_params["status"]]
        invitees.sort(key=lambda i: str(i.get("created_at", "")))
        return _page(request, invitees)

    async def plant_subscription(request: Request) -> Response:
        body = await request.json()
        url, stamp = str(body["callback_url"]), datetime.now(UTC).isoformat()
        known = state.subscriptions.get(url)
        scope = body.get("scope", "organization")
        subscription = known or {
            "uri": f"{API}/webhook_subscriptions/SUB{len(state.subscriptions) + 1:06d}",
            "callback_url": url,
            "created_at": stamp,
            "events": ["invitee.created", "invitee.canceled"],
            "scope": scope,
            "organization": ORGANIZATION,
            "user": ME if scope == "user" else None,
            "creator": ME,
            "retry_started_at": None,
        }
        subscription["state"] = body.get("state", "active")
        subscription["updated_at"] = stamp
        state.subscriptions[url] = subscription
        return JSONResponse({"resource": subscription})

    async def list_subscriptions(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        query = request.query_params
        scope = query.get("scope")
        if not query.get("organization") or scope not in ("organization", "user"):
            return _error(400, "Invalid Argument", "organization and scope are required")
        if scope == "user" and not query.get("user"):
            return _error(400, "Invalid Argument", "user is required for the user scope")
        chosen = [
            s
            for s in state.subscriptions.values()
            if s["organization"] == query["organization"]
            and (scope == "organization" or s.get("user") == query["user"])
        ]
        chosen.sort(key=lambda s: str(s["created_at"]))
        return _page(request, chosen)

    return [
        Route("/_seed", seed, methods=["POST"]),
        Route("/_subscriptions", plant_subscription, methods=["POST"]),
        Route("/webhook_subscriptions", list_subscriptions, methods=["GET"]),
        Route("/users/me", me, methods=["GET"]),
        Route("/scheduled_events", list_events, methods=["GET"]),
        Route("/scheduled_events/{event_uuid}/invitees", list_invitees, methods=["GET"]),
    ]


def _page(request: Request, items: list[dict[str, Any]]) -> Response:
    query = request.query_params
    try:
        count = int(query.get("count", "20"))
        offset = (
            int(base64.urlsafe_b64decode(query["page_token"]).decode())
            if query.get("page_token")
            else 0
        )
    except (ValueError, UnicodeDecodeError):
        return _error(400, "Invalid Argument", "count or page_token is invalid")
    if not 1 <= count <= 100:
        return _error(400, "Invalid Argument", "count must be between 1 and 100")
    chunk = items[offset : offset + count]
    token = (
        base64.urlsafe_b64encode(str(offset + count).encode()).decode()
        if offset + count < len(items)
        else None
    )
    next_page = str(request.url.include_query_params(page_token=token)) if token else None
    return JSONResponse(
        {
            "collection": chunk,
            "pagination": {
                "count": len(chunk),
                "next_page": next_page,
                "previous_page": None,
                "next_page_token": token,
                "previous_page_token": None,
            },
        }
    )


async def _guard(platform: Platform, state: CalendlyState, request: Request) -> Response | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in state.tokens:
        return _error(401, "Unauthenticated", "The access token is invalid")
    return await platform.inject(request)


def _uuid(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error(status: int, title: str, message: str) -> Response:
    return JSONResponse({"title": title, "message": message}, status_code=status)
