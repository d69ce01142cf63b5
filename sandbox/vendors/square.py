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
- ``POST /_seed`` loads ``tokens``, ``bookings``, ``customers``, ``locations`` and ``catalog``
  objects (replacing by id: reseeding a booking is how a test reschedules or cancels it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

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

    return [
        Route("/_seed", seed, methods=["POST"]),
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


def _error(status: int, category: str, code: str, detail: str) -> Response:
    return JSONResponse(
        {"errors": [{"category": category, "code": code, "detail": detail}]}, status_code=status
    )
