"""Pipedrive API v2 calls: person look-ups for webhooks and the backfill of won deals.

- ``GET {api_base_url}/api/v2/persons/{id}``: a deal's customer (webhooks v2 send only ids);
- ``GET {api_base_url}/api/v2/deals?status=won&updated_since=…&limit=500`` following
  ``additional_data.next_cursor``: every deal won (or edited while won) since a date; a
  deal that cannot be a booking yet (no event date) is skipped with a warning.

The token (``credentials.api_token``) goes in the ``x-api-token`` header, never in a URL.
Every call goes through ``integrations.http.call``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime

import httpx

from integrations.booking import BookingMessage, Person
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, PayloadError, PermanentError
from integrations.http import call, parse_body
from integrations.mapping import as_utc, person
from integrations.pipedrive.deals import Lookup, deal_of, options_of, won_message
from integrations.pipedrive.schemas import DealPage, PersonEnvelope

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
    """Bookings for deals that are won now and were updated at or after ``since``."""
    session = _session(context)
    if session is None:
        raise ConfigurationError(
            "pipedrive backfill needs credentials.api_token and options.api_base_url"
        )
    http, base, headers = session
    lookup = person_lookup(context)
    params: dict[str, str | int] = {
        "status": "won",
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
                if deal.status != "won":
                    continue
                if deal.update_time is None:
                    raise PayloadError("required to order deals", field="deal.update_time")
                yield won_message(deal, context, updated_at=deal.update_time, lookup=lookup)
            except PayloadError as exc:  # e.g. won before its event date was filled in
                log.warning(
                    "pipedrive backfill skipped a deal",
                    extra={"deal": raw.get("id"), "why": str(exc)},
                )
        cursor = page.next_cursor
        if cursor is None or cursor in seen:
            return
        seen.add(cursor)
        params = {**params, "cursor": cursor}
    raise PermanentError(f"{TARGET}: more than {MAX_PAGES} pages; narrow the backfill")


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
