"""The small interface the worker calls on every event platform.

A platform module (``integrations/<slug>/client.py``) implements ``Platform``; the registry maps
the tenant's ``platform.kind`` to it. The worker builds one ``EventSpec`` per booking version and
never speaks a platform's dialect itself.

What "the booking's event" is depends on the platform, so the worker only ever holds a
``LinkedEvent``: the platform's event id plus ``details``, an opaque JSON-able dict the platform
gives back after every call and receives again next time (stored on ``event_links.details``).

- Event platforms (Gomry, guest media) create one event per booking; ``details`` holds what they
  add to it (Gomry: the customer's attendee ticket).
- Guest-list platforms (Gatsby) place the booking's people on an event someone else runs: create
  and update *add* the booking's people (and drop those no longer on it), cancel declines or
  removes them, and ``details`` keeps their platform ids. A reschedule may move them to another
  event, so ``update_event`` may return a different ``event_id``.

Every method is idempotent: calling it again after an unknown outcome (timeout, dropped
connection) converges on the same state, never a second event or guest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel

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
    qr_text: str | None = None
    booking: BookingMessage | None = None  # for platform rules over booking fields (Gatsby)

    @property
    def people(self) -> tuple[Person, ...]:
        """Customer and attendees, each email once (case-insensitive); people without email
        cannot be matched again later, so guest lists skip them."""
        seen: set[str] = set()
        people: list[Person] = []
        for person in (self.customer, *self.attendees):
            if person is None or not person.email:
                continue
            email = person.email.lower()
            if email not in seen:
                seen.add(email)
                people.append(person)
        return tuple(people)


@dataclass(frozen=True)
class LinkedEvent:
    """Where a booking lives on its platform: the event id and the platform's own ``details``."""

    event_id: str
    details: Mapping[str, Any] = field(default_factory=dict)
    replayed: bool = False  # the platform replayed an earlier create (idempotency key)


@dataclass(frozen=True)
class AttendeeRecord:
    """One person's attendance as the platform reports it after the event."""

    name: str | None
    email: str | None
    status: str  # the platform's own word: checked_in, Attended, No Show, valid …
    attended: bool | None  # True checked in / attended, False no-show, None not marked
    checked_in_at: datetime | None = None


@dataclass(frozen=True)
class Deliverable:
    """What the platform has for the client once the event is over.

    ``ready`` is False while the platform is still producing it (a guest-media album before the
    event ended): ask again later rather than deliver something incomplete.
    """

    ready: bool
    status: str
    album_url: str | None = None
    attendees: tuple[AttendeeRecord, ...] = ()


@dataclass(frozen=True)
class PlatformEvent:
    """One event as the platform holds it, read back for ``bookwire reconcile``.

    ``reference`` is our booking reference when the event carries one (Gomry: the description's
    reference line; guest media: ``external_reference``), else ``None``. ``open`` is True while
    the event is live for guests (not cancelled, closed or hidden). Fields the platform does not
    hold are ``None``. Guest-list platforms (Gatsby) run events that are not ours: ``guests``
    maps each guest's platform id to whether the guest is still going (invited or accepted), so
    the reconciler can look for the booking's people (``LinkedEvent.details``) on it; event
    platforms leave it ``None``.
    """

    event_id: str
    reference: str | None
    name: str | None
    start: datetime | None
    end: datetime | None
    timezone: str | None
    location: str | None
    open: bool
    guests: Mapping[str, bool] | None = None


@dataclass(frozen=True)
class PlatformContext:
    """What a platform client may share with other processes: the Redis that holds the shared
    rate-limit budget (``None``: an in-process budget, for tests and one-off tools), and the
    tenant the client serves (each tenant waits for a spent budget on a line of its own)."""

    redis_url: str | None = None
    tenant: str | None = None


class Platform(Protocol):
    """Create, update and cancel the booking's presence on its platform, and read it back."""

    slug: ClassVar[str]
    name_max: ClassVar[int]
    # True: a create is made safe to repeat by its Idempotency-Key (for 24 h), and after that by
    # ``find_event``. False: a create is repeatable at any time by itself (Gatsby's guest list).
    keyed_creates: ClassVar[bool]

    def create_event(self, spec: EventSpec, *, idempotency_key: str) -> LinkedEvent:
        """First sync of a booking: create its event (guest lists: add its people)."""
        ...

    def update_event(self, linked: LinkedEvent, spec: EventSpec) -> LinkedEvent:
        """Bring the linked event to ``spec`` (also re-opens a cancelled one)."""
        ...

    def cancel_event(self, linked: LinkedEvent) -> LinkedEvent:
        """Cancel as the platform allows (Gomry: close and hide; Gatsby: decline/remove)."""
        ...

    def find_event(self, reference: str) -> LinkedEvent | None:
        """The event created for ``reference`` (``EventSpec.reference``), if any: for creates
        whose outcome is unknown after the platform's idempotency window has passed."""
        ...

    def fetch_deliverable(self, linked: LinkedEvent) -> Deliverable:
        """Album link, attendance or check-ins, once the event is over."""
        ...

    def list_events(self, *, since: datetime | None) -> Iterator[PlatformEvent]:
        """Every event the platform holds for this tenant's credentials, page by page as the
        platform documents it; with ``since``, events that ended before it may be left out.
        Read-only: the reconciler compares them with what every booking should have."""
        ...


class PlatformFactory(Protocol):
    """A platform class as the registry holds it: what it declares, and how to build one."""

    @property
    def slug(self) -> str: ...
    @property
    def name_max(self) -> int: ...
    @property
    def keyed_creates(self) -> bool: ...
    @property
    def Options(self) -> type[BaseModel]: ...

    def __call__(
        self, config: PlatformConfig, http: httpx.Client, *, context: PlatformContext | None = None
    ) -> Platform: ...


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
        qr_text=render(brand.qr_text, booking) if brand.qr_text else None,
        booking=booking,
    )


def split_name(person: Person) -> tuple[str, str]:
    """First and last name for platforms that want both: the last word is the last name."""
    first, _, last = person.name.strip().rpartition(" ")
    return (first, last) if first else (last, "")
