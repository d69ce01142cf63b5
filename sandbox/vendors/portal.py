"""Where album links land: a client's own portal, and the CRM writes bookwire's portals make.

Mounted at ``/portal`` by the sandbox; ``create_app`` serves it alone (tests). It records every
request it accepts, so a test or a demo can see what arrived and how often.

- ``POST /webhook``: a client's portal receiving ``event.ended``. With secrets configured
  (sandbox keys ``portal:<whsec_…>``) it verifies the Standard Webhooks signature (401 when
  wrong) using the ``standardwebhooks`` package; the body must be JSON with
  ``type = "event.ended"`` and ``data.delivery_id`` equal to ``webhook-id``. A repeated
  ``webhook-id`` is recorded as a duplicate and answered 200, as a well-behaved receiver does.
- HubSpot (``Authorization: Bearer`` with a ``hubspot`` key):
  ``PATCH /hubspot/crm/v3/objects/deals/{id}`` (``{"properties": {...}}``, values strings)
  and ``POST /hubspot/crm/v3/objects/notes`` (``hs_timestamp`` and an association required).
- Pipedrive (``x-api-token`` with a ``pipedrive`` key): ``PATCH /pipedrive/api/v2/deals/{id}``
  (``{"custom_fields": {...}}``) and ``POST /pipedrive/api/v1/notes`` (``content``, ``deal_id``).
- ``GET /_received``: everything recorded, oldest first. ``POST /_respond``
  ``{"status": 400, "times": 1}``: answer the next N calls with that status, recording nothing.
  ``POST /_reset`` forgets everything. The sandbox fault knobs (5xx, 429, latency) apply too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from sandbox.platform import Platform


class PortalState:
    """What arrived, and the scripted answers still to give."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.seen_ids: set[str] = set()
        self.respond: list[int] = []
        self.next_id = 1

    def record(self, kind: str, target: str, body: Any, **extra: Any) -> dict[str, Any]:
        entry = {"kind": kind, "target": target, "body": body, "at": _now(), **extra}
        self.received.append(entry)
        return entry


def routes(platform: Platform) -> list[Route]:
    state = PortalState()

    async def scripted(request: Request) -> Response | None:
        injected = await platform.inject(request)
        if injected is not None:
            return injected
        if state.respond:
            status = state.respond.pop(0)
            return JSONResponse({"error": f"scripted answer {status}"}, status_code=status)
        return None

    async def webhook(request: Request) -> Response:
        refused = await scripted(request)
        if refused is not None:
            return refused
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        secrets = platform.keys("portal")
        if secrets and not any(_verified(s, raw, headers) for s in secrets):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        msg_id = headers.get("webhook-id", "")
        data = body.get("data") if isinstance(body, dict) else None
        if body.get("type") != "event.ended" or not isinstance(data, dict):
            return JSONResponse({"error": "expected an event.ended object"}, status_code=400)
        if data.get("delivery_id") != msg_id:
            return JSONResponse({"error": "data.delivery_id differs from webhook-id"}, 400)
        duplicate = msg_id in state.seen_ids
        state.seen_ids.add(msg_id)
        state.record(
            "webhook",
            msg_id,
            body,
            duplicate=duplicate,
            idempotency_key=headers.get("idempotency-key"),
        )
        return JSONResponse({"received": msg_id, "duplicate": duplicate})

    async def hubspot_deal(request: Request) -> Response:
        refused = _hubspot_auth(platform, request) or await scripted(request)
        if refused is not None:
            return refused
        body = await request.json()
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict) or not all(
            isinstance(v, str) for v in properties.values()
        ):
            return _hubspot_error(400, "VALIDATION_ERROR", "properties must map names to strings")
        deal_id = request.path_params["deal_id"]
        state.record("hubspot.deal", deal_id, body)
        return JSONResponse({"id": deal_id, "properties": properties, "updatedAt": _now()})

    async def hubspot_note(request: Request) -> Response:
        refused = _hubspot_auth(platform, request) or await scripted(request)
        if refused is not None:
            return refused
        body = await request.json()
        properties = body.get("properties") or {}
        if "hs_timestamp" not in properties:
            return _hubspot_error(400, "VALIDATION_ERROR", "hs_timestamp is required")
        deals = [a["to"]["id"] for a in body.get("associations", [])]
        state.record("hubspot.note", ",".join(deals), body)
        state.next_id += 1
        return JSONResponse({"id": str(state.next_id), "properties": properties}, status_code=201)

    async def pipedrive_deal(request: Request) -> Response:
        refused = _pipedrive_auth(platform, request) or await scripted(request)
        if refused is not None:
            return refused
        body = await request.json()
        if not isinstance(body.get("custom_fields"), dict):
            return JSONResponse({"success": False, "error": "custom_fields expected"}, 400)
        deal_id = request.path_params["deal_id"]
        state.record("pipedrive.deal", str(deal_id), body)
        data = {"id": deal_id, "custom_fields": body["custom_fields"]}
        return JSONResponse({"success": True, "data": data})

    async def pipedrive_note(request: Request) -> Response:
        refused = _pipedrive_auth(platform, request) or await scripted(request)
        if refused is not None:
            return refused
        body = await request.json()
        if not body.get("content") or not isinstance(body.get("deal_id"), int):
            return JSONResponse({"success": False, "error": "content and deal_id required"}, 400)
        state.record("pipedrive.note", str(body["deal_id"]), body)
        state.next_id += 1
        return JSONResponse({"success": True, "data": {"id": state.next_id, **body}}, 201)

    async def received(_: Request) -> Response:
        return JSONResponse({"received": state.received})

    async def respond(request: Request) -> Response:
        body = await request.json()
        state.respond += [int(body["status"])] * int(body.get("times", 1))
        return JSONResponse({"queued": len(state.respond)})

    async def reset(_: Request) -> Response:
        state.__init__()  # type: ignore[misc]
        return JSONResponse({"reset": True})

    return [
        Route("/webhook", webhook, methods=["POST"]),
        Route("/hubspot/crm/v3/objects/deals/{deal_id}", hubspot_deal, methods=["PATCH"]),
        Route("/hubspot/crm/v3/objects/notes", hubspot_note, methods=["POST"]),
        Route("/pipedrive/api/v2/deals/{deal_id:int}", pipedrive_deal, methods=["PATCH"]),
        Route("/pipedrive/api/v1/notes", pipedrive_note, methods=["POST"]),
        Route("/_received", received, methods=["GET"]),
        Route("/_respond", respond, methods=["POST"]),
        Route("/_reset", reset, methods=["POST"]),
    ]


def create_app(keys: dict[str, set[str]] | None = None) -> Starlette:
    """The portal stub alone, mounted at ``/portal`` like in the sandbox."""
    platform = Platform(None, keys or {}, "")
    app = Starlette(routes=[Mount("/portal", routes=routes(platform))])
    app.state.platform = platform
    return app


def _verified(secret: str, raw: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(raw, headers)
    except WebhookVerificationError:
        return False
    return True


def _hubspot_auth(platform: Platform, request: Request) -> Response | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer ") or auth[7:] not in platform.keys("hubspot"):
        return _hubspot_error(
            401, "INVALID_AUTHENTICATION", "Authentication credentials not found."
        )
    return None


def _pipedrive_auth(platform: Platform, request: Request) -> Response | None:
    if request.headers.get("x-api-token", "") not in platform.keys("pipedrive"):
        return JSONResponse({"success": False, "error": "unauthorized access"}, 401)
    return None


def _hubspot_error(status: int, category: str, message: str) -> Response:
    body = {"status": "error", "category": category, "message": message}
    return JSONResponse(body, status_code=status)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
