"""Pipedrive API v2 calls: person look-ups for webhooks and the backfill of won deals.

- ``GET {api_base_url}/api/v2/persons/{id}``: a deal's customer (webhooks v2 send only ids);
- ``GET {api_base_url}/api/v2/deals?status=won&updated_since=…&limit=500`` following
  ``additional_data.next_cursor``: every deal won (or edited while won) since a date; a
  deal that cannot be a booking yet (no event date) is skipped with a warning. The same read
  with ``status=lost`` and ``status=deleted`` (Pipedrive lists deals deleted up to 30 days
  ago) turns every deal lost or deleted since then into a cancellation, so one lost while
  webhooks were failing is cancelled too (a cancellation of a deal bookwire never had a
  booking for stores a cancelled booking and touches no platform);
- ``GET {api_base_url}/v1/webhooks``: the account's webhooks with ``is_active``,
  ``last_delivery_time`` and ``last_http_status`` (source health).

The token (``credentials.api_token``) goes in the ``x-api-token`` header, never in a URL.
Every call goes through ``integrations.http.call``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from integrations.booking import BookingMessage, Person
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, PayloadError, PermanentError
from integrations.http import call, parse_body
from integrations.mapping import as_utc, person
from integrations.pipedrive.deals import (
    Deal,
    Lookup,
    cancelled_message,
    deal_of,
    options_of,
    pd_time,
    won_message,
)
from integrations.pipedrive.schemas import DealPage, PersonEnvelope
from integrations.subscriptions import Subscription, callback_path

log = logging.getLogger(__name__)
TARGET = "pipedrive"
PAGE_SIZE = 500
MAX_PAGES = 10_000


def person_lookup(context: ParseContext) -> Lookup | None:
    """A cached person-by-id look-up, or None when the tenant gave no token/base URL."""
    session = _session(context)
    if session is None:
        return None
    http, base, headers = session
    cache: dict[int, Person | None] = {}

    def lookup(person_id: int) -> Person | None:
        if person_id not in cache:
            cache[person_id] = _person(http, base, headers, person_id)
        return cache[person_id]

    return lookup


def backfill(context: ParseContext, *, since: datetime | date) -> Iterator[BookingMessage]:
    """Bookings for deals won now, and cancellations for deals lost or deleted, that were
    updated at or after ``since``."""
    session = _session(context)
    if session is None:
        raise ConfigurationError(
            "pipedrive backfill needs credentials.api_token and options.api_base_url"
        )
    http, base, headers = session
    lookup = person_lookup(context)
    for status in BACKFILL_STATUSES:
        for deal in _deals(http, base, headers, status=status, since=since):
            try:
                if deal.update_time is None:
                    raise PayloadError("required to order deals", field="deal.update_time")
                if status == "won":
                    yield won_message(deal, context, updated_at=deal.update_time, lookup=lookup)
                else:
                    yield cancelled_message(deal.id, context, updated_at=deal.update_time)
            except PayloadError as exc:  # e.g. won before its event date was filled in
                log.warning(
                    "pipedrive backfill skipped a deal",
                    extra={"deal": deal.id, "why": str(exc)},
                )


# won deals are bookings; lost and deleted ones cancel theirs (one status per request: the
# documented enum of GET /api/v2/deals is open, won, lost, deleted)
BACKFILL_STATUSES = ("won", "lost", "deleted")


def _deals(
    http: httpx.Client, base: str, headers: dict[str, str], *, status: str, since: datetime | date
) -> Iterator[Deal]:
    """Deals with ``status`` updated at or after ``since``, page by page (bad ones skipped)."""
    params: dict[str, str | int] = {
        "status": status,
        "updated_since": as_utc(since).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "limit": PAGE_SIZE,
    }
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        response = call(http, TARGET, "GET", f"{base}/api/v2/deals", params=params, headers=headers)
        page = parse_body(TARGET, DealPage, response)
        for raw in page.data or []:
            try:
                deal = deal_of(raw, field="deal")
            except PayloadError as exc:
                log.warning("pipedrive backfill skipped a deal", extra={"why": str(exc)})
                continue
            if status == "deleted" or (deal.status == status and raw.get("is_deleted") is not True):
                yield deal  # a deleted deal may keep its last status: the filter says deleted
        cursor = page.next_cursor
        if cursor is None or cursor in seen:
            return
        seen.add(cursor)
        params = {**params, "cursor": cursor}
    raise PermanentError(f"{TARGET}: more than {MAX_PAGES} pages; narrow the backfill")


class _Webhook(BaseModel):
    subscription_url: str = ""
    is_active: bool | int = True
    last_delivery_time: str | None = None
    last_http_status: int | None = None


class _Webhooks(BaseModel):
    data: list[dict[str, Any]] | None = None


def subscriptions(context: ParseContext) -> list[Subscription]:
    """The account's webhooks (``GET /v1/webhooks``): active or not, last delivery, status."""
    session = _session(context)
    if session is None:
        raise ConfigurationError(
            "pipedrive subscription check needs credentials.api_token and options.api_base_url"
        )
    http, base, headers = session
    response = call(http, TARGET, "GET", f"{base}/v1/webhooks", headers=headers)
    found: list[Subscription] = []
    for raw in parse_body(TARGET, _Webhooks, response).data or []:
        try:
            hook = _Webhook.model_validate(raw)
        except ValidationError:
            log.warning("pipedrive webhook skipped: unexpected shape")
            continue
        found.append(
            Subscription(
                active=bool(hook.is_active),
                callback_path=callback_path(hook.subscription_url),
                last_delivery=pd_time(hook.last_delivery_time),
                last_status=hook.last_http_status,
            )
        )
    return found


def _session(context: ParseContext) -> tuple[httpx.Client, str, dict[str, str]] | None:
    options = options_of(context)
    token = context.credentials.get("api_token")
    if token and options.api_base_url and context.http is not None:
        headers = {"x-api-token": token, "Accept": "application/json"}
        return context.http, options.api_base_url.rstrip("/"), headers
    return None


def _person(
    http: httpx.Client, base: str, headers: dict[str, str], person_id: int
) -> Person | None:
    url = f"{base}/api/v2/persons/{person_id}"
    try:
        response = call(http, TARGET, "GET", url, headers=headers)
    except PermanentError as exc:
        if exc.status in (404, 410):
            return None  # deleted person: fall back to the organization or deal title
        raise
    try:
        found = PersonEnvelope.model_validate_json(response.content).data
    except ValueError as exc:
        raise PermanentError(f"{TARGET}: unexpected person shape") from exc
    emails = sorted(found.emails, key=lambda e: not e.primary)
    email = next((e.value for e in emails if e.value), None)
    try:
        return person(found.name, email, field="person.name")
    except PayloadError:
        return None


# -- onboarding (``bookwire connect pipedrive``) ---------------------------------------------


class _CreatedWebhook(BaseModel):
    id: int | str


class _CreatedWebhookEnvelope(BaseModel):
    data: _CreatedWebhook


def create_webhook(
    http: httpx.Client, *, api_base_url: str, api_token: str, url: str, user: str, password: str
) -> str:
    """``POST /v1/webhooks``: every deal event (``event_object`` deal, ``event_action`` *)
    delivered to ``url`` in the v2 payload (``version`` 2.0) with HTTP Basic ``user`` and
    ``password`` (Pipedrive signs nothing; these are the caller's). Returns the webhook's id."""
    body = {
        "subscription_url": url,
        "event_action": "*",
        "event_object": "deal",
        "http_auth_user": user,
        "http_auth_password": password,
        "version": "2.0",
    }
    headers = {"x-api-token": api_token, "Accept": "application/json"}
    base = api_base_url.rstrip("/")
    response = call(http, TARGET, "POST", f"{base}/v1/webhooks", json=body, headers=headers)
    return str(parse_body(TARGET, _CreatedWebhookEnvelope, response).data.id)
