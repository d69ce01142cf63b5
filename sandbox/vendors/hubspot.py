"""HubSpot CRM v3, the part bookwire reads: deals, contacts, deal search (mounted at /hubspot).

- ``Authorization: Bearer <private-app token>`` on every call; 401 ``INVALID_AUTHENTICATION``.
- ``GET /crm/v3/objects/deals/{id}?properties=a,b&associations=contacts``: every property is a
  string or null; requested-but-unset properties come back as null; ``hs_object_id``,
  ``createdate`` and ``hs_lastmodifieddate`` always. ``associations`` only when asked and
  present. Unknown or archived ids: 404 ``OBJECT_NOT_FOUND``.
- ``POST /crm/v3/objects/deals/search``: ``filterGroups`` (OR of ANDed filters: EQ, NEQ, IN,
  GT, GTE, LT, LTE; dates compare as epoch milliseconds), ``sorts``, ``limit`` ≤ 200,
  ``after`` paging; results carry only the requested properties.
- ``POST /_seed`` loads ``tokens``, ``contacts`` and ``deals`` (``contacts`` on a deal lists
  its associated contact ids in order) and deletes ``delete_deals``. A seeded deal without
  ``updatedAt`` gets the current time; ``hs_lastmodifieddate`` mirrors ``updatedAt``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.platform import Platform

DEFAULT_DEAL_PROPERTIES = ("dealname", "amount", "closedate", "pipeline", "dealstage")
ALWAYS = ("hs_object_id", "createdate", "hs_lastmodifieddate")


class HubSpotState:
    def __init__(self, tokens: set[str]) -> None:
        self.tokens = set(tokens)
        self.deals: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}


def routes(platform: Platform) -> list[Route]:
    state = HubSpotState(platform.keys("hubspot"))

    async def seed(request: Request) -> Response:
        body = await request.json()
        state.tokens |= set(body.get("tokens", []))
        now = _iso(datetime.now(UTC))
        for contact in body.get("contacts", []):
            state.contacts[str(contact["id"])] = {
                "id": str(contact["id"]),
                "properties": dict(contact.get("properties", {})),
                "createdAt": contact.get("createdAt", now),
                "updatedAt": contact.get("updatedAt", now),
            }
        for deal in body.get("deals", []):
            updated = deal.get("updatedAt", now)
            properties = {k: _text(v) for k, v in deal.get("properties", {}).items()}
            properties["hs_lastmodifieddate"] = updated
            state.deals[str(deal["id"])] = {
                "id": str(deal["id"]),
                "properties": properties,
                "createdAt": deal.get("createdAt", updated),
                "updatedAt": updated,
                "archived": bool(deal.get("archived", False)),
                "contacts": [str(c) for c in deal.get("contacts", [])],
            }
        for deal_id in body.get("delete_deals", []):
            state.deals.pop(str(deal_id), None)
        return JSONResponse({"deals": len(state.deals), "contacts": len(state.contacts)})

    async def get_deal(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        platform.faults.count("hubspot_deal_reads")
        deal = state.deals.get(request.path_params["deal_id"])
        if deal is None or deal["archived"]:
            return _not_found()
        wanted = _wanted(request, DEFAULT_DEAL_PROPERTIES)
        doc = _object(deal, wanted)
        if (
            "contacts" in request.query_params.get("associations", "").split(",")
            and deal["contacts"]
        ):
            doc["associations"] = {
                "contacts": {
                    "results": [{"id": c, "type": "deal_to_contact"} for c in deal["contacts"]]
                }
            }
        return JSONResponse(doc)

    async def get_contact(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        contact = state.contacts.get(request.path_params["contact_id"])
        if contact is None:
            return _not_found()
        return JSONResponse(_object(contact, _wanted(request, ("firstname", "lastname", "email"))))

    async def search(request: Request) -> Response:
        refused = await _guard(platform, state, request)
        if refused:
            return refused
        body = await request.json()
        limit = int(body.get("limit", 10))
        if not 1 <= limit <= 200:
            return _error(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
        groups = body.get("filterGroups") or [{"filters": []}]
        found = [d for d in state.deals.values() if not d["archived"] and _any(groups, d)]
        for sort in reversed(body.get("sorts", [])):
            name = sort["propertyName"]
            found.sort(
                key=lambda d: _comparable(d["properties"].get(name)) or 0,
                reverse=sort.get("direction") == "DESCENDING",
            )
        offset = int(body.get("after") or 0)
        page = found[offset : offset + limit]
        wanted = tuple(body.get("properties") or DEFAULT_DEAL_PROPERTIES)
        answer: dict[str, Any] = {
            "total": len(found),
            "results": [_object(d, wanted) for d in page],
        }
        if offset + limit < len(found):
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return JSONResponse(answer)

    return [
        Route("/_seed", seed, methods=["POST"]),
        Route("/crm/v3/objects/deals/search", search, methods=["POST"]),
        Route("/crm/v3/objects/deals/{deal_id}", get_deal, methods=["GET"]),
        Route("/crm/v3/objects/contacts/{contact_id}", get_contact, methods=["GET"]),
    ]


async def _guard(platform: Platform, state: HubSpotState, request: Request) -> Response | None:
    auth = request.headers.get("authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if not token or token not in state.tokens:
        return _error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        )
    return await platform.inject(request)


def _wanted(request: Request, default: tuple[str, ...]) -> tuple[str, ...]:
    given = request.query_params.get("properties")
    return tuple(p for p in given.split(",") if p) if given else default


def _object(record: dict[str, Any], wanted: tuple[str, ...]) -> dict[str, Any]:
    props = record["properties"]
    shown = {name: props.get(name) for name in wanted}
    shown.update(
        {
            "hs_object_id": record["id"],
            "createdate": record["createdAt"],
            "hs_lastmodifieddate": record["updatedAt"],
        }
    )
    return {
        "id": record["id"],
        "properties": shown,
        "createdAt": record["createdAt"],
        "updatedAt": record["updatedAt"],
        "archived": record.get("archived", False),
    }


def _any(groups: list[dict[str, Any]], deal: dict[str, Any]) -> bool:
    return any(all(_match(f, deal["properties"]) for f in g.get("filters", [])) for g in groups)


def _match(rule: dict[str, Any], props: dict[str, Any]) -> bool:
    value = props.get(rule["propertyName"])
    operator = rule["operator"]
    if operator == "IN":
        return value in {str(v) for v in rule.get("values", [])}
    if operator == "EQ":
        return value == str(rule.get("value"))
    if operator == "NEQ":
        return value != str(rule.get("value"))
    left, right = _comparable(value), _comparable(rule.get("value"))
    if left is None or right is None:
        return False
    return {
        "GT": left > right,
        "GTE": left >= right,
        "LT": left < right,
        "LTE": left <= right,
    }.get(operator, False)


def _comparable(value: Any) -> float | None:
    """Numbers as numbers; ISO dates and date-times as epoch milliseconds."""
    if value is None:
        return None
    text = str(value)
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _not_found() -> Response:
    return _error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")


def _error(status: int, category: str, message: str) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    return JSONResponse(body, status_code=status)
