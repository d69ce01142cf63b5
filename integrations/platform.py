"""The small interface the worker calls on every event platform.

A platform module (``integrations/<slug>/client.py``) implements ``Platform``; the registry maps
the tenant's ``platform.kind`` to it. The worker builds one ``EventSpec`` per booking version and
never speaks a platform's dialect itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

import httpx

from config.tenants import BrandConfig, PlatformConfig
from integrations.booking import BookingMessage, Person, booking_reference
from integrations.branding import render


@dataclass(frozen=True)
class EventSpec:
    """Everything a platform needs to create or update the event for one booking."""

    reference: str
    name: str
    description: str | None
    start: datetime
    end: datetime
    timezone: str
    location: str | None
    meeting_url: str | None
    customer: Person | None
    attendees: tuple[Person, ...]
    brand: BrandConfig


@dataclass(frozen=True)
class CreatedEvent:
    event_id: str
    replayed: bool = False


class Platform(Protocol):
    """Create, update and cancel the one event that belongs to a booking."""

    slug: ClassVar[str]
    name_max: ClassVar[int]

    def create_event(self, spec: EventSpec, *, idempotency_key: str) -> CreatedEvent: ...

    def update_event(self, event_id: str, spec: EventSpec) -> None: ...

    def cancel_event(self, event_id: str) -> None: ...


class PlatformFactory(Protocol):
    def __call__(self, config: PlatformConfig, http: httpx.Client) -> Platform: ...


def event_spec(booking: BookingMessage, brand: BrandConfig, *, name_max: int) -> EventSpec:
    """The event a (non-cancelled) booking should have, branded and within platform limits."""
    assert booking.start and booking.end and booking.timezone, "cancelled bookings have no spec"
    description = (
        render(brand.description_template, booking) if brand.description_template else None
    )
    return EventSpec(
        reference=booking_reference(booking.key),
        name=render(brand.name_template, booking, limit=name_max) or booking.booking_id,
        description=description,
        start=booking.start,
        end=booking.end,
        timezone=booking.timezone,
        location=booking.location,
        meeting_url=booking.meeting_url,
        customer=booking.customer,
        attendees=tuple(booking.attendees),
        brand=brand,
    )
