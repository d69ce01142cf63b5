"""Cal.com API v2, the part bookwire reads: the bookings list (mounted at /calcom).

- ``Authorization: Bearer <cal_… key>`` on every call; 401 ``{"status": "error", "error":
  {"code": "UnauthorizedException", "message"}}``.
- ``GET /v2/bookings`` needs ``cal-api-version: 2024-08-13`` (else 400 here; the real API
  falls back to an older shape). Filters: ``afterStart`` (start at or after), ``beforeEnd``,
  ``status`` (comma list of ``upcoming``, ``past``, ``cancelled``, ``unconfirmed``),
  ``sortStart=asc|desc``, ``take`` 1–250 (default 100) and ``skip``. Answers ``{"status":
  "success", "data", "pagination": {"totalItems", "remainingItems", "returnedItems",
  "itemsPerPage", "currentPage", "totalPages", "hasNextPage", "hasPreviousPage"}}``.
- ``POST /v2/webhooks`` ``{"active", "subscriberUrl", "triggers", "secret"?,
  "payloadTemplate"?}``: 201 ``{"status": "success", "data": webhook}`` (the secret is never
  shown); 400 for a missing or wrong field, 409 for a URL that already has a webhook.
- ``POST /_fire`` (tests only) ``{"subscriberUrl", "body"}``: POSTs ``body`` there signed with
  the webhook's secret (``no-secret-provided`` without one); answers the receiver's status.
- ``POST /_seed`` loads ``tokens`` and ``bookings`` (replaced by ``uid``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.platform import Platform

API_VERSION = "2024-08-13"


class CalcomState:
    def __init__(self, tokens: set[str]) -> None:
        self.tokens = set(tokens)
        self.bookings: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str | None] = {}  # by webhook id; never answered


def routes(platform: Platform) -> list[Route]:
    state = CalcomState(platform.keys("calcom"))

    async def seed(request: Request) -> Response:
        body = await request.json()
        state.tokens |= set(body.get("tokens", []))
        for booking in body.get("bookings", []):
            state.bookings[str(booking["uid"])] = dict(booking)
        return JSONResponse({"bookings": len(state.bookings)})

    async def list_bookings(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in state.tokens:
            return _error(401, "UnauthorizedException", "Invalid Access Token.")
        if request.headers.get("cal-api-version") != API_VERSION:
            return _error(400, "BadRequestException", f"cal-api-version must be {API_VERSION}")
        injected = await platform.inject(request)
        if injected:
            return injected
        query = request.query_params
        try:
            take = int(query.get("take", "100"))
            skip = int(query.get("skip", "0"))
        except ValueError:
            return _error(400, "BadRequestException", "take and skip must be numbers")
        if not 1 <= take <= 250 or skip < 0:
            return _error(400, "BadRequestException", "take must be 1-250, skip at least 0")
        statuses = {s for s in query.get("status", "").split(",") if s}
        chosen = [b for b in state.bookings.values() if _matches(b, query, statuses)]
        chosen.sort(key=lambda b: _instant(b["start"]), reverse=query.get("sortStart") == "desc")
        chunk = chosen[skip : skip + take]
        total = len(chosen)
        platform.faults.count("calcom_booking_pages")
        return JSONResponse(
            {
                "status": "success",
                "data": chunk,
                "pagination": {
                    "totalItems": total,
                    "remainingItems": max(0, total - skip - len(chunk)),
                    "returnedItems": len(chunk),
                    "itemsPerPage": take,
                    "currentPage": skip // take + 1,
                    "totalPages": math.ceil(total / take) if total else 0,
                    "hasNextPage": skip + len(chunk) < total,
                    "hasPreviousPage": skip > 0,
                },
            }
        )

    async def create_webhook(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in state.tokens:
            return _error(401, "UnauthorizedException", "Invalid Access Token.")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "BadRequestException", "the body is not JSON")
        problem = _webhook_problem(body)
        if problem:
            return _error(400, "BadRequestException", problem)
        if any(w["subscriberUrl"] == body["subscriberUrl"] for w in state.webhooks.values()):
            return _error(409, "ConflictException", "a webhook with this subscriberUrl exists")
        webhook_id = f"wh-{len(state.webhooks) + 1}"
        webhook = {
            "id": webhook_id,
            "userId": 1,
            "subscriberUrl": body["subscriberUrl"],
            "triggers": list(body["triggers"]),
            "active": body["active"],
            "payloadTemplate": body.get("payloadTemplate"),
        }
        state.webhooks[webhook_id] = webhook
        state.secrets[webhook_id] = body.get("secret")
        return JSONResponse({"status": "success", "data": webhook}, status_code=201)

    async def fire(request: Request) -> Response:
        """Tests only: POST ``body`` to the webhook at ``subscriberUrl``, signed with its
        secret as Cal.com signs (``X-Cal-Signature-256``), as when someone books."""
        body = await request.json()
        found = [
            k for k, w in state.webhooks.items() if w["subscriberUrl"] == body["subscriberUrl"]
        ]
        if not found:
            return _error(404, "NotFoundException", "no webhook with that subscriberUrl")
        raw = json.dumps(body["body"]).encode()
        secret = state.secrets[found[0]]
        signature = (
            hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
            if secret
            else "no-secret-provided"
        )
        headers = {"content-type": "application/json", "x-cal-signature-256": signature}
        async with httpx.AsyncClient(timeout=15) as client:
            answer = await client.post(body["subscriberUrl"], content=raw, headers=headers)
        return JSONResponse({"status": answer.status_code, "body": answer.text[:500]})

    return [
        Route("/_seed", seed, methods=["POST"]),
        Route("/_fire", fire, methods=["POST"]),
        Route("/v2/bookings", list_bookings, methods=["GET"]),
        Route("/v2/webhooks", create_webhook, methods=["POST"]),
    ]


TRIGGERS = {
    "BOOKING_CREATED",
    "BOOKING_RESCHEDULED",
    "BOOKING_CANCELLED",
    "BOOKING_REQUESTED",
    "BOOKING_REJECTED",
    "BOOKING_PAID",
    "BOOKING_NO_SHOW_UPDATED",
    "MEETING_STARTED",
    "MEETING_ENDED",
}


def _webhook_problem(body: Any) -> str | None:
    """Why Cal.com would refuse this ``POST /v2/webhooks`` body, if it would."""
    if not isinstance(body, dict):
        return "the body must be an object"
    url = body.get("subscriberUrl")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return "subscriberUrl must be a URL"
    triggers = body.get("triggers")
    if not isinstance(triggers, list) or not triggers or not set(triggers) <= TRIGGERS:
        return f"triggers must be a non-empty list of: {', '.join(sorted(TRIGGERS))}"
    if not isinstance(body.get("active"), bool):
        return "active must be a boolean"
    secret = body.get("secret")
    if secret is not None and not isinstance(secret, str):
        return "secret must be a string"
    return None


def _matches(booking: dict[str, Any], query: Any, statuses: set[str]) -> bool:
    start, end = _instant(booking["start"]), _instant(booking["end"])
    if query.get("afterStart") and start < _instant(query["afterStart"]):
        return False
    if query.get("beforeEnd") and end > _instant(query["beforeEnd"]):
        return False
    if not statuses:
        return True
    state = str(booking.get("status", "")).lower()
    now = datetime.now(UTC)
    kinds = {
        "cancelled": state in ("cancelled", "rejected"),
        "unconfirmed": state == "pending",
        "upcoming": state == "accepted" and end >= now,
        "past": state == "accepted" and end < now,
    }
    return any(kinds.get(s, False) for s in statuses)


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"status": "error", "error": {"code": code, "message": message}}, status_code=status
    )
