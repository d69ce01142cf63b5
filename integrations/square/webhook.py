"""Verify and parse Square booking webhooks (deferred: booking, customer, service, location
are fetched in the worker).

Signature: ``x-square-hmacsha256-signature`` is the base64 HMAC-SHA256, keyed with the
subscription's signature key, of the notification URL followed by the raw body. The URL is the
one registered on the subscription, byte for byte (``options.notification_url``), not the one
the request reached through proxies. Square sends no signed timestamp, so there is no replay
window; ``event_id`` is the delivery key and replays are duplicates.

``booking.created`` and ``booking.updated`` carry the booking's status and version but not its
title, end or customer. A ``PENDING`` booking is not confirmed yet and is ignored until an
update says ``ACCEPTED``; cancellations arrive as updates (``CANCELLED_BY_*``, ``DECLINED``,
``NO_SHOW``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from pydantic import ValidationError

from integrations.booking import BookingMessage
from integrations.connector import ParseContext, WebhookRequest, check_base64_hmac
from integrations.errors import PayloadError
from integrations.mapping import load_json, payload_error
from integrations.square import client
from integrations.square.schemas import UNCONFIRMED, SquareEvent, SquareOptions

SIGNATURE = "x-square-hmacsha256-signature"
EVENTS = {"booking.created", "booking.updated"}


def verify(
    request: WebhookRequest,
    *,
    secrets: list[str],
    now: datetime,
    options: SquareOptions | None = None,
) -> None:
    """Raise SignatureError unless one of ``secrets`` (signature keys) signed URL + body."""
    url = options.notification_url if options is not None else request.url
    check_base64_hmac(
        request,
        header=SIGNATURE,
        secrets=secrets,
        key_name="signature key",
        digest=lambda secret: _digest(secret, url, request.body),
    )


def sign(secret: str, notification_url: str, body: bytes) -> str:
    """The ``x-square-hmacsha256-signature`` of a body (used by senders and tests)."""
    return base64.b64encode(_digest(secret, notification_url, body)).decode()


def _digest(secret: str, url: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), url.encode() + body, hashlib.sha256).digest()


def delivery_id(request: WebhookRequest) -> str | None:
    try:
        return _event(request.body).event_id
    except PayloadError:
        return None


def check(request: WebhookRequest, *, context: ParseContext) -> bool:
    """At the ingress: a booking event naming a booking that is not merely pending."""
    event = _event(request.body)
    if event.type not in EVENTS:
        return False
    if event.booking_id() is None:
        raise PayloadError("no booking id in the event", field="data.object.booking.id")
    booking = event.data.object.booking if event.data and event.data.object else None
    return booking is None or booking.status not in UNCONFIRMED


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """In the worker: the booking as Square describes it now (with customer, service, zone)."""
    event = _event(request.body)
    booking_id = event.booking_id()
    if event.type not in EVENTS or booking_id is None:
        return []
    message = client.square_booking(context, booking_id)
    return [message] if message is not None else []


def _event(body: bytes) -> SquareEvent:
    raw = load_json(body)
    try:
        return SquareEvent.model_validate(raw)
    except ValidationError as exc:
        raise payload_error(exc) from None
