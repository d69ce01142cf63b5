"""The portal webhook: POST ``event.ended`` JSON to the client's portal, signed.

Standard Webhooks headers: ``webhook-id`` (the delivery key: the same on every retry of this
booking's event end, so the portal can deduplicate), ``webhook-timestamp`` (now, per attempt)
and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the tenant's
``credentials.signing_secret``, a ``whsec_`` secret), plus ``Idempotency-Key`` (the same key).
The body is the same bytes on every attempt. Any 2xx is delivered; errors map as everywhere
(``integrations.http``): 5xx, 429 and timeouts retry, other 4xx fail for good, 401/403 are a
configuration problem.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from config.tenants import PortalConfig
from integrations.errors import ConfigurationError
from integrations.generic.webhook import check_secret, sign
from integrations.http import call
from integrations.portal import (
    PortalMessage,
    PortalReceipt,
    attendance,
    attendee_json,
)
from integrations.portal_webhook.schemas import WebhookPortalOptions

TARGET = "portal"
USER_AGENT = "bookwire-portal-webhook/1"


class WebhookPortal:
    slug: ClassVar[str] = "webhook"
    Options = WebhookPortalOptions

    def __init__(
        self,
        config: PortalConfig,
        http: httpx.Client,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        secret = config.credentials.get("signing_secret")
        if not config.url:
            raise ConfigurationError("webhook portal needs url")
        if secret is None:
            raise ConfigurationError("webhook portal needs credentials.signing_secret")
        problem = check_secret(secret.value.get_secret_value())
        if problem:
            raise ConfigurationError(f"webhook portal signing_secret {problem}")
        self._url = config.url
        self._secret = secret.value.get_secret_value()
        self._options = WebhookPortalOptions.model_validate(config.options)
        self._http = http
        self._clock = clock

    def deliver(self, message: PortalMessage) -> PortalReceipt:
        body = payload(message, include_attendees=self._options.include_attendees)
        now = self._clock()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message.key,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(self._secret, message.key, now, body),
            "idempotency-key": message.key,
        }
        call(self._http, TARGET, "POST", self._url, content=body.encode(), headers=headers)
        return PortalReceipt("delivered")


def payload(message: PortalMessage, *, include_attendees: bool = True) -> str:
    """The ``event.ended`` body: deterministic for a message, so every attempt sends the same
    bytes (only the timestamp header and signature change)."""
    deliverable = message.deliverable
    counts = attendance(deliverable)
    data: dict[str, Any] = {
        "delivery_id": message.key,
        "kind": message.kind,
        "album_url": deliverable.album_url,
        "attendance": None,
        "booking": {
            "tenant": message.tenant,
            "source": message.source,
            "id": message.booking_id,
            "reference": message.reference,
        },
        "event": {
            "platform": message.platform,
            "id": message.event_id,
            "starts_at": _iso(message.starts_at),
            "ends_at": _iso(message.ends_at),
            "timezone": message.timezone,
        },
    }
    if deliverable.attendees:
        data["attendance"] = {
            "total": counts.total,
            "attended": counts.attended,
            "no_show": counts.no_show,
            "unmarked": counts.unmarked,
            "attendees": [attendee_json(a) for a in deliverable.attendees]
            if include_attendees
            else [],
        }
    body = {"type": "event.ended", "timestamp": _iso(message.ends_at), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
