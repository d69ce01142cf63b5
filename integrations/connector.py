"""What a connector (a system that calls us) looks like to the ingress.

Each ``integrations/<vendor>/webhook.py`` module provides:

- ``verify(request, *, secrets, now)``: pure, over the raw bytes; raises ``SignatureError``.
  Constant-time comparison, replay window where the vendor sends a timestamp, several secrets
  for rotation. An empty secret list never means "skip".
- ``parse(request, *, context) -> list[BookingMessage]``: raises ``PayloadError`` naming the
  field; returns ``[]`` for events we deliberately ignore. No vendor dict leaves the connector.
- ``delivery_id(request) -> str | None``: the vendor's id for this delivery (retries repeat it),
  or ``None`` to fall back to a hash of the body.
- ``Options``: a pydantic model of the connector's tenant options (validated at config load).

Vendors whose webhooks are thin (ids only: HubSpot, Acuity, Square) set ``DEFERRED = True`` and
provide ``check(request, *, context) -> bool``: a cheap shape check at the ingress (False =
irrelevant, answered 200 and recorded as ignored; ``PayloadError`` = quarantined). Their
``parse`` then runs in the worker, where ``context.http`` and ``context.credentials`` let it
fetch what the webhook lacks through ``integrations.http.call`` (transient errors retry).

Backfill (``bookwire backfill SOURCE TENANT --since DATE``): a connector whose vendor has a list
API provides ``backfill(context, *, since) -> Iterable[BookingMessage]`` in its ``client.py``
(registered in ``integrations.registry.BACKFILLS``). The messages go through the same intake as
webhooks, so overlapping a backfill with live deliveries creates nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict

from integrations.booking import BookingMessage
from integrations.errors import SignatureError


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


class NoOptions(BaseModel):
    """For connectors without tenant options."""

    model_config = ConfigDict(extra="forbid")


class Connector(Protocol):
    Options: type[BaseModel]

    def verify(self, request: WebhookRequest, *, secrets: list[str], now: datetime) -> None: ...

    def parse(self, request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]: ...

    def delivery_id(self, request: WebhookRequest) -> str | None: ...
