"""Guest-media client: one branded event per booking (QR sign, album), per
docs/guest-media-contract.md. A real provider speaking that contract needs only ``base_url`` and
``credentials.api_key`` in the tenants file.

- Create sends name, start/end instants, time zone, description, branding (logo, colours,
  custom domain, QR text) and our booking reference, with an ``Idempotency-Key``; past the 24 h
  window ``find_event`` finds the event by that reference.
- Update reads the event and patches only what differs (restoring it if it was cancelled).
- Cancel is ``PATCH {"status": "cancelled"}``, idempotent.
- ``fetch_deliverable`` is ready once the provider says ``ended`` and shows the album link.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from config.tenants import PlatformConfig
from integrations.branding import truncate
from integrations.guestmedia.schemas import EventEnvelope, EventList, GuestMediaOptions, MediaEvent
from integrations.http import call, credential, parse_body, refusing_create
from integrations.platform import (
    Deliverable,
    EventSpec,
    LinkedEvent,
    PlatformContext,
    PlatformEvent,
)
from integrations.ratelimit import SharedLimiter, host_scope

TARGET = "guestmedia"
QR_TEXT_MAX = 80
DESCRIPTION_MAX = 2000
PAGE_SIZE = 100  # the contract's largest page


class GuestMediaPlatform:
    slug: ClassVar[str] = "guestmedia"
    name_max: ClassVar[int] = 120
    keyed_creates: ClassVar[bool] = True
    Options = GuestMediaOptions

    def __init__(
        self, config: PlatformConfig, http: httpx.Client, *, context: PlatformContext | None = None
    ) -> None:
        api_key = credential(config.credentials, "api_key", owner="guestmedia platform")
        GuestMediaOptions.model_validate(config.options)
        self._base = config.base_url
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._http = http
        self._limiter = SharedLimiter(
            config.rate_limit,
            redis_url=context.redis_url if context else None,
            tenant=context.tenant if context else None,
            scope=host_scope(self.slug, config.base_url),
        )

    def create_event(self, spec: EventSpec, *, idempotency_key: str) -> LinkedEvent:
        body = create_body(spec)
        with refusing_create():
            response = self._call("POST", "/events", json=body, key=idempotency_key)
        event = parse_body(TARGET, EventEnvelope, response).event
        return LinkedEvent(event.id, replayed=response.headers.get("idempotent-replay") == "true")

    def update_event(self, linked: LinkedEvent, spec: EventSpec) -> LinkedEvent:
        current = self._get(linked.event_id)
        changes = _changes(current, event_fields(spec))
        if current.status == "cancelled":
            changes["status"] = "scheduled"
        if changes:
            self._call("PATCH", f"/events/{linked.event_id}", json=changes)
        return linked

    def cancel_event(self, linked: LinkedEvent) -> LinkedEvent:
        self._call("PATCH", f"/events/{linked.event_id}", json={"status": "cancelled"})
        return linked

    def find_event(self, reference: str) -> LinkedEvent | None:
        params = {"external_reference": reference}
        found = parse_body(TARGET, EventList, self._call("GET", "/events", params=params)).events
        return LinkedEvent(found[0].id) if found else None

    def fetch_deliverable(self, linked: LinkedEvent) -> Deliverable:
        event = self._get(linked.event_id)
        ready = event.status == "ended" and bool(event.album_url)
        return Deliverable(ready=ready, status=event.status, album_url=event.album_url)

    def list_events(self, *, since: datetime | None) -> Iterator[PlatformEvent]:
        """Every event of this key, for the reconciler: ``GET /events`` paged with ``limit`` and
        ``cursor`` (``next_cursor``); with ``since``, only events ending at or after it
        (``ends_after``)."""
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if since is not None:
            params["ends_after"] = since.astimezone(UTC).replace(microsecond=0).isoformat()
        while True:
            page = parse_body(TARGET, EventList, self._call("GET", "/events", params=params))
            for event in page.events:
                yield PlatformEvent(
                    event_id=event.id,
                    reference=event.external_reference,
                    name=event.name,
                    start=_instant(event.starts_at),
                    end=_instant(event.ends_at),
                    timezone=event.timezone,
                    location=None,  # the contract's events have no place
                    open=event.status in ("scheduled", "live"),
                )
            if not page.next_cursor:
                return
            params = {**params, "cursor": page.next_cursor}

    def _get(self, event_id: str) -> MediaEvent:
        return parse_body(TARGET, EventEnvelope, self._call("GET", f"/events/{event_id}")).event

    def _call(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        self._limiter.acquire()
        headers = {**self._headers, **({"Idempotency-Key": key} if key else {})}
        return call(self._http, TARGET, method, f"{self._base}{path}", headers=headers, **kwargs)


def create_body(spec: EventSpec) -> dict[str, Any]:
    """The ``POST /events`` body for ``spec``; pure (``bookwire preview`` shows it)."""
    return {**event_fields(spec), "external_reference": spec.reference}


def event_fields(spec: EventSpec) -> dict[str, Any]:
    """The contract's event fields for ``spec``: instants with offsets, brand as branding."""
    brand = spec.brand
    return {
        "name": spec.name,
        "description": truncate(spec.description, DESCRIPTION_MAX) if spec.description else None,
        "starts_at": spec.start.astimezone(UTC).replace(microsecond=0).isoformat(),
        "ends_at": spec.end.astimezone(UTC).replace(microsecond=0).isoformat(),
        "timezone": spec.timezone,
        "branding": {
            "logo_url": brand.logo_url,
            "primary_color": brand.primary_color,
            "secondary_color": brand.secondary_color,
            "custom_domain": brand.domain,
            "qr_text": truncate(spec.qr_text, QR_TEXT_MAX) if spec.qr_text else None,
        },
    }


def _changes(current: MediaEvent, wanted: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("name", "description", "timezone"):
        if getattr(current, name) != wanted[name]:
            changes[name] = wanted[name]
    for name in ("starts_at", "ends_at"):
        if _instant(getattr(current, name)) != _instant(wanted[name]):
            changes[name] = wanted[name]
    if current.branding.model_dump() != wanted["branding"]:
        changes["branding"] = wanted["branding"]  # null values clear what the brand dropped
    return changes


def _instant(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
