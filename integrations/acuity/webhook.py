"""Verify and parse Acuity Scheduling webhooks (deferred: the appointment is fetched).

Signature: ``X-Acuity-Signature`` is the base64 HMAC-SHA256 of the raw body, keyed with the
account's API key. Acuity sends no timestamp and no delivery id, so there is no replay window;
that is safe here because the body is never trusted for content: a replayed webhook can only
make the worker read the appointment's current state again.

Bodies are ``application/x-www-form-urlencoded``: ``action`` (``scheduled``, ``rescheduled``,
``canceled``, ``changed``, or the ``appointment.``-prefixed names of dynamic webhooks), ``id``,
``calendarID``, ``appointmentTypeID``. Two reschedules of one appointment send byte-identical
bodies, so a body hash must not be the delivery key (the second change would be swallowed as
a duplicate): every arrival gets its own key, and repeats cost one idempotent look-up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from urllib.parse import parse_qs

from pydantic import ValidationError

from integrations.acuity import client
from integrations.acuity.schemas import ACTIONS, Notification
from integrations.booking import BookingMessage
from integrations.connector import ParseContext, WebhookRequest, check_base64_hmac
from integrations.errors import PayloadError

SIGNATURE = "x-acuity-signature"


def verify(
    request: WebhookRequest, *, secrets: list[str], now: datetime, options: object = None
) -> None:
    """Raise SignatureError unless one of ``secrets`` (API keys) signed this exact body."""
    check_base64_hmac(
        request,
        header=SIGNATURE,
        secrets=secrets,
        key_name="API key",
        digest=lambda secret: _digest(secret, request.body),
    )


def sign(secret: str, body: bytes) -> str:
    """The ``X-Acuity-Signature`` of a body (used by senders and tests)."""
    return base64.b64encode(_digest(secret, body)).decode()


def _digest(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), body, hashlib.sha256).digest()


def delivery_id(request: WebhookRequest) -> str | None:
    """A key per arrival (see the module docstring for why not a body hash)."""
    return f"arrival:{uuid.uuid4().hex}"


def check(request: WebhookRequest, *, context: ParseContext) -> bool:
    """At the ingress: a well-formed notification about an appointment."""
    return _notification(request.body).verb in ACTIONS


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """In the worker: the appointment as Acuity describes it now."""
    notification = _notification(request.body)
    if notification.verb not in ACTIONS:
        return []
    return [client.appointment_booking(context, notification.id)]


def _notification(body: bytes) -> Notification:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8") from None
    fields = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    try:
        return Notification.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PayloadError(first["msg"], field=".".join(map(str, first["loc"]))) from None
