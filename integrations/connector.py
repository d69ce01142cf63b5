"""What a connector (a system that calls us) declares to the ingress: one ``Source`` record.

Each ``integrations/<vendor>/__init__.py`` declares ``SOURCE = Source(...)`` from its
``webhook.py`` (and ``client.py``), naming:

- ``verify(request, *, secrets, now, options)``: pure, over the raw bytes; raises
  ``SignatureError``. Constant-time comparison, replay window where the vendor sends a
  timestamp, several secrets for rotation. An empty secret list never means "skip". Every
  connector takes the tenant's ``options`` (Square's signed URL, Cal.com's ``allow_unsigned``,
  a HubSpot workflow's auth); most ignore them.
- ``parse(request, *, context) -> list[BookingMessage]``: raises ``PayloadError`` naming the
  field; returns ``[]`` for events we deliberately ignore. No vendor dict leaves the connector.
- ``delivery_id(request) -> str | None``: the vendor's id for this delivery (retries repeat it),
  or ``None`` to fall back to a hash of the body.
- ``options``: a pydantic model of the connector's tenant options (validated at config load).

Vendors whose webhooks are thin (ids only: HubSpot, Acuity, Square, Pipedrive) declare a
``check(request, *, context) -> bool`` (and so are ``deferred``): a cheap shape check at the
ingress (False = irrelevant, answered 200 and recorded as ignored; ``PayloadError`` =
quarantined). Their ``parse`` then runs in the worker, where ``context.http`` and
``context.credentials`` let it fetch what the webhook lacks through ``integrations.http.call``
(transient errors retry).

Backfill (``bookwire backfill SOURCE TENANT --since DATE``): a connector whose vendor has a list
API declares ``backfill(context, *, since) -> Iterable[BookingMessage]`` (in its ``client.py``).
The messages go through the same intake as webhooks, so overlapping a backfill with live
deliveries creates nothing twice.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict

from integrations.booking import BookingMessage
from integrations.errors import SignatureError

if TYPE_CHECKING:  # subscriptions imports ParseContext from here
    from integrations.subscriptions import Subscription


@dataclass(frozen=True)
class WebhookRequest:
    """A delivery exactly as it arrived: the signature covers these bytes."""

    method: str
    url: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True)
class ParseContext:
    """What a connector may know beyond the request: whose it is and how to look things up."""

    tenant: str
    source: str
    options: Any = None
    credentials: Mapping[str, str] = field(default_factory=dict)
    http: httpx.Client | None = None
    now: datetime | None = None


def signed_at(
    stamp: str, *, now: datetime, tolerance: timedelta, header: str, per_second: int = 1
) -> datetime:
    """The instant a signature's unix timestamp names, if it is within ``tolerance`` of ``now``.

    Every connector whose vendor signs a timestamp checks its replay window here, so a stamp
    no clock can hold (non-numeric, negative, year 10000, thousands of digits) is a
    SignatureError (401) like a stale one, never a crash before the signature is checked.
    ``per_second`` is 1000 for vendors that send milliseconds."""
    text = stamp.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise SignatureError(f"{header} is not a unix time")
    seconds = int(text) / per_second
    if abs(now.timestamp() - seconds) > tolerance.total_seconds():
        minutes = round(tolerance.total_seconds() / 60)
        raise SignatureError(f"{header} outside the {minutes}-minute tolerance")
    return datetime.fromtimestamp(seconds, tz=UTC)  # near now: always representable


def check_base64_hmac(
    request: WebhookRequest,
    *,
    header: str,
    secrets: list[str],
    key_name: str,
    digest: Callable[[str], bytes],
) -> None:
    """Raise SignatureError unless ``header`` carries the base64 of ``digest(secret)`` for one
    of ``secrets`` (Acuity, Square). Constant-time; no secret never means "skip"."""
    if not secrets:
        raise SignatureError(f"no {key_name} configured")
    given = request.headers.get(header, "")
    if not given:
        raise SignatureError(f"missing {header}")
    try:
        candidate = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"malformed {header}") from None
    for secret in secrets:
        if hmac.compare_digest(digest(secret), candidate):
            return
    raise SignatureError("no matching signature")


class NoOptions(BaseModel):
    """For connectors without tenant options."""

    model_config = ConfigDict(extra="forbid")


class Verify(Protocol):
    def __call__(
        self, request: WebhookRequest, *, secrets: list[str], now: datetime, options: Any
    ) -> None: ...


class Parse(Protocol):
    def __call__(
        self, request: WebhookRequest, *, context: ParseContext
    ) -> list[BookingMessage]: ...


class Check(Protocol):
    def __call__(self, request: WebhookRequest, *, context: ParseContext) -> bool: ...


class Backfill(Protocol):
    def __call__(
        self, context: ParseContext, *, since: date | datetime
    ) -> Iterable[BookingMessage]: ...


@dataclass(frozen=True)
class Source:
    """Everything the ingress, the worker and the config check know about one connector."""

    slug: str
    verify: Verify
    parse: Parse
    delivery_id: Callable[[WebhookRequest], str | None]
    options: type[BaseModel] = NoOptions
    check: Check | None = None  # thin webhooks: shape-checked here, parsed in the worker
    # 202 for vendors that switch a subscription off after failed deliveries (the delivery is
    # stored and replayable either way, so acknowledging it loses nothing)
    quarantine_status: int = 422
    backfill: Backfill | None = None
    check_secret: Callable[[str], str | None] | None = None  # a reason the secret is unusable
    # the messages' updated_at is when bookwire read the booking (the vendor keeps none)
    observed_updated_at: bool = False
    # the webhook subscriptions the tenant's API token can see (source health), where the
    # vendor has an API for it
    subscriptions: Callable[[ParseContext], list[Subscription]] | None = None

    @property
    def deferred(self) -> bool:
        """Parsed in the worker (with API look-ups) rather than at the ingress."""
        return self.check is not None
