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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from integrations.booking import BookingMessage


@dataclass(frozen=True)
class WebhookRequest:
    """A delivery exactly as it arrived: the signature covers these bytes."""

    method: str
    url: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True)
class ParseContext:
    tenant: str
    source: str
    options: Any = None
    delivery_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class NoOptions(BaseModel):
    """For connectors without tenant options."""

    model_config = ConfigDict(extra="forbid")


class Connector(Protocol):
    Options: type[BaseModel]

    def verify(self, request: WebhookRequest, *, secrets: list[str], now: datetime) -> None: ...

    def parse(self, request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]: ...

    def delivery_id(self, request: WebhookRequest) -> str | None: ...
