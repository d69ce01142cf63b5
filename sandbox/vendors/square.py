"""Square, the part bookwire reads: bookings, customers, catalog, locations (mounted at /square).

- ``Authorization: Bearer <token>`` (``Square-Version`` is accepted, not required); errors
  are ``{"errors": [{"category", "code", "detail"}]}`` (401 ``UNAUTHORIZED``, 404
  ``NOT_FOUND``).
- ``GET /v2/bookings/{id}`` → ``{"booking"}``; ``GET /v2/bookings`` with ``start_at_min``/
  ``start_at_max`` (RFC 3339; at most 31 days apart, the max defaulting to min + 31 days),
  ``limit`` (1–100) and ``cursor`` → ``{"bookings", "cursor"?}``.
- ``GET /v2/customers/{id}`` → ``{"customer"}``; ``GET /v2/locations/{id}`` → ``{"location"}``.
- ``GET /v2/catalog/object/{id}?include_related_objects=true`` → ``{"object",
  "related_objects"}`` (the variation's item among the related objects).
- ``POST /v2/webhooks/subscriptions`` ``{"idempotency_key", "subscription":
  {"notification_url", "event_types", "name"?, "api_version"?, "enabled"?}}`` → ``{"subscription"}``
  with the ``signature_key`` Square chose (the same subscription again for a repeated key);
  400 ``{"errors"}`` for a missing or wrong field.
- ``POST /v2/webhooks/subscriptions/{id}/test`` ``{"event_type"}`` (one of the subscription's):
  sends a test event there, signed over URL + body, and answers
  ``{"subscription_test_result": {"id", "status_code", "payload", …}}``.
- ``POST /_seed`` loads ``tokens``, ``bookings``, ``customers``, ``locations`` and ``catalog``
  objects (replacing by id: reseeding a booking is how a test reschedules or cancels it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.platform import Platform

MAX_SPAN = timedelta(days=31)


def routes(platform: Platform) -> list[Route]:
    tokens: set[str] = set(platform.keys("square"))
    store: dict[str, dict[str, dict[str, Any]]] = {
        "bookings": {},
        "customers": {},
        "locations": {},
        "catalog": {},
    }

    async def seed(request: Request) -> Response:
        body = await request.json()
        tokens.update(body.get("tokens", []))
        for kind, records in store.items():
            for record in body.get(kind, []):
                records[str(record["id"])] = dict(record)
        return JSONResponse({kind: len(records) for kind, records in store.items()})

    def one(kind: str, envelope: str) -> Any:
        async def handler(request: Request) -> Response:
            refused = await _guard(platform, tokens, request)
            if refused:
                return refused
            platform.faults.count(f"square_{kind}_reads")
            found = store[kind].get(request.path_params["object_id"])
            if found is None:
                return _error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"{envelope} not found.")
            return JSONResponse({envelope: found})

        return handler

    async def catalog_object(request: Request) -> Response:
        refused = await _guard(platform, tokens, request)
        if refused:
            return refused
        platform.faults.count("square_catalog_reads")
        found = store["catalog"].get(request.path_params["object_id"])
        if found is None:
            return _error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Object not found.")
        answer: dict[str, Any] = {"object": found}
        if request.query_params.get("include_related_objects") == "true":
            item_id = (found.get("item_variation_data") or {}).get("item_id")
            related = store["catalog"].get(item_id) if item_id else None
            answer["related_objects"] = [related] if related else []
        return JSONResponse(answer)

    async def list_bookings(request: Request) -> Response:
        refused = await _guard(platform, tokens, request)
        if refused:
            return refused
        query = request.query_params
        try:
            low = _instant(query["start_at_min"]) if "start_at_min" in query else None
            high = _instant(query["start_at_max"]) if "start_at_max" in query else None
            limit = int(query.get("limit", "100"))
            offset = int(query.get("cursor") or 0)
        except ValueError:
            return _error(400, "INVALID_REQUEST_ERROR", "BAD_REQUEST", "Invalid query.")
        if low is None:
            return _error(400, "INVALID_REQUEST_ERROR", "BAD_REQUEST", "start_at_min required.")
        high = high or low + MAX_SPAN
        if high - low > MAX_SPAN or not 1 <= limit <= 100:
            return _error(
                400,
                "INVALID_REQUEST_ERROR",
                "INVALID_VALUE",
                "start_at_max must be within 31 days of start_at_min; limit 1-100.",
            )
        found = sorted(
            (b for b in store["bookings"].values() if low <= _instant(b["start_at"]) < high),
            key=lambda b: (b["start_at"], b["id"]),
        )
        answer: dict[str, Any] = {"bookings": found[offset : offset + limit]}
        if offset + limit < len(found):
            answer["cursor"] = str(offset + limit)
        return JSONResponse(answer)

    subscriptions: dict[str, dict[str, Any]] = {}
    by_idempotency: dict[str, str] = {}

    async def create_subscription(request: Request) -> Response:
        refused = await _guard(platform, tokens, request)
        if refused:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "INVALID_REQUEST_ERROR", "INVALID_BODY", "The body is not JSON.")
        problem = _subscription_problem(body)
        if problem:
            return _error(400, "INVALID_REQUEST_ERROR", *problem)
        known = by_idempotency.get(body["idempotency_key"])
        if known:  # a repeated request answers the subscription it made
            return JSONResponse({"subscription": subscriptions[known]})
        wanted = body["subscription"]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
        subscription = {
            "id": f"wbhk_{secrets.token_hex(8)}",
            "name": wanted.get("name", ""),
            "enabled": wanted.get("enabled", True),
            "event_types": list(wanted["event_types"]),
            "notification_url": wanted["notification_url"],
            "api_version": wanted.get("api_version", "2024-10-17"),
            "signature_key": secrets.token_urlsafe(16),
            "created_at": stamp,
            "updated_at": stamp,
        }
        subscriptions[subscription["id"]] = subscription
        by_idempotency[body["idempotency_key"]] = subscription["id"]
        return JSONResponse({"subscription": subscription})

    async def test_subscription(request: Request) -> Response:
        """Square sends a test event of ``event_type`` to the notification URL, signed with
        the subscription's key over URL + body, and reports the status the URL answered."""
        refused = await _guard(platform, tokens, request)
        if refused:
            return refused
        subscription = subscriptions.get(request.path_params["subscription_id"])
        if subscription is None:
            return _error(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Subscription not found.")
        body = await request.json()
        event_type = body.get("event_type") if isinstance(body, dict) else None
        if not isinstance(event_type, str) or event_type not in subscription["event_types"]:
            return _error(
                400,
                "INVALID_REQUEST_ERROR",
                "BAD_REQUEST",
                "event_type must be one of the subscription's event types.",
            )
        raw = json.dumps(_test_event(event_type)).encode()
        url = subscription["notification_url"]
        key = subscription["signature_key"].encode()
        signature = base64.b64encode(hmac.new(key, url.encode() + raw, hashlib.sha256).digest())
        headers = {
            "content-type": "application/json",
            "x-square-hmacsha256-signature": signature.decode(),
        }
        status: int | None
        try:
            async with httpx.AsyncClient(timeout=15) as client:
                status = (await client.post(url, content=raw, headers=headers)).status_code
        except httpx.HTTPError:
            status = None
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
        result = {
            "id": f"test_{secrets.token_hex(6)}",
            "status_code": status,
            "payload": raw.decode(),
            "created_at": stamp,
            "updated_at": stamp,
        }
        return JSONResponse({"subscription_test_result": result})

    return [
        Route("/_seed", seed, methods=["POST"]),
        Route("/v2/webhooks/subscriptions", create_subscription, methods=["POST"]),
        Route(
            "/v2/webhooks/subscriptions/{subscription_id}/test",
            test_subscription,
            methods=["POST"],
        ),
        Route("/v2/bookings", list_bookings, methods=["GET"]),
        Route("/v2/bookings/{object_id}", one("bookings", "booking"), methods=["GET"]),
        Route("/v2/customers/{object_id}", one("customers", "customer"), methods=["GET"]),
        Route("/v2/locations/{object_id}", one("locations", "location"), methods=["GET"]),
        Route("/v2/catalog/object/{object_id}", catalog_object, methods=["GET"]),
    ]


async def _guard(platform: Platform, tokens: set[str], request: Request) -> Response | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ").strip() not in tokens:
        return _error(
            401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized."
        )
    return await platform.inject(request)


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("RFC 3339 time needs an offset")
    return moment


EVENT_TYPES = {"booking.created", "booking.updated", "customer.created", "payment.created"}


def _subscription_problem(body: Any) -> tuple[str, str] | None:
    """(code, detail) when Square would refuse this CreateWebhookSubscription body."""
    if not isinstance(body, dict) or not isinstance(body.get("subscription"), dict):
        return "MISSING_REQUIRED_PARAMETER", "Field must be set: subscription."
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not 1 <= len(key) <= 45:
        return "MISSING_REQUIRED_PARAMETER", "idempotency_key must be 1-45 characters."
    wanted = body["subscription"]
    url = wanted.get("notification_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return "INVALID_VALUE", "subscription.notification_url must be a URL."
    types = wanted.get("event_types")
    if not isinstance(types, list) or not types or not set(types) <= EVENT_TYPES:
        return "INVALID_VALUE", "subscription.event_types must name known event types."
    return None


def _test_event(event_type: str) -> dict[str, Any]:
    """A test notification as Square sends one: a sample booking that exists nowhere (the
    worker's look-up of it fails and is recorded as a failure)."""
    now = datetime.now(UTC)
    return {
        "merchant_id": "SANDBOXMERCHANT",
        "type": event_type,
        "event_id": f"test-{secrets.token_hex(8)}",
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "type": "booking",
            "id": "sandbox-test-booking:1",
            "object": {
                "booking": {
                    "id": "sandbox-test-booking",
                    "version": 1,
                    "status": "ACCEPTED",
                    "start_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "updated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "location_id": "SANDBOXLOCATION",
                }
            },
        },
    }


def _error(status: int, category: str, code: str, detail: str) -> Response:
    return JSONResponse(
        {"errors": [{"category": category, "code": code, "detail": detail}]}, status_code=status
    )
