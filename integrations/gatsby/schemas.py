"""Gatsby payloads we read, and a Gatsby platform's tenant options (docs/platform-gatsby.md)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from integrations.branding import TEMPLATE_FIELDS, unknown_fields


class GatsbyOptions(BaseModel):
    """Which Gatsby event a booking's people join, and what cancelling does to them.

    Exactly one target: ``event_id`` (one fixed event), ``primary_slug`` (one fixed event by its
    URL slug) or ``slug_template`` (a rule: the slug rendered from booking fields, e.g.
    ``"workshop-{date}"``, so a reschedule to another day moves the people to that day's event).
    """

    model_config = ConfigDict(extra="forbid")

    organization_slug: str = Field(min_length=1, max_length=200)
    event_id: str | None = Field(None, min_length=1)
    primary_slug: str | None = Field(None, min_length=1)
    slug_template: str | None = Field(None, min_length=1)
    on_cancel: Literal["decline", "remove"] = "decline"
    include_attendees: bool = True
    page_size: int = Field(100, ge=1, le=500)

    @field_validator("slug_template")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:
        if value is not None:
            unknown = unknown_fields(value)
            if unknown:
                raise ValueError(
                    f"unknown booking field(s): {', '.join(unknown)}; "
                    f"use only: {', '.join(sorted(TEMPLATE_FIELDS))}"
                )
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        given = [v for v in (self.event_id, self.primary_slug, self.slug_template) if v]
        if len(given) != 1:
            raise ValueError("set exactly one of event_id, primary_slug or slug_template")
        return self


class GatsbyEvent(BaseModel):
    """Field names are Gatsby's own (camelCase)."""

    model_config = ConfigDict(extra="ignore")

    eventId: str
    name: str | None = None
    primarySlug: str | None = None
    primaryDate: str | None = None
    timezone: str | None = None
    locationName: str | None = None
    locationAddress: str | None = None


class EventList(BaseModel):
    events: list[GatsbyEvent]


class Guest(BaseModel):
    """One guest-list entry: a person on an event, with RSVP and attendance."""

    model_config = ConfigDict(extra="ignore")

    personId: str
    firstName: str | None = None
    lastName: str | None = None
    email: str | None = None
    rsvpStatus: str | None = None
    attendanceStatus: str | None = None


class GuestList(BaseModel):
    guests: list[Guest]
