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
- ``POST /webhook_subscriptions`` ``{"url", "events", "organization", "scope", "user"?,
  "signing_key"?}``: 201 ``{"resource": subscription}``; 400 ``Invalid Argument`` for a missing
  or wrong field (``user`` is required for the ``user`` scope; organization and user must be
  the caller's), 409 ``Already Exists`` for a URL already subscribed. The signing key is the
  caller's when given (Calendly generates one otherwise) and is never shown again.
- ``POST /_fire`` (tests only) ``{"callback_url", "body"}``: POSTs ``body`` to that
  subscription's URL signed with its key (``Calendly-Webhook-Signature: t=…,v1=…``), as
  Calendly does when someone books; answers the receiver's status and body.
- ``POST /_seed`` loads ``tokens``, ``events`` (scheduled events, replaced by ``uri``) and
  ``invitees`` (``{event uuid: [invitee, …]}``, replaced by ``uri``).
- ``POST /_subscriptions`` (tests only) ``{"callback_url", "state", "scope"?}``: adds or
  changes the subscription of that callback URL, e.g. ``"state": "disabled"`` as Calendly
  does after failing deliveries for long enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx
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
        self.signing_keys: dict[str, str] = {}  # by callback URL; Calendly never shows them


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

    async def create_subscription(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "Invalid Argument", "the body is not JSON")
        problem = _creation_problem(body)
        if problem:
            return _error(400, "Invalid Argument", problem)
        url = body["url"]
        if url in state.subscriptions:
            return _error(409, "Already Exists", "Hook with this url already exists")
        stamp = datetime.now(UTC).isoformat()
        subscription = {
            "uri": f"{API}/webhook_subscriptions/SUB{len(state.subscriptions) + 1:06d}",
            "callback_url": url,
            "created_at": stamp,
            "updated_at": stamp,
            "retry_started_at": None,
            "state": "active",
            "events": list(body["events"]),
            "scope": body["scope"],
            "organization": body["organization"],
            "user": body.get("user") if body["scope"] == "user" else None,
            "creator": ME,
        }
        state.subscriptions[url] = subscription
        # write-only: kept to sign deliveries, never answered
        state.signing_keys[url] = body.get("signing_key") or secrets.token_hex(32)
        return JSONResponse({"resource": subscription}, status_code=201)

    async def fire(request: Request) -> Response:
        """Tests only: deliver ``body`` (an envelope) to the subscription at ``callback_url``,
        signed as Calendly signs, as it does when someone books."""
        body = await request.json()
        url = str(body["callback_url"])
        if url not in state.signing_keys:
            return _error(404, "Resource Not Found", "no subscription with that callback URL")
        raw = json.dumps(body["body"]).encode()
        stamp = str(int(time.time()))
        digest = hmac.new(
            state.signing_keys[url].encode(), stamp.encode() + b"." + raw, hashlib.sha256
        ).hexdigest()
        headers = {
            "content-type": "application/json",
            "calendly-webhook-signature": f"t={stamp},v1={digest}",
        }
        async with httpx.AsyncClient(timeout=15) as client:
            answer = await client.post(url, content=raw, headers=headers)
        return JSONResponse({"status": answer.status_code, "body": answer.text[:500]})

    return [
        Route("/_seed", seed, methods=["POST"]),
        Route("/_subscriptions", plant_subscription, methods=["POST"]),
        Route("/_fire", fire, methods=["POST"]),
        Route("/webhook_subscriptions", list_subscriptions, methods=["GET"]),
        Route("/webhook_subscriptions", create_subscription, methods=["POST"]),
        Route("/users/me", me, methods=["GET"]),
        Route("/scheduled_events", list_events, methods=["GET"]),
        Route("/scheduled_events/{event_uuid}/invitees", list_invitees, methods=["GET"]),
    ]


CREATABLE_EVENTS = {
    "invitee.created",
    "invitee.canceled",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
    "routing_form_submission.created",
}


def _creation_problem(body: Any) -> str | None:
    """Why Calendly would refuse this ``POST /webhook_subscriptions`` body, if it would."""
    if not isinstance(body, dict):
        return "the body must be an object"
    url = body.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return "url is required and must be a URL"
    events = body.get("events")
    if not isinstance(events, list) or not events or not set(events) <= CREATABLE_EVENTS:
        return f"events must be a non-empty list of: {', '.join(sorted(CREATABLE_EVENTS))}"
    if body.get("organization") != ORGANIZATION:
        return "organization is required (the caller's organization URI)"
    if body.get("scope") not in ("organization", "user"):
        return "scope must be organization or user"
    if body["scope"] == "user" and body.get("user") != ME:
        return "user is required for the user scope (the caller's user URI)"
    key = body.get("signing_key")
    if key is not None and (not isinstance(key, str) or not key):
        return "signing_key must be a non-empty string"
    return None


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
