"""The body an agency's own app posts: the booking message without the envelope fields."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from integrations.booking import BookingStatus, Person


class GenericBooking(BaseModel):
    """One booking as posted to ``/webhooks/generic/{tenant}``."""

    model_config = ConfigDict(extra="forbid")

    booking_id: str = Field(min_length=1, max_length=255)
    status: BookingStatus
    title: str | None = None
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    timezone: str | None = None
    location: str | None = None
    meeting_url: str | None = None
    customer: Person | None = None
    attendees: list[Person] = Field(default_factory=list)
    client: str | None = None
    updated_at: AwareDatetime
