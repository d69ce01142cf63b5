"""The sandbox ASGI app: every emulated platform plus the fault and inspection endpoints."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from sandbox import gatsby, gomry, gomry_tickets, guestmedia, idempotency
from sandbox.platform import Platform
from sandbox.vendors import acuity, calcom, calendly, hubspot, pipedrive, portal, square

SCHEMAS = "".join(m.SCHEMA for m in (idempotency, gomry, gomry_tickets, gatsby, guestmedia))


def create_app(data_dir: Path | None = None, keys: dict[str, set[str]] | None = None) -> Starlette:
    """``keys`` maps a platform slug to the credentials it accepts."""
    platform = Platform(data_dir, keys if keys is not None else keys_from_env(), SCHEMAS)

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                platform.faults.update(await request.json())
            except (KeyError, ValueError) as exc:
                return JSONResponse({"error": f"unknown knob {exc}"}, status_code=400)
        return JSONResponse(platform.snapshot())

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
            Route("/_sandbox/health", health),
            *gomry.routes(platform),
            *gomry_tickets.routes(platform),
            *gatsby.routes(platform),  # /gatsby/...
            *guestmedia.routes(platform),  # /guestmedia/v1/...
            Mount("/hubspot", routes=hubspot.routes(platform)),
            Mount("/acuity", routes=acuity.routes(platform)),
            Mount("/square", routes=square.routes(platform)),
            Mount("/calendly", routes=calendly.routes(platform)),
            Mount("/calcom", routes=calcom.routes(platform)),
            Mount("/pipedrive", routes=pipedrive.routes(platform)),
            Mount("/portal", routes=portal.routes(platform)),  # where album links land
        ]
    )
    app.state.platform = platform
    return app


def keys_from_env() -> dict[str, set[str]]:
    """Extra keys by hand, ``BOOKWIRE_SANDBOX_KEYS=gomry:key1,gomry:key2,gatsby:token`` (a
    sandbox on its own, the bench). ``bookwire sandbox`` adds the tenants file's credentials."""
    keys: dict[str, set[str]] = {}
    for item in os.environ.get("BOOKWIRE_SANDBOX_KEYS", "").split(","):
        platform, sep, key = item.strip().partition(":")
        if sep and key:
            keys.setdefault(platform, set()).add(key)
    return keys
