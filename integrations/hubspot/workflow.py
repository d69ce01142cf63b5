"""HubSpot workflow webhooks (the "Send a webhook" action): source ``hubspot-workflow``.

A workflow sends one JSON object per enrolled record: its properties (all of them, or a
custom body whose keys the action names), not the Webhooks API's array of events. The body
carries the booking itself, so it is parsed at the ingress; no API look-up is needed.

Authentication is whatever the action was set up with (HubSpot knowledge base, "Use webhooks
with HubSpot workflows"):

- ``signature`` ("Include request signature in header", with the app's id): HubSpot signs
  with the app's client secret. ``X-HubSpot-Signature-v3`` (HMAC-SHA256 of method + URI + body
  + ``X-HubSpot-Request-Timestamp``, within 5 minutes) is checked exactly as for the Webhooks
  API (``webhook.verify``). The older ``X-HubSpot-Signature`` with
  ``X-HubSpot-Signature-Version: v2`` (hex SHA-256 of client secret + method + URI + body; no
  timestamp, so no replay window) is accepted only when the tenant opts in.
- ``api_key``: the action sends a secret value under a name of the user's choosing, in a
  header or the query string; the tenant names it (``api_key_name``/``api_key_location``).

Reading the body: a key at the top level, or under ``properties`` (plain values, or HubSpot's
``{"value": …}`` objects of the legacy record JSON), or under ``object.properties``. The booking
id is ``booking_id_property`` (``hs_object_id``), else the record id HubSpot puts beside the
properties (``objectId``, ``dealId``, ``vid``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from integrations.booking import BookingMessage, BookingStatus, Person
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from integrations.hubspot import client, webhook
from integrations.hubspot.schemas import HubSpotWorkflowOptions
from integrations.mapping import build_message, load_json, meeting_url, person, place

SIGNATURE_V2 = "x-hubspot-signature"
VERSION = "x-hubspot-signature-version"
RECORD_IDS = ("objectId", "dealId", "vid", "id")
MAX_LENGTH = timedelta(days=7)
MODIFIED = ("hs_lastmodifieddate", "lastmodifieddate")  # deals, meetings … / contacts


def verify(
    request: WebhookRequest,
    *,
    secrets: list[str],
    now: datetime,
    options: HubSpotWorkflowOptions | None = None,
) -> None:
    """Raise SignatureError unless the request carries what the tenant's action sends."""
    if not secrets or not all(secrets):
        raise SignatureError("no secret configured")
    if options is not None and options.auth == "api_key":
        _api_key(request, secrets, options)
        return
    if webhook.SIGNATURE in request.headers or options is None or not options.accept_signature_v2:
        webhook.verify(request, secrets=secrets, now=now)
        return
    _signature_v2(request, secrets)


def sign_v2(secret: str, method: str, url: str, body: bytes) -> str:
    """The v2 ``X-HubSpot-Signature`` of a request (used by senders and tests)."""
    source = secret.encode() + method.upper().encode() + url.encode() + body
    return hashlib.sha256(source).hexdigest()


def delivery_id(request: WebhookRequest) -> str | None:
    """A hash of the body, plus the signature's timestamp when the body has no modification
    time: a workflow retry resends the same body, but a record changed back to an earlier
    state (A → B → A) without ``hs_lastmodifieddate`` in the body must not repeat a key."""
    try:
        values = properties(request.body)
    except PayloadError:
        return None
    digest = hashlib.sha256(request.body)
    if not any(values.get(name) for name in MODIFIED):
        digest.update(request.headers.get(webhook.TIMESTAMP, "").encode())
    return "workflow:" + digest.hexdigest()[:48]


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """The booking (or cancellation) the enrolled record describes."""
    options: HubSpotWorkflowOptions = context.options
    values = properties(request.body)
    booking_id = _booking_id(values, options)
    base: dict[str, Any] = {
        "tenant": context.tenant,
        "source": context.source,
        "booking_id": booking_id,
        "updated_at": _updated_at(values, options, request, context),
        "title": _cut(values.get(options.title_property or ""), 500),
    }
    status = values.get(options.status_property or "")
    if status is not None and status in options.cancelled_values:
        return [build_message(whole="(deal)", status=BookingStatus.cancelled, **base)]
    zone_name = values.get(options.timezone_property or "") or options.timezone
    zone = client._zone(zone_name, _field(options.timezone_property or "timezone"))
    start_name = options.start_property or ""
    start = client._instant(values.get(start_name), zone, _field(start_name)).astimezone(UTC)
    end = _end(values, options, zone, start)
    if not start < end <= start + MAX_LENGTH:
        raise PayloadError("the event must end after it starts, within 7 days", field="end")
    customer = _customer(values, options, base["title"], booking_id)
    base["title"] = base["title"] or customer.name  # a contact has no title of its own
    where = values.get(options.location_property or "")
    link = meeting_url(values.get(options.meeting_url_property or "")) or meeting_url(where)
    return [
        build_message(
            whole="(deal)",
            status=BookingStatus.confirmed,
            start=start,
            end=end,
            timezone=zone_name,
            location=place(where),
            meeting_url=link,
            customer=customer,
            client=_cut(values.get(options.client_property or ""), 120),
            **base,
        )
    ]


def properties(body: bytes) -> dict[str, str]:
    """Every property the body carries, as text (HubSpot's own format for property values)."""
    raw = load_json(body)
    if isinstance(raw, list):
        raise PayloadError(
            "a JSON array is a Webhooks API batch, not a workflow body: use the hubspot source",
            field="(body)",
        )
    if not isinstance(raw, dict):
        raise PayloadError("body is not a JSON object", field="(body)")
    found: dict[str, str] = {}
    nested = raw.get("object")
    layers = [raw, raw.get("properties")]
    if isinstance(nested, Mapping):
        layers += [nested, nested.get("properties")]
    for layer in layers:
        if not isinstance(layer, Mapping):
            continue
        for key, value in layer.items():
            text = _text(value.get("value") if isinstance(value, Mapping) else value)
            if text is not None and isinstance(key, str):
                found[key] = text
    return found


def _booking_id(values: Mapping[str, str], options: HubSpotWorkflowOptions) -> str:
    for name in (options.booking_id_property, *RECORD_IDS):
        value = values.get(name)
        if value is not None and len(value) <= 255:
            return value
    raise PayloadError("the body names no record id", field=_field(options.booking_id_property))


def _end(
    values: Mapping[str, str], options: HubSpotWorkflowOptions, zone: Any, start: datetime
) -> datetime:
    if options.end_property and values.get(options.end_property) is not None:
        end_name = options.end_property
        return client._instant(values.get(end_name), zone, _field(end_name)).astimezone(UTC)
    if options.duration_property and values.get(options.duration_property) is not None:
        try:
            minutes = float(values[options.duration_property])
        except ValueError:
            raise PayloadError(
                "duration is not a number of minutes", field=_field(options.duration_property)
            ) from None
        if not 0 < minutes <= MAX_LENGTH.total_seconds() / 60:
            raise PayloadError("must be a positive length", field=_field(options.duration_property))
        return start + timedelta(minutes=minutes)
    if options.default_duration_minutes:
        return start + timedelta(minutes=options.default_duration_minutes)
    missing = options.end_property or options.duration_property or "end"
    raise PayloadError("the body has no end or duration", field=_field(missing))


def _customer(
    values: Mapping[str, str],
    options: HubSpotWorkflowOptions,
    title: str | None,
    booking_id: str,
) -> Person:
    """The person the properties name; else the record's title, so a booking is never lost
    for want of a name."""
    name = " ".join(v for v in (values.get(p) for p in options.name_properties) if v)
    email = values.get(options.email_property or "")
    try:
        return person(name, email, field=_field(options.email_property or "name"))
    except PayloadError:
        return Person(name=(title or f"HubSpot {options.object_type} {booking_id}")[:300])


def _updated_at(
    values: Mapping[str, str],
    options: HubSpotWorkflowOptions,
    request: WebhookRequest,
    context: ParseContext,
) -> datetime:
    """The record's modification time, else when HubSpot signed the request, else now."""
    modified = values.get(options.modified_property)
    if modified is not None:
        return client._instant(modified, UTC, _field(options.modified_property))
    stamp = request.headers.get(webhook.TIMESTAMP, "")
    if stamp.isascii() and stamp.isdigit() and len(stamp) <= 15:
        return datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
    return context.now or datetime.now(UTC)


def _api_key(request: WebhookRequest, secrets: list[str], options: HubSpotWorkflowOptions) -> None:
    name = options.api_key_name
    if options.api_key_location == "header":
        given = request.headers.get(name.lower(), "")
    else:
        query = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        given = next((v for k, v in query if k == name), "")
    if not given:
        raise SignatureError(f"missing the API key ({options.api_key_location} {name})")
    matched = False
    for secret in secrets:  # no early exit: time does not depend on which key matched
        matched |= hmac.compare_digest(given.encode(), secret.encode())
    if not matched:
        raise SignatureError("wrong API key")


def _signature_v2(request: WebhookRequest, secrets: list[str]) -> None:
    given = request.headers.get(SIGNATURE_V2, "").strip().lower()
    if request.headers.get(VERSION, "").strip().lower() != "v2" or not given:
        raise SignatureError(f"missing {webhook.SIGNATURE} (or a v2 {SIGNATURE_V2})")
    for secret in secrets:
        expected = sign_v2(secret, request.method, request.url, request.body)
        if hmac.compare_digest(expected.encode(), given.encode()):
            return
    raise SignatureError("no matching signature")


def _text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    if isinstance(value, float | str):
        text = str(value).strip()
        return text or None
    return None


def _field(name: str) -> str:
    return f"properties.{name}"


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None
