"""Cal.com backfill: every booking starting since a date, from API v2.

``GET {api_base_url}/v2/bookings?afterStart=…&take=100&skip=…&sortStart=asc`` with
``Authorization: Bearer <cal_… API key>`` (the tenant's ``credentials.api_key``) and
``cal-api-version: 2024-08-13``, paged with ``take``/``skip`` until ``hasNextPage`` is false.

Statuses map like the webhooks: accepted → confirmed (rescheduled when it has
``rescheduledFromUid``), cancelled → cancelled, except the old half of a reschedule (it has
``rescheduledToUid``) which is skipped; pending and rejected bookings are skipped, and so
(with a warning) is a booking that cannot be read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from integrations.booking import BookingMessage, BookingStatus
from integrations.calcom.schemas import ApiBooking, BookingPage
from integrations.calcom.webhook import booking_message, options_of
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, PayloadError, PermanentError
from integrations.http import call, parse_body
from integrations.mapping import as_utc, payload_error

log = logging.getLogger(__name__)
TARGET = "calcom"
API_VERSION = "2024-08-13"
PAGE_SIZE = 100
MAX_PAGES = 10_000


def backfill(context: ParseContext, *, since: datetime | date) -> Iterator[BookingMessage]:
    """Bookings starting at or after ``since``, oldest first."""
    options = options_of(context)
    key = context.credentials.get("api_key")
    if not key:
        raise ConfigurationError("calcom backfill needs credentials.api_key")
    if context.http is None:
        raise ConfigurationError("calcom backfill needs an HTTP client")
    url = f"{options.api_base_url.rstrip('/')}/v2/bookings"
    headers = {"Authorization": f"Bearer {key}", "cal-api-version": API_VERSION}
    start = as_utc(since).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for skip in range(0, PAGE_SIZE * MAX_PAGES, PAGE_SIZE):
        params = {"afterStart": start, "take": PAGE_SIZE, "skip": skip, "sortStart": "asc"}
        page = parse_body(
            TARGET,
            BookingPage,
            call(context.http, TARGET, "GET", url, params=params, headers=headers),
        )
        for raw in page.data:
            try:
                message = _message(context, raw)
            except PayloadError as exc:  # one bad booking must not stop the backfill
                log.warning("calcom backfill skipped a booking", extra={"why": str(exc)})
                continue
            if message is not None:
                yield message
        if not page.pagination.has_next_page or not page.data:
            return
    raise PermanentError(f"{TARGET}: more than {MAX_PAGES} pages; narrow the backfill")


def _message(context: ParseContext, raw: dict[str, Any]) -> BookingMessage | None:
    try:
        booking = ApiBooking.model_validate(raw)
    except ValidationError as exc:
        raise payload_error(exc, prefix="booking") from None
    state = booking.status.lower()
    replaces = None
    if state == "cancelled":
        if booking.rescheduled_to_uid:
            return None  # moved: the new booking carries it
        status = BookingStatus.cancelled
    elif state == "accepted":
        replaces = (
            booking.rescheduled_from_uid if booking.rescheduled_from_uid != booking.uid else None
        )
        status = BookingStatus.rescheduled if replaces else BookingStatus.confirmed
    else:
        return None  # pending, rejected: never confirmed
    updated_at = booking.updated_at or booking.created_at
    if updated_at is None:
        raise PayloadError("required to order bookings", field="booking.updatedAt")
    return booking_message(
        context,
        uid=booking.uid,
        status=status,
        title=booking.title,
        start=booking.start,
        end=booking.end,
        hosts=booking.hosts,
        attendees=booking.attendees,
        guests=booking.guests,
        location=booking.location,
        links=[booking.meeting_url, (booking.metadata or {}).get("videoCallUrl")],
        replaces=replaces,
        updated_at=updated_at,
        prefix="booking",
    )


# -- onboarding (``bookwire connect calcom``) ------------------------------------------------

TRIGGERS = ("BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED")


class _Webhook(BaseModel):
    id: str | int
    subscriberUrl: str


class _WebhookEnvelope(BaseModel):
    data: _Webhook


def create_webhook(
    http: httpx.Client, *, api_base_url: str, api_key: str, url: str, secret: str
) -> str:
    """``POST /v2/webhooks``: an active webhook of the key's user for the booking triggers
    bookwire reads, delivering to ``url`` signed with ``secret`` (Cal.com lets the caller
    choose it). Returns the webhook's id."""
    body = {"active": True, "subscriberUrl": url, "triggers": list(TRIGGERS), "secret": secret}
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    response = call(
        http, TARGET, "POST", f"{api_base_url.rstrip('/')}/v2/webhooks", json=body, headers=headers
    )
    return str(parse_body(TARGET, _WebhookEnvelope, response).data.id)
