"""Square API look-ups: a booking with its customer, services and location, and the backfill.

Bearer token (``credentials.access_token``) and the ``Square-Version`` header on every call.

- Status: ``ACCEPTED`` is a confirmed booking; ``PENDING`` is ignored until accepted;
  ``CANCELLED_BY_CUSTOMER``/``CANCELLED_BY_SELLER``/``DECLINED``/``NO_SHOW`` cancel.
- End: ``start_at`` plus the segments' ``duration_minutes`` and the ``intermission_minutes``
  between them (Square: "time between the end of this segment and the beginning of the
  subsequent segment", so a last segment's intermission falls after the appointment).
- Title: the booked service names (item, plus the variation when it is not "Regular").
- Zone: the location's ``timezone``; place: the location's name and address, or the booking's
  own address for ``CUSTOMER_LOCATION`` appointments.
- Order: ``updated_at`` has second precision, so the booking's ``version`` breaks ties (added
  as microseconds when the timestamp has none).
- ``ListBookings`` spans at most 31 days per query: the backfill walks 31-day windows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from integrations.booking import BookingMessage, BookingStatus, Person
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, PayloadError
from integrations.http import call, get_json, parse_body
from integrations.mapping import build_message, payload_error, person
from integrations.square.schemas import (
    CANCELLED,
    CONFIRMED,
    UNCONFIRMED,
    Booking,
    CatalogResponse,
    Customer,
    Location,
    Segment,
    SquareOptions,
)

log = logging.getLogger(__name__)
TARGET = "square"
M = TypeVar("M", bound=BaseModel)
WINDOW = timedelta(days=31)


class Lookups:
    """Catalog objects and locations rarely change: fetch each once per parse or backfill."""

    def __init__(self) -> None:
        self.services: dict[str, str | None] = {}
        self.locations: dict[str, Location] = {}


def square_booking(
    context: ParseContext, booking_id: str, lookups: Lookups | None = None
) -> BookingMessage | None:
    """The booking as Square describes it now, or None while it is pending."""
    raw = _get(context, f"/v2/bookings/{booking_id}")
    booking = _model(Booking, raw.get("booking") if isinstance(raw, dict) else None, "booking")
    return booking_message(context, booking, lookups or Lookups())


def booking_message(
    context: ParseContext, booking: Booking, lookups: Lookups
) -> BookingMessage | None:
    base: dict[str, Any] = {
        "tenant": context.tenant,
        "source": context.source,
        "booking_id": booking.id,
        "updated_at": _ordered(booking),
    }
    if booking.status in UNCONFIRMED:
        return None
    if booking.status in CANCELLED:
        return build_message(whole="(booking)", status=BookingStatus.cancelled, **base)
    if booking.status not in CONFIRMED:
        raise PayloadError(f"unknown booking status {booking.status!r}", field="booking.status")
    options: SquareOptions = context.options
    if not booking.appointment_segments:
        raise PayloadError("a booking needs appointment segments", field="appointment_segments")
    minutes = appointment_minutes(booking.appointment_segments)
    names = [
        _service(context, s.service_variation_id, lookups)
        for s in booking.appointment_segments
        if s.service_variation_id
    ]
    title = " + ".join(dict.fromkeys(n for n in names if n)) or "Appointment"
    location = _location(context, booking.location_id, lookups)
    zone = (location.timezone if location else None) or options.timezone
    if booking.location_type == "CUSTOMER_LOCATION" and booking.address:
        place = booking.address.one_line()
    elif location is not None:
        address = location.address.one_line() if location.address else None
        place = ", ".join(p for p in (location.name, address) if p) or None
    else:
        place = None
    return build_message(
        whole="(booking)",
        status=BookingStatus.confirmed,
        title=title[:500],
        start=booking.start_at,
        end=booking.start_at + timedelta(minutes=minutes),
        timezone=zone,
        location=place[:1000] if place else None,
        customer=_customer(context, booking.customer_id),
        **base,
    )


def backfill(context: ParseContext, *, since: date | datetime) -> Iterator[BookingMessage]:
    """Bookings starting from ``since`` to ``backfill_days`` later, in 31-day windows; one that
    cannot become a booking is logged and skipped, pending ones are left for their update."""
    options: SquareOptions = context.options
    start = since if isinstance(since, datetime) else datetime.combine(since, time(), UTC)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    stop = start + timedelta(days=options.backfill_days)
    lookups = Lookups()
    while start < stop:
        window_end = min(start + WINDOW, stop)
        cursor: str | None = None
        while True:
            params = {
                "start_at_min": _rfc3339(start),
                "start_at_max": _rfc3339(window_end),
                "limit": "100",
            }
            if cursor:
                params["cursor"] = cursor
            page = _get(context, "/v2/bookings", params=params)
            for item in page.get("bookings") or []:
                try:
                    message = booking_message(context, _model(Booking, item, "bookings"), lookups)
                except PayloadError as exc:  # one bad booking must not stop the backfill
                    log.warning(
                        "square backfill skipped a booking",
                        extra={"booking": str(item.get("id")), "why": str(exc)},
                    )
                    continue
                if message is not None:
                    yield message
            cursor = page.get("cursor")
            if not cursor:
                break
        start = window_end


def appointment_minutes(segments: Sequence[Segment]) -> int:
    """The appointment's length: every segment, and every intermission that separates two."""
    return sum(s.duration_minutes for s in segments) + sum(
        s.intermission_minutes for s in segments[:-1]
    )


def _ordered(booking: Booking) -> datetime:
    stamp = booking.updated_at
    if stamp.microsecond == 0 and booking.version > 0:
        stamp = stamp + timedelta(microseconds=min(booking.version, 999_999))
    return stamp


def _service(context: ParseContext, variation_id: str, lookups: Lookups) -> str | None:
    if variation_id not in lookups.services:
        raw = _get(
            context,
            f"/v2/catalog/object/{variation_id}",
            params={"include_related_objects": "true"},
        )
        lookups.services[variation_id] = _model(CatalogResponse, raw, "catalog").service_name()
    return lookups.services[variation_id]


def _location(context: ParseContext, location_id: str | None, lookups: Lookups) -> Location | None:
    if not location_id:
        return None
    if location_id not in lookups.locations:
        raw = _get(context, f"/v2/locations/{location_id}")
        location = raw.get("location") if isinstance(raw, dict) else None
        lookups.locations[location_id] = _model(Location, location, "location")
    return lookups.locations[location_id]


def _customer(context: ParseContext, customer_id: str | None) -> Person:
    if not customer_id:
        raise PayloadError("an accepted booking needs a customer", field="booking.customer_id")
    raw = _get(context, f"/v2/customers/{customer_id}")
    customer = _model(Customer, raw.get("customer") if isinstance(raw, dict) else None, "customer")
    full = " ".join(
        p.strip() for p in (customer.given_name, customer.family_name) if p and p.strip()
    )
    name = full or customer.nickname or customer.company_name
    fallback = f"Customer {customer.id}"
    return person(name, customer.email_address, field="customer.email_address", fallback=fallback)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _model(model: type[M], raw: Any, field: str) -> M:
    if raw is None:
        raise PayloadError("missing in the response", field=field)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise payload_error(exc, prefix=field) from None


def _get(context: ParseContext, path: str, *, params: dict[str, str] | None = None) -> Any:
    options: SquareOptions = context.options
    token = context.credentials.get("access_token")
    if not token:
        raise ConfigurationError("square source needs credentials.access_token")
    headers = {
        "Authorization": f"Bearer {token}",
        "Square-Version": options.api_version,
        "Accept": "application/json",
    }
    return get_json(
        context.http, TARGET, f"{options.base_url}{path}", params=params, headers=headers
    )


# -- onboarding (``bookwire connect square``) ------------------------------------------------

SUBSCRIBED_EVENTS = ("booking.created", "booking.updated")


class _Subscription(BaseModel):
    id: str
    notification_url: str
    signature_key: str


class _SubscriptionEnvelope(BaseModel):
    subscription: _Subscription


class _TestResult(BaseModel):
    status_code: int | None = None


class _TestEnvelope(BaseModel):
    subscription_test_result: _TestResult


def _headers(token: str, api_version: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Square-Version": api_version,
        "Accept": "application/json",
    }


def create_subscription(
    http: httpx.Client, *, base_url: str, token: str, api_version: str, url: str, key: str
) -> tuple[str, str]:
    """``POST /v2/webhooks/subscriptions`` for booking.created and booking.updated at ``url``
    (``key`` is the request's idempotency key). Square chooses the signature key: returns the
    subscription's id and that key, which the caller must store at once (the application's
    personal access token is required; OAuth tokens cannot manage subscriptions)."""
    body = {
        "idempotency_key": key,
        "subscription": {
            "name": "bookwire",
            "event_types": list(SUBSCRIBED_EVENTS),
            "notification_url": url,
            "api_version": api_version,
        },
    }
    response = call(
        http,
        TARGET,
        "POST",
        f"{base_url.rstrip('/')}/v2/webhooks/subscriptions",
        json=body,
        headers=_headers(token, api_version),
    )
    created = parse_body(TARGET, _SubscriptionEnvelope, response).subscription
    return created.id, created.signature_key


def send_test_event(
    http: httpx.Client, *, base_url: str, token: str, api_version: str, subscription_id: str
) -> int | None:
    """``POST /v2/webhooks/subscriptions/{id}/test``: Square sends a test booking.created to
    the notification URL; returns the status code the URL answered (None: unreachable)."""
    response = call(
        http,
        TARGET,
        "POST",
        f"{base_url.rstrip('/')}/v2/webhooks/subscriptions/{subscription_id}/test",
        json={"event_type": SUBSCRIBED_EVENTS[0]},
        headers=_headers(token, api_version),
    )
    return parse_body(TARGET, _TestEnvelope, response).subscription_test_result.status_code
