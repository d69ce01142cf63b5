"""Pipedrive API v2, the part bookwire reads: deals and persons (mounted at /pipedrive).

- ``x-api-token: <token>`` (or ``?api_token=``) on every call; 401 ``{"success": false,
  "error": "unauthorized access", "errorCode": 401}``.
- ``GET /api/v2/deals``: ``status`` (open, won, lost, deleted; anything else is a 400),
  ``updated_since`` (RFC 3339, inclusive), ``limit`` 1–500 (default 100), opaque
  ``cursor``; sorted by id. Answers
  ``{"success": true, "data", "additional_data": {"next_cursor"}}`` (null on the last page).
  Deals keep API v2's layout: ``custom_fields`` holds the per-account hash keys.
- ``GET /api/v2/persons/{id}``: ``{"success": true, "data": {"id", "name", "emails": [{"value",
  "primary", "label"}]}}``; 404 ``{"success": false, "error": "Person not found"}``.
- ``GET /v1/webhooks``: ``{"success": true, "data": [{"id", "subscription_url", "is_active"
  (1/0), "event_action", "event_object", "version", "add_time", "last_delivery_time",
  "last_http_status", …}]}``.
- ``POST /v1/webhooks`` ``{"subscription_url", "event_action", "event_object", "version"?
  (1.0 or 2.0; the actions are v1's added/updated/merged/deleted or v2's create/change/delete,
  or *), "http_auth_user"?, "http_auth_password"?}`` (both or neither): 201 ``{"success":
  true, "data": webhook}``; 400 ``{"success": false, "error"}`` otherwise.
- ``POST /_fire`` (tests only) ``{"subscription_url", "body"}``: POSTs ``body`` there with the
  webhook's HTTP Basic credentials; answers the receiver's status and body.
- ``POST /_seed`` loads ``tokens``, ``deals`` and ``persons`` (replaced by id).
- ``POST /_webhooks`` (tests only) ``{"subscription_url", "is_active"?, "last_delivery_time"?,
  "last_http_status"?}``: adds or changes the webhook of that URL (``"is_active": 0`` as
  Pipedrive does after repeated failed deliveries).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.platform import Platform

STATUSES = ("open", "won", "lost", "deleted")  # the documented enum of GET /api/v2/deals


class PipedriveState:
    def __init__(self, tokens: set[str]) -> None:
        self.tokens = set(tokens)
        self.deals: dict[int, dict[str, Any]] = {}
        self.persons: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}  # by subscription URL
        self.auth: dict[str, tuple[str | None, str | None]] = {}  # HTTP Basic, by URL


def routes(platform: Platform) -> list[Route]:
    state = PipedriveState(platform.keys("pipedrive"))

    async def seed(request: Request) -> Response:
        body = await request.json()
        state.tokens |= set(body.get("tokens", []))
        for deal in body.get("deals", []):
            state.deals[int(deal["id"])] = dict(deal)
        for person in body.get("persons", []):
            state.persons[int(person["id"])] = dict(person)
        return JSONResponse({"deals": len(state.deals), "persons": len(state.persons)})

    async def list_deals(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        query = request.query_params
        try:
            limit = int(query.get("limit", "100"))
            offset = (
                int(base64.urlsafe_b64decode(query["cursor"]).decode())
                if query.get("cursor")
                else 0
            )
            since = _instant(query["updated_since"]) if query.get("updated_since") else None
        except (ValueError, UnicodeDecodeError):
            return _error(400, "invalid limit, cursor or updated_since")
        if not 1 <= limit <= 500:
            return _error(400, "limit must be between 1 and 500")
        if query.get("status") not in (None, *STATUSES):
            return _error(400, "status must be one of open, won, lost, deleted")
        chosen = []
        for deal_id in sorted(state.deals):
            deal = state.deals[deal_id]
            if query.get("status") and deal.get("status") != query["status"]:
                continue
            if since and _instant(str(deal.get("update_time"))) < since:
                continue
            chosen.append(deal)
        chunk = chosen[offset : offset + limit]
        more = offset + limit < len(chosen)
        cursor = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None
        platform.faults.count("pipedrive_deal_pages")
        return JSONResponse(
            {"success": True, "data": chunk, "additional_data": {"next_cursor": cursor}}
        )

    async def get_person(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        found = state.persons.get(int(request.path_params["person_id"]))
        platform.faults.count("pipedrive_person_reads")
        if found is None:
            return _error(404, "Person not found")
        return JSONResponse({"success": True, "data": found})

    async def plant_webhook(request: Request) -> Response:
        body = await request.json()
        url = str(body["subscription_url"])
        hook = state.webhooks.setdefault(
            url,
            {
                "id": len(state.webhooks) + 1,
                "subscription_url": url,
                "event_action": "*",
                "event_object": "deal",
                "version": "2.0",
                "is_active": 1,
                "add_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "remove_time": None,
                "type": "general",
                "last_delivery_time": None,
                "last_http_status": None,
            },
        )
        for key in ("is_active", "last_delivery_time", "last_http_status"):
            if key in body:
                hook[key] = body[key]
        return JSONResponse({"success": True, "data": hook})

    async def create_webhook(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON")
        problem = _webhook_problem(body)
        if problem:
            return _error(400, problem)
        url = body["subscription_url"]
        if url in state.webhooks:
            return _error(400, "A webhook with this subscription_url already exists")
        hook = {
            "id": len(state.webhooks) + 1,
            "subscription_url": url,
            "event_action": body["event_action"],
            "event_object": body["event_object"],
            "version": body.get("version", "1.0"),
            "is_active": 1,
            "add_time": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "remove_time": None,
            "type": "general",
            "http_auth_user": body.get("http_auth_user"),
            "http_auth_password": None,  # stored, never shown again here
            "last_delivery_time": None,
            "last_http_status": None,
        }
        state.webhooks[url] = hook
        state.auth[url] = (body.get("http_auth_user"), body.get("http_auth_password"))
        return JSONResponse({"success": True, "status": "ok", "data": hook}, status_code=201)

    async def fire(request: Request) -> Response:
        """Tests only: POST ``body`` to the webhook of ``subscription_url`` with its HTTP
        Basic credentials, as Pipedrive does when a deal changes."""
        body = await request.json()
        url = str(body["subscription_url"])
        if url not in state.webhooks:
            return _error(404, "no webhook with that subscription_url")
        headers = {"content-type": "application/json"}
        user, password = state.auth.get(url, (None, None))
        if user is not None:
            pair = f"{user}:{password or ''}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
        async with httpx.AsyncClient(timeout=15) as client:
            answer = await client.post(url, content=json.dumps(body["body"]), headers=headers)
        return JSONResponse({"status": answer.status_code, "body": answer.text[:500]})

    async def list_webhooks(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        hooks = sorted(state.webhooks.values(), key=lambda h: int(h["id"]))
        return JSONResponse({"success": True, "data": hooks})

    return [
        Route("/_seed", seed, methods=["POST"]),
        Route("/_webhooks", plant_webhook, methods=["POST"]),
        Route("/v1/webhooks", list_webhooks, methods=["GET"]),
        Route("/v1/webhooks", create_webhook, methods=["POST"]),
        Route("/_fire", fire, methods=["POST"]),
        Route("/api/v2/deals", list_deals, methods=["GET"]),
        Route("/api/v2/persons/{person_id:int}", get_person, methods=["GET"]),
    ]


async def _guard(platform: Platform, state: PipedriveState, request: Request) -> Response | None:
    token = request.headers.get("x-api-token") or request.query_params.get("api_token")
    if token not in state.tokens:
        return JSONResponse(
            {"success": False, "error": "unauthorized access", "errorCode": 401}, status_code=401
        )
    return await platform.inject(request)


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


V1_ACTIONS = {"added", "updated", "merged", "deleted", "*"}
V2_ACTIONS = {"create", "change", "delete", "*"}
OBJECTS = {"activity", "deal", "lead", "note", "organization", "person", "pipeline", "product"}
OBJECTS |= {"stage", "user", "*"}


def _webhook_problem(body: Any) -> str | None:
    """Why Pipedrive would refuse this ``POST /v1/webhooks`` body, if it would."""
    if not isinstance(body, dict):
        return "the body must be an object"
    url = body.get("subscription_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return "subscription_url is required and must be a full URL"
    version = body.get("version", "1.0")
    if version not in ("1.0", "2.0"):
        return "version must be 1.0 or 2.0"
    actions = V2_ACTIONS if version == "2.0" else V1_ACTIONS
    if body.get("event_action") not in actions:
        return f"event_action must be one of: {', '.join(sorted(actions))}"
    if body.get("event_object") not in OBJECTS:
        return f"event_object must be one of: {', '.join(sorted(OBJECTS))}"
    user, password = body.get("http_auth_user"), body.get("http_auth_password")
    if (user is None) != (password is None):
        return "http_auth_user and http_auth_password go together"
    return None


def _error(status: int, message: str) -> Response:
    return JSONResponse({"success": False, "error": message}, status_code=status)
