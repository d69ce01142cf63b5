"""Verify and parse Standard Webhooks deliveries from an agency's own app.

Signature: ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the
``webhook-id`` and ``webhook-timestamp`` headers, 5-minute tolerance, several secrets (and
several signatures) for rotation. The HMAC comes from the ``standardwebhooks`` package; this
module adds an injected clock and robust header parsing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime, timedelta

from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from integrations.booking import BookingMessage
from integrations.connector import ParseContext, WebhookRequest, signed_at
from integrations.errors import SignatureError
from integrations.generic.schemas import GenericBooking
from integrations.mapping import load_json, payload_error

TOLERANCE = timedelta(minutes=5)


def verify(
    request: WebhookRequest, *, secrets: list[str], now: datetime, options: object = None
) -> None:
    """Raise SignatureError unless one of ``secrets`` signed this exact request."""
    if not secrets:
        raise SignatureError("no signing secret configured")
    msg_id = request.headers.get("webhook-id", "")
    stamp = request.headers.get("webhook-timestamp", "")
    given = request.headers.get("webhook-signature", "")
    if not (msg_id and stamp and given):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    sent = signed_at(stamp, now=now, tolerance=TOLERANCE, header="webhook-timestamp")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8") from None
    candidates = _signatures(given)
    for secret in secrets:
        expected = base64.b64decode(sign(secret, msg_id, sent, text).split(",", 1)[1])
        if any(hmac.compare_digest(expected, candidate) for candidate in candidates):
            return
    raise SignatureError("no matching signature")


def sign(secret: str, msg_id: str, timestamp: datetime, body: str) -> str:
    """The ``v1,<base64>`` signature of a delivery (used by senders and tests)."""
    return Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)


def check_secret(secret: str) -> str | None:
    """Why ``secret`` cannot sign Standard Webhooks, or None when it can: ``whsec_`` and the
    strict base64 of 24 to 64 random bytes, as the specification asks (the library itself
    takes almost anything, ``hunter2`` included, and then no sender can match it)."""
    body = secret.removeprefix("whsec_")
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not secret.startswith("whsec_") or not 24 <= len(raw) <= 64:
        return "must be a Standard Webhooks secret: whsec_ and the base64 of 24-64 random bytes"
    return None


def delivery_id(request: WebhookRequest) -> str | None:
    return request.headers.get("webhook-id") or None


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """One booking per delivery; a body that fails validation names the field."""
    raw = load_json(request.body)
    try:
        body = GenericBooking.model_validate(raw)
        message = BookingMessage(
            tenant=context.tenant,
            source=context.source,
            **body.model_dump(),
        )
    except ValidationError as exc:
        raise payload_error(exc) from None
    return [message]


def _signatures(header: str) -> list[bytes]:
    found: list[bytes] = []
    for part in header.split():
        version, _, value = part.partition(",")
        if version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found
