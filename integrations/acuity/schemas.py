"""Acuity Scheduling payloads (form-encoded webhooks, API v1 appointments) and tenant options.

Traps in the appointment object: ``datetime`` carries an offset without a colon
(``2026-07-15T18:00:00-0400``); ``time``/``endTime`` are human strings (``6:00pm``) in the
client's zone, not timestamps; ``duration`` is a string of minutes; ``timezone`` is the
*client's* zone while ``calendarTimezone`` is the business calendar's.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from config.urls import BaseUrl
from integrations.booking import IanaZone

ACTIONS = {"scheduled", "rescheduled", "canceled", "changed"}


class Notification(BaseModel):
    """The form fields of a webhook: ``action``, ``id``, ``calendarID``, ``appointmentTypeID``."""

    model_config = ConfigDict(extra="ignore")

    action: str = Field(min_length=1)
    id: int = Field(gt=0)
    calendarID: int | None = None  # vendor field names
    appointmentTypeID: int | None = None

    @property
    def verb(self) -> str:
        """``scheduled``… for static (``scheduled``) and dynamic (``appointment.scheduled``)
        webhooks alike."""
        return self.action.removeprefix("appointment.")


class Appointment(BaseModel):
    """``GET /api/v1/appointments/{id}``, the fields bookwire reads."""

    model_config = ConfigDict(extra="ignore")

    id: int
    firstName: str = ""
    lastName: str = ""
    email: str = ""
    datetime: str = Field(min_length=1)
    duration: int | str
    endTime: str | None = None  # human-readable, never parsed
    timezone: str | None = None
    calendarTimezone: str | None = None
    type: str | None = None
    category: str | None = None
    calendar: str | None = None
    calendarID: int | None = None
    location: str | None = None
    canceled: bool = False


class AcuityOptions(BaseModel):
    """``[tenants.<id>.sources.acuity.options]``."""

    model_config = ConfigDict(extra="forbid")

    base_url: BaseUrl = "https://acuityscheduling.com"
    title_from: Literal["type", "category", "calendar"] = "type"
    timezone: IanaZone | None = Field(None, description="IANA zone when the appointment names none")
    backfill_days: int = Field(400, ge=1, le=3660, description="how far past --since to look")
    backfill_page_max: int = Field(1000, ge=1, le=10000)
