"""Gomry payloads we send and read, and the tenant options for a Gomry platform."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GomryOptions(BaseModel):
    """Event defaults a tenant sets once for every booking (names as in the Create Event API),
    plus whether the booking's customer gets a ticket on the event."""

    model_config = ConfigDict(extra="forbid")

    capacity: int | None = Field(None, ge=0)
    ticket_price: float | None = Field(None, ge=0)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    require_approval: bool | None = None
    is_private: bool | None = None
    space_identifier: str | None = None
    default_location: str = "To be announced"
    add_customer_as_attendee: bool = False
    ticket_class: str = Field("General Admission", min_length=1, max_length=120)
    send_attendee_email: bool = False


class WallClock(BaseModel):
    """Gomry's ``{utc, timezone}``: on requests ``utc`` is wall-clock time in ``timezone``."""

    utc: str
    timezone: str


class Venue(BaseModel):
    """Every sub-field may be missing or null; PATCH replaces the whole object."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None


class GomryEvent(BaseModel):
    """The parts of Gomry's event object we read. ``None`` means "not in the response": the
    client then sends its wanted value rather than assume it is already there."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    status: str | None = None
    registration_status: str | None = None
    start: WallClock
    end: WallClock | None = None
    venue: Venue | None = None
    description: str | None = None
    capacity: int | None = None
    currency: str | None = None
    is_private: bool | None = None
    require_approval: bool | None = None
    is_virtual: bool | None = None
    meeting_url: str | None = None


class EventEnvelope(BaseModel):
    data: GomryEvent


class Pagination(BaseModel):
    total: int
    page: int
    page_size: int
    total_pages: int


class EventPage(BaseModel):
    data: list[GomryEvent]
    pagination: Pagination


class TicketClass(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    status: str | None = None


class TicketClassList(BaseModel):
    data: list[TicketClass]


class Attendee(BaseModel):
    """A ticket: Gomry's attendees are tickets, ``checked_in`` once scanned at the door."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    checked_in_at: str | None = None


class AttendeePage(BaseModel):
    data: list[Attendee]
    pagination: Pagination


class IssuedTickets(BaseModel):
    """Create Attendee's answer: the tickets issued (or upgraded) by one request."""

    data: list[Attendee]
    quantity: int | None = None
