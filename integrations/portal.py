"""The small interface the worker calls on a tenant's portal once an event is over.

A portal is where the client sees the result of their event: their own portal (a signed
webhook), or the CRM deal the booking came from (HubSpot, Pipedrive). The registry maps the
tenant's ``portal.kind`` to a class implementing ``Portal``; the worker builds one
``PortalMessage`` per booking and event end and never speaks a portal's dialect itself.

``PortalMessage.key`` is stable per booking and event end: every portal passes it on where the
receiver can deduplicate (``webhook-id`` and ``Idempotency-Key`` for the webhook, a marker in
CRM notes), so an attempt repeated after an unknown outcome is recognisable as the same one.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import BaseModel

from config.tenants import PortalConfig
from integrations.platform import AttendeeRecord, Deliverable


@dataclass(frozen=True)
class PortalMessage:
    """What a portal receives: which booking and event, and what came of the event."""

    key: str  # delivery_key(...): the same for every attempt at this booking's event end
    tenant: str
    source: str
    booking_id: str  # the source's id (a HubSpot or Pipedrive deal id for those sources)
    reference: str  # booking_reference(...): the opaque id the platform event carries
    platform: str
    event_id: str
    starts_at: datetime | None
    ends_at: datetime
    timezone: str | None
    deliverable: Deliverable

    @property
    def kind(self) -> str:
        """``album`` when there is an album link, else ``attendance``."""
        return "album" if self.deliverable.album_url else "attendance"


@dataclass(frozen=True)
class PortalReceipt:
    """What the portal did: ``delivered``, or ``skipped`` with the reason (nothing to send)."""

    outcome: Literal["delivered", "skipped"]
    reason: str | None = None


class Portal(Protocol):
    """Hand an event's deliverable to the tenant's portal. Idempotent per ``message.key``."""

    slug: ClassVar[str]

    def deliver(self, message: PortalMessage) -> PortalReceipt: ...


class PortalFactory(Protocol):
    """A portal class as the registry holds it: its options model, and how to build one."""

    @property
    def slug(self) -> str: ...
    @property
    def Options(self) -> type[BaseModel]: ...

    def __call__(self, config: PortalConfig, http: httpx.Client) -> Portal: ...


def delivery_key(booking_key: str, ends_at: datetime) -> str:
    """The id of the delivery of ``booking_key``'s event ending at ``ends_at``: the same on
    every attempt, a new one when a reschedule gives the event a new end."""
    instant = ends_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(f"{booking_key}|{instant}".encode()).hexdigest()[:32]
    return f"bwd_{digest}"


@dataclass(frozen=True)
class Attendance:
    """Counts over a deliverable's attendees (what a CRM field or note can hold)."""

    total: int
    attended: int
    no_show: int

    @property
    def unmarked(self) -> int:
        return self.total - self.attended - self.no_show

    def line(self) -> str:
        text = f"{self.attended} of {self.total} attended"
        return text + (f", {self.no_show} no-show" if self.no_show else "")


def attendance(deliverable: Deliverable) -> Attendance:
    people = deliverable.attendees
    return Attendance(
        total=len(people),
        attended=sum(1 for a in people if a.attended is True),
        no_show=sum(1 for a in people if a.attended is False),
    )


def summary(deliverable: Deliverable) -> dict[str, Any]:
    """What was handed over, without people: stored on the delivery and shown by status."""
    counts = attendance(deliverable)
    return {
        "kind": "album" if deliverable.album_url else "attendance",
        "album_url": deliverable.album_url,
        "attendees": counts.total,
        "attended": counts.attended,
    }


def attendee_json(record: AttendeeRecord) -> dict[str, Any]:
    """One attendee as the portal webhook sends it."""
    return {
        "name": record.name,
        "email": record.email,
        "status": record.status,
        "attended": record.attended,
        "checked_in_at": _iso(record.checked_in_at) if record.checked_in_at else None,
    }


def note_html(message: PortalMessage) -> str:
    """The note a CRM portal adds to the deal (both take HTML): the album link or attendance,
    and the delivery key, so a note repeated after a lost answer is recognisable."""
    deliverable = message.deliverable
    lines = ["Event ended."]
    if deliverable.album_url:
        url = html.escape(deliverable.album_url)
        lines.append(f'Album: <a href="{url}">{url}</a>')
    if deliverable.attendees:
        lines.append(f"Attendance: {html.escape(attendance(deliverable).line())}")
    lines.append(f"(bookwire delivery {message.key})")
    return "<br>".join(lines)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
