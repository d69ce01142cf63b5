"""Verify and parse Cal.com booking webhooks.

Signature: ``X-Cal-Signature-256: <hex HMAC-SHA256 of the raw body>`` keyed by the webhook's
secret; several secrets may be active (rotation). Cal.com sends the literal
``no-secret-provided`` when the webhook has no secret: such deliveries, like ones without the
header, are refused unless the tenant sets ``allow_unsigned = true``. Cal.com sends no
timestamp, so there is no replay window; a replayed body is a duplicate in the inbox.

Triggers: ``BOOKING_CREATED`` → confirmed; ``BOOKING_RESCHEDULED`` → rescheduled, where the
booking has a NEW ``uid`` and the old one in ``rescheduleUid`` (→ ``replaces``, so the intake
moves the existing event); ``BOOKING_CANCELLED`` → cancelled. ``BOOKING_REQUESTED`` (awaiting
the host's confirmation), ``BOOKING_REJECTED``, ``PING`` and the rest are ignored.

``location`` may hold an app name (``integrations:daily``) rather than a place: the meeting
link then comes from ``metadata.videoCallUrl`` and no physical address is sent. For a phone
call it holds a number; ``responses.location.value`` names the choice (``phone``: the attendee's
number, the organizer calls; ``userPhone``: the organizer's number, the attendee calls) and the
event's place becomes "Phone call: …".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError

from integrations.booking import BookingMessage, BookingStatus
from integrations.calcom.schemas import CalPerson, Envelope, Options, WebhookBooking
from integrations.connector import ParseContext, WebhookRequest
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

HEADER = "x-cal-signature-256"
UNSIGNED = "no-secret-provided"
CONFIRMING = {
    "BOOKING_CREATED": BookingStatus.confirmed,
    "BOOKING_RESCHEDULED": BookingStatus.rescheduled,
}
CANCELLING = frozenset({"BOOKING_CANCELLED"})
NOT_CONFIRMED = frozenset({"PENDING", "AWAITING_HOST", "REJECTED", "CANCELLED"})
# Cal.com's location-type identifiers: never a street address.
APP_NAMES = frozenset(
    {"inPerson", "attendeeInPerson", "link", "phone", "userPhone", "attendeePhone", "somewhereElse"}
)
# The booker's location choice (``responses.location.value.value``) for a phone call → who
# dials. Webhooks use the event-type names; API v2 calls them attendeePhone / organizerPhone.
PHONE_CALLERS = {
    "phone": "host",
    "attendeePhone": "host",
    "userPhone": "booker",
    "organizerPhone": "booker",
}
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def verify(
    request: WebhookRequest, *, secrets: list[str], now: datetime, options: Options | None = None
) -> None:
    """Raise SignatureError unless one of ``secrets`` signed these exact bytes.

    With ``allow_unsigned`` an unsigned delivery passes, but a signed one must still match
    any configured secret (a wrong signature means tampering, not a missing secret)."""
    allow = options is not None and options.allow_unsigned
    given = request.headers.get(HEADER, "").strip()
    if not given or given == UNSIGNED:
        if allow:
            return
        raise SignatureError("unsigned delivery: give the Cal.com webhook a secret")
    if not secrets:
        if allow:
            return
        raise SignatureError("no signing secret configured")
    if not _HEX.match(given):
        raise SignatureError(f"{HEADER} is not a hex HMAC-SHA256")
    candidate = bytes.fromhex(given)
    for secret in secrets:
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
        if hmac.compare_digest(expected, candidate):
            return
    raise SignatureError("no matching signature")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Cal-Signature-256`` value Cal.com sends for ``body`` (senders and tests)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_id(request: WebhookRequest) -> str | None:
    """Cal.com sends no delivery id; the intake falls back to a hash of the body."""
    return None


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """The booking a BOOKING_* delivery describes; [] for triggers we do not act on."""
    envelope = read_model(Envelope, request.body)
    trigger = envelope.trigger_event
    if trigger not in CONFIRMING and trigger not in CANCELLING:
        return []
    if envelope.payload is None:
        raise PayloadError("required for booking triggers", field="payload")
    if envelope.created_at is None:
        raise PayloadError("required to order deliveries", field="createdAt")
    try:
        booking = WebhookBooking.model_validate(envelope.payload)
    except ValidationError as exc:
        raise payload_error(exc, prefix="payload") from None
    replaces = None
    if trigger in CANCELLING:
        if booking.rescheduled:
            return []  # the old half of a reschedule: the new uid moves the booking
        status = BookingStatus.cancelled
    else:
        if (booking.status or "ACCEPTED").upper() in NOT_CONFIRMED:
            return []
        replaces = booking.reschedule_uid if booking.reschedule_uid != booking.uid else None
        status = BookingStatus.rescheduled if replaces else CONFIRMING[trigger]
    video = booking.video_call_data or {}
    return [
        booking_message(
            context,
            uid=booking.uid,
            status=status,
            title=booking.title or booking.event_title,
            start=booking.start_time,
            end=booking.end_time,
            hosts=[booking.organizer] if booking.organizer else [],
            attendees=booking.attendees,
            guests=[],
            location=booking.location,
            phone=_phone(booking),
            links=[(booking.metadata or {}).get("videoCallUrl"), video.get("url")],
            replaces=replaces,
            updated_at=envelope.created_at,
            prefix="payload",
        )
    ]


def booking_message(
    context: ParseContext,
    *,
    uid: str,
    status: BookingStatus,
    title: str | None,
    start: datetime | None,
    end: datetime | None,
    hosts: Sequence[CalPerson],
    attendees: Sequence[CalPerson],
    guests: Sequence[str],
    location: str | None,
    links: Sequence[object],
    replaces: str | None,
    updated_at: datetime,
    prefix: str,
    phone: str | None = None,
) -> BookingMessage:
    """A Cal.com booking (webhook payload or API item) as a booking message.

    The booker is the first attendee; further attendees and guests are the attendees. The
    zone is the tenant's override, else the organizer's, else the booker's. ``phone`` is the
    phone-call place the booker chose (``_phone``); a bare number in ``location`` is one too."""
    options = options_of(context)
    cancelled = status is BookingStatus.cancelled
    customer = None
    if attendees:
        booker = attendees[0]
        try:
            customer = person(booker.name, booker.email, field=f"{prefix}.attendees.0")
        except PayloadError:
            if not cancelled:  # a cancellation needs only the uid
                raise
    elif not cancelled:
        raise PayloadError("a booking needs at least one attendee", field=f"{prefix}.attendees")
    zones = [p.time_zone for p in (*hosts, *attendees)]
    zone = options.timezone or next((z for z in map(iana_zone, zones) if z), None)
    if zone is None and not cancelled:
        raise PayloadError(
            "no IANA time zone on organizer or attendees", field=f"{prefix}.organizer.timeZone"
        )
    others = [(p.name, p.email) for p in attendees[1:]] + [(None, g) for g in guests]
    link = next((url for url in map(meeting_url, [*links, location]) if url), None)
    try:
        return BookingMessage(
            tenant=context.tenant,
            source=context.source,
            booking_id=uid,
            status=status,
            title=(title or "").strip()[:500] or None,
            start=start,
            end=end,
            timezone=zone,
            location=place(location, app_names=APP_NAMES) or phone or phone_call(location),
            meeting_url=link,
            customer=customer,
            attendees=people(others, exclude={customer.email or ""} if customer else set()),
            replaces=replaces,
            updated_at=updated_at,
        )
    except ValidationError as exc:
        raise payload_error(exc, prefix=prefix) from None


def _phone(booking: WebhookBooking) -> str | None:
    """The phone-call place from the booker's location choice: the number is the choice's
    ``optionValue``, else ``location``, else (the attendee's own) ``attendeePhoneNumber``."""
    responses = booking.responses if isinstance(booking.responses, dict) else {}
    answer = responses.get("location")
    choice = answer.get("value") if isinstance(answer, dict) else None
    kind = choice.get("value") if isinstance(choice, dict) else None
    caller = PHONE_CALLERS.get(kind) if isinstance(kind, str) else None
    if caller is None or not isinstance(choice, dict):
        return None
    numbers = [choice.get("optionValue"), booking.location]
    if caller == "host":
        entered = responses.get("attendeePhoneNumber")
        numbers.append(entered.get("value") if isinstance(entered, dict) else None)
    return next((found for found in (phone_call(n, caller=caller) for n in numbers) if found), None)


def options_of(context: ParseContext) -> Options:
    if isinstance(context.options, Options):
        return context.options
    return Options.model_validate(context.options or {})
