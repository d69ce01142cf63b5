"""Acuity Scheduling API v1, the part bookwire reads: appointments (mounted at /acuity).

- HTTP Basic auth: user id and API key; 401 ``{"status_code", "message", "error"}``.
- ``GET /api/v1/appointments/{id}``: the appointment as stored (``datetime`` with a colon-less
  offset, ``duration`` a string of minutes, ``endTime`` a human clock time, ``timezone`` the
  client's and ``calendarTimezone`` the calendar's zone); 404 ``not_found``.
- ``GET /api/v1/appointments``: ``minDate``/``maxDate`` (inclusive calendar days of the
  appointment's own date), ``canceled=true`` (only cancelled) or ``showall=true`` (both; else
  only active), ``direction`` (``DESC`` default), ``max`` (default 100, no cursor).
- ``POST /_seed`` loads ``accounts`` (``{"user_id", "api_key"}``) and ``appointments``
  (replacing by id, so a reseed is a reschedule or cancellation).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.platform import Platform


def routes(platform: Platform) -> list[Route]:
    accounts: set[tuple[str, str]] = set()
    for key in platform.keys("acuity"):  # BOOKWIRE_SANDBOX_KEYS=acuity:<user>/<key>
        user, _, secret = key.partition("/")
        accounts.add((user, secret))
    appointments: dict[int, dict[str, Any]] = {}

    async def seed(request: Request) -> Response:
        body = await request.json()
        for account in body.get("accounts", []):
            accounts.add((str(account["user_id"]), str(account["api_key"])))
        for appointment in body.get("appointments", []):
            appointments[int(appointment["id"])] = dict(appointment)
        return JSONResponse({"appointments": len(appointments)})

    async def get_one(request: Request) -> Response:
        refused = await _guard(platform, accounts, request)
        if refused:
            return refused
        found = appointments.get(int(request.path_params["appointment_id"]))
        if found is None:
            return _error(404, "not_found", "The appointment you requested does not exist.")
        return JSONResponse(found)

    async def list_all(request: Request) -> Response:
        refused = await _guard(platform, accounts, request)
        if refused:
            return refused
        query = request.query_params
        try:
            limit = int(query.get("max", "100"))
        except ValueError:
            return _error(400, "invalid_max", "max must be a number")
        low, high = query.get("minDate"), query.get("maxDate")
        showall = query.get("showall") == "true"
        only_canceled = query.get("canceled") == "true"
        chosen = []
        for item in appointments.values():
            day = str(item["datetime"])[:10]
            if (low and day < low) or (high and day > high):
                continue
            if not showall and bool(item.get("canceled")) != only_canceled:
                continue
            chosen.append(item)
        chosen.sort(key=lambda a: str(a["datetime"]), reverse=query.get("direction") != "ASC")
        platform.faults.count("acuity_list_calls")
        return JSONResponse(chosen[:limit])

    return [
        Route("/_seed", seed, methods=["POST"]),
        Route("/api/v1/appointments", list_all, methods=["GET"]),
        Route("/api/v1/appointments/{appointment_id:int}", get_one, methods=["GET"]),
    ]


async def _guard(
    platform: Platform, accounts: set[tuple[str, str]], request: Request
) -> Response | None:
    auth = request.headers.get("authorization", "")
    try:
        user, _, key = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        user, key = "", ""
    if not auth.startswith("Basic ") or (user, key) not in accounts:
        return _error(401, "unauthorized", "Unauthorized")
    return await platform.inject(request)


def _error(status: int, error: str, message: str) -> Response:
    return JSONResponse(
        {"status_code": status, "message": message, "error": error}, status_code=status
    )
