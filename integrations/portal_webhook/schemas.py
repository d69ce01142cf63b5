"""The JSON the portal webhook sends (``event.ended``), and its options.

The models are the contract a client's portal codes against (docs/handoff.md shows an
example); ``EventEnded.model_validate_json`` reads one back, as the portal stub does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class WebhookPortalOptions(BaseModel):
    """``[tenants.<id>.portal.options]`` for ``kind = "webhook"``."""

    model_config = ConfigDict(extra="forbid")

    include_attendees: bool = Field(
        True, description="send each attendee's name, email and status (else counts only)"
    )


class Attendee(BaseModel):
    name: str | None
    email: str | None
    status: str
    attended: bool | None
    checked_in_at: datetime | None


class AttendanceData(BaseModel):
    total: int
    attended: int
    no_show: int
    unmarked: int
    attendees: list[Attendee] = Field(default_factory=list)


class BookingRef(BaseModel):
    tenant: str
    source: str
    id: str
    reference: str


class EventRef(BaseModel):
    platform: str
    id: str
    starts_at: datetime | None
    ends_at: datetime
    timezone: str | None


class EventEndedData(BaseModel):
    delivery_id: str
    kind: Literal["album", "attendance"]
    album_url: str | None
    attendance: AttendanceData | None
    booking: BookingRef
    event: EventRef


class EventEnded(BaseModel):
    """``{"type": "event.ended", "timestamp": <event end>, "data": {...}}``."""

    type: Literal["event.ended"]
    timestamp: datetime
    data: EventEndedData
