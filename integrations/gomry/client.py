"""Gomry client: create, update and cancel the event of a booking.

Semantics that matter (seed 001, gomry.md):

- ``start.utc``/``end.utc`` on requests are *wall-clock* times in ``timezone`` (18:00
  America/New_York comes back as 22:00Z); we send naive local ``YYYY-MM-DDTHH:MM``.
- An ``https://`` location makes the event virtual; anything else is a physical address.
- ``Idempotency-Key`` (derived from the booking id) makes create retries replay for 24 h.
- There is no delete: cancelling closes registration and hides the event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from config.tenants import PlatformConfig
from integrations.errors import ConfigurationError, PermanentError
from integrations.gomry.schemas import EventEnvelope, GomryOptions
from integrations.http import call
from integrations.platform import CreatedEvent, EventSpec

TARGET = "gomry"


class GomryPlatform:
    slug: ClassVar[str] = "gomry"
    name_max: ClassVar[int] = 200
    Options = GomryOptions

    def __init__(self, config: PlatformConfig, http: httpx.Client) -> None:
        api_key = config.credentials.get("api_key")
        if api_key is None:
            raise ConfigurationError("gomry platform needs credentials.api_key")
        self._base = config.base_url
        self._headers = {"X-API-KEY": api_key.value.get_secret_value()}
        self._options = GomryOptions.model_validate(config.options)
        self._http = http

    def create_event(self, spec: EventSpec, *, idempotency_key: str) -> CreatedEvent:
        body = {**self._event_fields(spec), **self._defaults()}
        headers = {**self._headers, "Idempotency-Key": idempotency_key}
        response = call(
            self._http, TARGET, "POST", f"{self._base}/events", json=body, headers=headers
        )
        event = _event(response)
        return CreatedEvent(event.id, replayed=response.headers.get("idempotent-replay") == "true")

    def update_event(self, event_id: str, spec: EventSpec) -> None:
        body = {**self._event_fields(spec), "registration_status": "open"}
        if self._options.is_private is not None:
            body["is_private"] = self._options.is_private
        else:
            body["is_private"] = False
        call(
            self._http,
            TARGET,
            "PATCH",
            f"{self._base}/events/{event_id}",
            json=body,
            headers=self._headers,
        )

    def cancel_event(self, event_id: str) -> None:
        body = {"registration_status": "closed", "is_private": True}
        call(
            self._http,
            TARGET,
            "PATCH",
            f"{self._base}/events/{event_id}",
            json=body,
            headers=self._headers,
        )

    def _event_fields(self, spec: EventSpec) -> dict[str, Any]:
        location, description = self._location(spec)
        fields: dict[str, Any] = {
            "name": spec.name,
            "start": wall_clock(spec.start, spec.timezone),
            "end": wall_clock(spec.end, spec.timezone),
            "location": location,
        }
        if description:
            fields["description"] = description
        return fields

    def _location(self, spec: EventSpec) -> tuple[str, str | None]:
        """Gomry holds one location: a physical address wins, the meeting link moves into
        the description; a meeting link alone makes the event virtual."""
        description = spec.description
        if spec.location:
            if spec.meeting_url:
                joined = f"Join online: {spec.meeting_url}"
                description = f"{description}\n\n{joined}" if description else joined
            return spec.location, description
        if spec.meeting_url:
            return spec.meeting_url, description
        return self._options.default_location, description

    def _defaults(self) -> dict[str, Any]:
        return self._options.model_dump(exclude_none=True, exclude={"default_location"})


def wall_clock(instant: datetime, timezone: str) -> dict[str, str]:
    """Gomry's request time: the local wall-clock time of ``instant`` in ``timezone``."""
    local = instant.astimezone(ZoneInfo(timezone))
    return {"utc": local.strftime("%Y-%m-%dT%H:%M"), "timezone": timezone}


def _event(response: httpx.Response) -> Any:
    try:
        return EventEnvelope.model_validate_json(response.content).data
    except ValueError as exc:
        raise PermanentError(f"{TARGET}: unexpected response shape") from exc
