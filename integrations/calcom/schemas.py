"""Cal.com payloads we read (webhooks and ``GET /v2/bookings``) and the tenant options.

Webhook body: ``{"triggerEvent", "createdAt", "payload": {…booking…}}``, times in UTC. Only
the fields bookwire uses are modelled; Cal.com's many others are ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field

from config.urls import BaseUrl
from integrations.booking import IanaZone


class Options(BaseModel):
    """Per-tenant settings of the ``calcom`` source.

    ``allow_unsigned`` accepts deliveries from a Cal.com webhook without a secret (Cal.com
    then sends ``X-Cal-Signature-256: no-secret-provided``). Off by default: anyone who learns
    the URL could then post bookings. ``api_base_url`` points the backfill at a self-hosted
    instance; ``timezone`` overrides the organizer's zone."""

    model_config = ConfigDict(extra="forbid")

    allow_unsigned: bool = False
    api_base_url: BaseUrl = "https://api.cal.com"
    timezone: IanaZone | None = None


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CalPerson(_Loose):
    """An organizer, host or attendee."""

    name: str | None = None
    email: str | None = None
    time_zone: str | None = Field(None, alias="timeZone")


class Envelope(_Loose):
    trigger_event: str = Field(alias="triggerEvent")
    created_at: AwareDatetime | None = Field(None, alias="createdAt")
    payload: dict[str, Any] | None = None


class WebhookBooking(_Loose):
    """``payload`` of the BOOKING_* triggers."""

    uid: str = Field(min_length=1, max_length=255)
    title: str | None = None
    event_title: str | None = Field(None, alias="eventTitle")
    start_time: AwareDatetime | None = Field(None, alias="startTime")
    end_time: AwareDatetime | None = Field(None, alias="endTime")
    organizer: CalPerson | None = None
    attendees: list[CalPerson] = Field(default_factory=list)
    location: str | None = None
    responses: Any = None  # the booking form's answers by field name (read leniently)
    metadata: dict[str, Any] | None = None
    video_call_data: dict[str, Any] | None = Field(None, alias="videoCallData")
    reschedule_uid: str | None = Field(None, alias="rescheduleUid")
    rescheduled: bool | None = None
    status: str | None = None


class ApiBooking(_Loose):
    """One item of ``GET /v2/bookings`` (``cal-api-version: 2024-08-13``)."""

    uid: str = Field(min_length=1, max_length=255)
    title: str | None = None
    status: str
    start: AwareDatetime
    end: AwareDatetime
    hosts: list[CalPerson] = Field(default_factory=list)
    attendees: list[CalPerson] = Field(default_factory=list)
    guests: list[str] = Field(default_factory=list)
    location: str | None = None
    meeting_url: str | None = Field(None, alias="meetingUrl")
    metadata: dict[str, Any] | None = None
    rescheduled_from_uid: str | None = Field(
        None, validation_alias=AliasChoices("rescheduledFromUid", "fromReschedule")
    )
    rescheduled_to_uid: str | None = Field(None, alias="rescheduledToUid")
    created_at: AwareDatetime | None = Field(None, alias="createdAt")
    updated_at: AwareDatetime | None = Field(None, alias="updatedAt")


class Pagination(_Loose):
    has_next_page: bool = Field(False, alias="hasNextPage")


class BookingPage(_Loose):
    status: str
    data: list[dict[str, Any]]
    pagination: Pagination = Field(default_factory=Pagination)
