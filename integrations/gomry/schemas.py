"""Gomry payloads we send and read, and the tenant options for a Gomry platform."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GomryOptions(BaseModel):
    """Event defaults a tenant sets once for every booking (names as in the Create Event API)."""

    model_config = ConfigDict(extra="forbid")

    capacity: int | None = Field(None, ge=0)
    ticket_price: float | None = Field(None, ge=0)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    require_approval: bool | None = None
    is_private: bool | None = None
    space_identifier: str | None = None
    default_location: str = "To be announced"


class WallClock(BaseModel):
    """Gomry's ``{utc, timezone}``: on requests ``utc`` is wall-clock time in ``timezone``."""

    utc: str
    timezone: str


class GomryEvent(BaseModel):
    """The parts of Gomry's event object we read."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    status: str | None = None
    registration_status: str | None = None
    start: WallClock
    end: WallClock | None = None


class EventEnvelope(BaseModel):
    data: GomryEvent
