"""Verify and parse HubSpot webhook deliveries (deferred: the deal is fetched in the worker).

Signature v3 (``X-HubSpot-Signature-v3``): base64 HMAC-SHA256, keyed with the app's client
secret, of ``method + URI + body + X-HubSpot-Request-Timestamp``. The timestamp is in
milliseconds and must be within 5 minutes of now. The URI is the full public URL HubSpot
called, with these percent-encodings decoded first (HubSpot's rule; nothing else is decoded):
``%3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;``.

A delivery is a JSON array of thin events, batched, unordered and possibly repeated. The ingress
only checks the shape and whether any event concerns a deal property bookwire watches; the
worker then fetches each deal once. The fetched deal is the truth, ordered by its
``updatedAt``, so the order and repetition of events does not matter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from integrations.booking import BookingMessage, BookingStatus
from integrations.connector import ParseContext, WebhookRequest, signed_at
from integrations.errors import PayloadError, SignatureError
from integrations.hubspot import client
from integrations.hubspot.schemas import DEAL_OBJECT_TYPE, HubSpotEvent, HubSpotOptions
from integrations.mapping import load_json, payload_error

TOLERANCE = timedelta(minutes=5)
SIGNATURE = "x-hubspot-signature-v3"
TIMESTAMP = "x-hubspot-request-timestamp"
DECODED = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
_EVENTS = TypeAdapter(list[HubSpotEvent])
LAST_MS = 253402300799999  # 9999-12-31T23:59:59.999Z, the last instant a datetime holds


def verify(
    request: WebhookRequest, *, secrets: list[str], now: datetime, options: object = None
) -> None:
    """Raise SignatureError unless one of ``secrets`` (client secrets) signed this request."""
    if not secrets:
        raise SignatureError("no client secret configured")
    given = request.headers.get(SIGNATURE, "")
    stamp = request.headers.get(TIMESTAMP, "")
    if not (given and stamp):
        raise SignatureError(f"missing {SIGNATURE} or {TIMESTAMP}")
    try:
        candidate = base64.b64decode(given, validate=True)
    except (ValueError, binascii.Error):
        raise SignatureError(f"malformed {SIGNATURE}") from None
    signed_at(stamp, now=now, tolerance=TOLERANCE, header=TIMESTAMP, per_second=1000)
    for secret in secrets:
        expected = _digest(secret, request.method, request.url, request.body, stamp)
        if hmac.compare_digest(expected, candidate):
            return
    raise SignatureError("no matching signature")


def sign(secret: str, method: str, url: str, body: bytes, timestamp_ms: int) -> str:
    """The ``X-HubSpot-Signature-v3`` value of a request (used by senders and tests)."""
    return base64.b64encode(_digest(secret, method, url, body, str(timestamp_ms))).decode()


def canonical_uri(url: str) -> str:
    """The URI as HubSpot signs it: only the listed percent-encodings decoded."""
    return DECODED.sub(lambda m: chr(int(m.group(1), 16)), url)


def _digest(secret: str, method: str, url: str, body: bytes, stamp: str) -> bytes:
    source = method.upper().encode() + canonical_uri(url).encode() + body + stamp.encode()
    return hmac.new(secret.encode(), source, hashlib.sha256).digest()


def delivery_id(request: WebhookRequest) -> str | None:
    """The batch's events, each by everything that identifies it but ``attemptNumber``.

    HubSpot's retries resend the same events with a new ``attemptNumber`` (so a hash of the
    body would not repeat), and ``eventId`` alone is not guaranteed unique: two batches that
    share event ids but differ in object, subscription, time or value are different."""
    try:
        events = _events(request.body)
    except PayloadError:
        return None
    identities = sorted({repr(e.identity()) for e in events})
    if not identities:
        return None
    return "events:" + hashlib.sha256("\n".join(identities).encode()).hexdigest()[:48]


def check(request: WebhookRequest, *, context: ParseContext) -> bool:
    """At the ingress: a well-formed batch with at least one event about a watched deal."""
    options: HubSpotOptions = context.options
    return any(_relevant(event, options) for event in _events(request.body))


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """In the worker: fetch each deal the batch mentions once and describe it.

    A deal whose latest event is a deletion is cancelled without a look-up. A deal that no
    longer exists otherwise is skipped (its deletion event cancels it). Deals outside the
    booked and cancelled stages yield nothing.
    """
    options: HubSpotOptions = context.options
    latest: dict[int, HubSpotEvent] = {}
    for event in _events(request.body):
        if not _relevant(event, options):
            continue
        seen = latest.get(event.objectId)
        if seen is None or (event.occurredAt, event.eventId) > (seen.occurredAt, seen.eventId):
            latest[event.objectId] = event
    messages: list[BookingMessage] = []
    for event in sorted(latest.values(), key=lambda e: (e.occurredAt, e.eventId)):
        if _action(event) == "deletion":
            messages.append(
                BookingMessage(
                    tenant=context.tenant,
                    source=context.source,
                    booking_id=str(event.objectId),
                    status=BookingStatus.cancelled,
                    updated_at=datetime.fromtimestamp(event.occurredAt / 1000, tz=UTC),
                )
            )
            continue
        message = client.deal_booking(context, str(event.objectId))
        if message is not None:
            messages.append(message)
    return messages


def _events(body: bytes) -> list[HubSpotEvent]:
    raw = load_json(body)
    if not isinstance(raw, list):
        raise PayloadError(
            "expected a JSON array of events (a workflow webhook's body goes to the"
            " hubspot-workflow source)",
            field="(body)",
        )
    try:
        events = _EVENTS.validate_python(raw)
    except ValidationError as exc:
        raise payload_error(exc) from None
    for index, event in enumerate(events):
        if not 0 <= event.occurredAt <= LAST_MS:
            raise PayloadError("not a time in epoch milliseconds", field=f"{index}.occurredAt")
    return events


def _action(event: HubSpotEvent) -> str | None:
    """``creation``/``deletion``/``restore``/``propertyChange`` for deal events, else None."""
    kind, _, action = event.subscriptionType.partition(".")
    if kind == "deal" or (kind == "object" and event.objectTypeId == DEAL_OBJECT_TYPE):
        return action
    return None


def _relevant(event: HubSpotEvent, options: HubSpotOptions) -> bool:
    action = _action(event)
    if action in ("creation", "deletion", "restore"):
        return True
    if action != "propertyChange" or event.propertyName not in options.watched_properties():
        return False
    # a move into a stage bookwire does not act on needs no look-up (the worker would
    # fetch the deal only to find it in that stage)
    return event.propertyName != "dealstage" or event.propertyValue in options.all_stages()
