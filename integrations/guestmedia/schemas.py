"""Guest-media payloads (docs/guest-media-contract.md) and the tenant options."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuestMediaOptions(BaseModel):
    """No options: the event's look comes from the tenant's (or client's) brand."""

    model_config = ConfigDict(extra="forbid")


class Branding(BaseModel):
    model_config = ConfigDict(extra="ignore")

    logo_url: str | None = None
    primary_color: str | None = None
    secondary_color: str | None = None
    custom_domain: str | None = None
    qr_text: str | None = None


class MediaEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    status: str
    timezone: str
    starts_at: str
    ends_at: str
    description: str | None = None
    branding: Branding = Field(default_factory=Branding)
    album_url: str | None = None
    external_reference: str | None = None


class EventEnvelope(BaseModel):
    event: MediaEvent


class EventList(BaseModel):
    events: list[MediaEvent]
    next_cursor: str | None = None  # listing: the next page, if any
