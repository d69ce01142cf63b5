"""The canonical booking message, defined once for connectors and the worker alike.

A connector turns a vendor delivery into ``BookingMessage``s; the worker turns the latest one of
each booking into an event. Times are aware instants (normalised to UTC) plus the IANA zone the
booking lives in, so wall-clock rendering is always possible and never guessed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)


def check_zone(value: str | None) -> str | None:
    """Validator for a field holding an IANA zone name: exactly as written (no padding), so
    whatever reads the field later can build its ``ZoneInfo``."""
    if value is not None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown IANA time zone") from None
    return value


IanaZone = Annotated[str, AfterValidator(check_zone)]


class BookingStatus(StrEnum):
    confirmed = "confirmed"
    rescheduled = "rescheduled"
    cancelled = "cancelled"


class Person(BaseModel):
    """A customer or attendee."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    email: str | None = Field(None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")


class BookingMessage(BaseModel):
    """One booking, as the source last described it.

    ``booking_id`` is the source's stable id; with ``tenant`` and ``source`` it forms the
    idempotency key of everything bookwire does for the booking. ``updated_at`` orders deliveries:
    an older one than the booking already has is stale and skipped. A cancellation may omit the
    event details; every other status must carry them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = Field(min_length=1, max_length=63)
    source: str = Field(min_length=1, max_length=63)
    booking_id: str = Field(min_length=1, max_length=255)
    status: BookingStatus
    title: str | None = Field(None, min_length=1, max_length=500)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    timezone: IanaZone | None = None
    location: str | None = Field(None, max_length=1000)
    meeting_url: str | None = Field(None, max_length=2000, pattern=r"^https://\S+$")
    customer: Person | None = None
    attendees: list[Person] = Field(default_factory=list, max_length=500)
    client: str | None = Field(None, max_length=120, description="Agency's client key.")
    replaces: str | None = Field(
        None,
        max_length=255,
        description="The source's id of the booking this one replaces "
        "(vendors that issue a new id on reschedule); both then name one booking.",
    )
    updated_at: AwareDatetime
    delivery_id: int | None = None

    @field_validator("start", "end", "updated_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _complete_unless_cancelled(self) -> Self:
        if self.status is not BookingStatus.cancelled:
            for name in ("title", "start", "end", "timezone", "customer"):
                if getattr(self, name) is None:
                    raise ValueError(f"{name} is required for a {self.status} booking")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    @property
    def key(self) -> str:
        """The booking's identity across bookwire: tenant, source and the source's id."""
        return booking_key(self.tenant, self.source, self.booking_id)


def booking_key(tenant: str, source: str, booking_id: str) -> str:
    return f"{tenant}:{source}:{booking_id}"


def booking_reference(key: str) -> str:
    """A short opaque reference for outside systems (idempotency keys, event markers)."""
    return "bw-" + hashlib.sha256(key.encode()).hexdigest()[:32]
