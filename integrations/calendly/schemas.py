"""Calendly API v2 payloads we read (webhooks and list endpoints) and the tenant options.

Only the fields bookwire uses are modelled; everything else is ignored so Calendly may add
fields freely. Times are UTC instants (``2026-07-15T22:00:00.000000Z``).
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from config.urls import BaseUrl
from integrations.booking import IanaZone


class Options(BaseModel):
    """Per-tenant settings of the ``calendly`` source.

    ``organization`` (or ``user``) URIs scope the backfill's event list; without either the
    backfill lists the token owner's events. ``timezone`` pins every booking to the agency's
    zone instead of the invitee's."""

    model_config = ConfigDict(extra="forbid")

    api_base_url: BaseUrl = "https://api.calendly.com"
    organization: str | None = Field(None, pattern=r"^https?://\S+/organizations/[^/\s]+$")
    user: str | None = Field(None, pattern=r"^https?://\S+/users/[^/\s]+$")
    timezone: IanaZone | None = None


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Location(_Loose):
    """``scheduled_event.location``: ``type`` plus ``location`` text and/or ``join_url``."""

    type: str | None = None
    location: str | None = None
    join_url: str | None = None


class Guest(_Loose):
    email: str


class ScheduledEvent(_Loose):
    uri: str
    name: str | None = None
    status: str | None = None
    start_time: AwareDatetime
    end_time: AwareDatetime
    location: Location | None = None
    event_guests: list[Guest] = Field(default_factory=list)
    updated_at: AwareDatetime | None = None


class Invitee(_Loose):
    """An invitee: the webhook ``payload`` (with ``scheduled_event``) or an API list item."""

    uri: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    status: str = "active"
    timezone: str | None = None
    rescheduled: bool = False
    old_invitee: str | None = None
    new_invitee: str | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    scheduled_event: ScheduledEvent | None = None


class Envelope(_Loose):
    """Every webhook: ``{"event", "created_at", "created_by", "payload"}``."""

    event: str
    created_at: AwareDatetime | None = None
    payload: dict[str, Any] | None = None


class Pagination(_Loose):
    next_page_token: str | None = None


class Page(_Loose):
    """A list response: ``{"collection": [...], "pagination": {...}}``."""

    collection: list[dict[str, Any]]
    pagination: Pagination = Field(default_factory=Pagination)


class CurrentUser(_Loose):
    uri: str


class CurrentUserEnvelope(_Loose):
    resource: CurrentUser
