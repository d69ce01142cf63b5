"""Verify and parse Calendly webhooks (API v2 webhook subscriptions).

Signature: ``Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">``,
keyed by the subscription's signing key. Deliveries stamped more than three minutes from our
clock are refused (the tolerance of Calendly's own verification example). Several keys may be
active at once (rotation), and every ``v1`` in the header is tried.

Events: ``invitee.created`` and ``invitee.canceled``; anything else is ignored. A reschedule
arrives as BOTH a new ``invitee.created`` (new invitee, ``old_invitee`` set) and an
``invitee.canceled`` of the old invitee with ``rescheduled: true`` — in either order. The
created one carries ``replaces=<old invitee>`` so the intake moves the existing booking; the
canceled one is ignored. The event moves; it is never cancelled and created a second time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from pydantic import ValidationError

from integrations.booking import BookingMessage, BookingStatus
from integrations.calendly.schemas import Envelope, Invitee, Location, Options, ScheduledEvent
from integrations.connector import ParseContext, WebhookRequest, signed_at
from integrations.errors import PayloadError, SignatureError
from integrations.mapping import (
    iana_zone,
    meeting_url,
    payload_error,
    people,
    person,
    phone_call,
    place,
    read_model,
)

HEADER = "calendly-webhook-signature"
TOLERANCE = timedelta(minutes=3)
HANDLED = frozenset({"invitee.created", "invitee.canceled"})
PHONE_CALLERS = {"outbound_call": "host", "inbound_call": "booker"}  # location type → who dials
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_URI_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def verify(
    request: WebhookRequest, *, secrets: list[str], now: datetime, options: object = None
) -> None:
    """Raise SignatureError unless one of ``secrets`` signed these exact bytes recently."""
    if not secrets:
        raise SignatureError("no signing key configured")
    stamp, signatures = _header(request.headers.get(HEADER, ""))
    signed_at(stamp, now=now, tolerance=TOLERANCE, header="signature timestamp")
    message = stamp.encode() + b"." + request.body
    for secret in secrets:
        expected = hmac.new(secret.encode(), message, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return
    raise SignatureError("no matching signature")


def sign(secret: str, body: bytes, at: datetime) -> str:
    """The header value Calendly would send for ``body`` at ``at`` (senders and tests)."""
    stamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def delivery_id(request: WebhookRequest) -> str | None:
    """Calendly sends no delivery id; the intake falls back to a hash of the body."""
    return None


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """The booking an invitee delivery describes; [] for other events and reschedule-cancels."""
    envelope = read_model(Envelope, request.body)
    if envelope.event not in HANDLED:
        return []
    if envelope.payload is None:
        raise PayloadError("required for invitee events", field="payload")
    try:
        invitee = Invitee.model_validate(envelope.payload)
    except ValidationError as exc:
        raise payload_error(exc, prefix="payload") from None
    canceled = envelope.event == "invitee.canceled"
    if canceled and invitee.rescheduled:
        return []  # the matching invitee.created (with old_invitee) moves the booking
    return [
        booking_from(
            invitee,
            invitee.scheduled_event,
            context=context,
            canceled=canceled,
            sent_at=envelope.created_at,
            prefix="payload",
        )
    ]


def booking_from(
    invitee: Invitee,
    event: ScheduledEvent | None,
    *,
    context: ParseContext,
    canceled: bool = False,
    sent_at: datetime | None = None,
    prefix: str = "invitee",
) -> BookingMessage:
    """One invitee of one scheduled event as a booking (webhooks and backfill alike)."""
    options = options_of(context)
    booking_id = uri_id(invitee.uri, field=f"{prefix}.uri")
    replaces = None
    if invitee.old_invitee:
        replaces = uri_id(invitee.old_invitee, field=f"{prefix}.old_invitee")
    if replaces == booking_id:
        replaces = None
    cancelled = canceled or invitee.status == "canceled"
    status = (
        BookingStatus.cancelled
        if cancelled
        else BookingStatus.rescheduled
        if replaces
        else BookingStatus.confirmed
    )
    updated_at = invitee.updated_at or invitee.created_at or sent_at
    if updated_at is None:
        raise PayloadError("required to order deliveries", field=f"{prefix}.updated_at")
    try:
        customer = person(_full_name(invitee), invitee.email, field=f"{prefix}.name")
    except PayloadError:
        if not cancelled:  # a cancellation needs only the invitee's id
            raise
        customer = None
    zone = options.timezone or iana_zone(invitee.timezone)
    if event is None and not cancelled:
        raise PayloadError("required for a booked invitee", field=f"{prefix}.scheduled_event")
    if zone is None and not cancelled:
        raise PayloadError("missing or not an IANA time zone", field=f"{prefix}.timezone")
    where, link = _where(event.location) if event else (None, None)
    guests = [(None, guest.email) for guest in event.event_guests] if event else []
    try:
        return BookingMessage(
            tenant=context.tenant,
            source=context.source,
            booking_id=booking_id,
            status=status,
            title=_title(event),
            start=event.start_time if event else None,
            end=event.end_time if event else None,
            timezone=zone,
            location=where,
            meeting_url=link,
            customer=customer,
            attendees=people(guests, exclude={customer.email or ""} if customer else set()),
            replaces=replaces,
            updated_at=updated_at,
        )
    except ValidationError as exc:
        raise payload_error(exc, prefix=prefix) from None


def uri_id(uri: str, *, field: str) -> str:
    """The uuid that ends a Calendly resource URI (``.../invitees/<uuid>``)."""
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    if not _URI_ID.match(last):
        raise PayloadError("not a Calendly resource URI", field=field)
    return last


def options_of(context: ParseContext) -> Options:
    if isinstance(context.options, Options):
        return context.options
    return Options.model_validate(context.options or {})


def _header(value: str) -> tuple[str, list[bytes]]:
    stamp = ""
    signatures: list[bytes] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t":
            stamp = item
        elif key == "v1" and _HEX.match(item):
            signatures.append(bytes.fromhex(item))
    if not stamp or not signatures:  # what the stamp holds is signed_at's to judge
        raise SignatureError(f"missing or malformed {HEADER} header")
    return stamp, signatures


def _title(event: ScheduledEvent | None) -> str | None:
    name = (event.name or "").strip() if event else ""
    return name[:500] or None


def _full_name(invitee: Invitee) -> str | None:
    if invitee.name and invitee.name.strip():
        return invitee.name
    parts = [p.strip() for p in (invitee.first_name, invitee.last_name) if p and p.strip()]
    return " ".join(parts) or None


def _where(location: Location | None) -> tuple[str | None, str | None]:
    """(place, meeting link): conference types carry ``join_url``; physical and custom types
    carry free text; the phone types carry a number in ``location``: the invitee's for
    ``outbound_call`` (the host calls), the host's for ``inbound_call`` (the invitee calls).
    The number becomes the place ("Phone call: …"), as the event's only way to meet."""
    if location is None:
        return None, None
    if location.type in PHONE_CALLERS:
        return phone_call(location.location, caller=PHONE_CALLERS[location.type]), None
    link = meeting_url(location.join_url) or meeting_url(location.location)
    return place(location.location), link
