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
- ``POST /_seed`` loads ``tokens``, ``deals`` and ``persons`` (replaced by id).
- ``POST /_webhooks`` (tests only) ``{"subscription_url", "is_active"?, "last_delivery_time"?,
  "last_http_status"?}``: adds or changes the webhook of that URL (``"is_active": 0`` as
  Pipedrive does after repeated failed deliveries).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

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


def _error(status: int, message: str) -> Response:
    return JSONResponse({"success": False, "error": message}, status_code=status)
