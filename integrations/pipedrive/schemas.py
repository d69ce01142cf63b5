"""Pipedrive payloads we read (webhooks v1 and v2, API v2) and the tenant options.

Deals are read as plain mappings (``deals.Deal`` normalises the three shapes) because their
custom fields are keyed by per-account 40-character hashes; only the envelopes and the API
answers are modelled here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.urls import BaseUrl
from integrations.booking import IanaZone

FieldKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]


class Options(BaseModel):
    """Which deal fields hold the event, per tenant (Pipedrive's custom-field API keys).

    A deal's event is ``event_date_field`` + ``start_time_field`` in the zone named by
    ``timezone_field`` (else ``timezone``); it ends at ``end_time_field`` (a time; earlier
    than the start means the next day), or after ``duration_field`` (in ``duration_unit``),
    or after ``default_duration_minutes``. ``venue_field`` holds the place (an address field,
    or text; a link there is the meeting link) and ``meeting_url_field`` the meeting link of
    an event that has both. A time-range start field or a date-range date
    field carries its own end. ``api_base_url`` (``https://<company>.pipedrive.com``) and the
    ``api_token`` credential enable person look-ups and the backfill."""

    model_config = ConfigDict(extra="forbid")

    event_date_field: FieldKey
    start_time_field: FieldKey
    end_time_field: FieldKey | None = None
    duration_field: FieldKey | None = None
    duration_unit: Literal["minutes", "hours"] = "hours"
    default_duration_minutes: int | None = Field(None, gt=0, le=7 * 24 * 60)
    timezone_field: FieldKey | None = None
    timezone: IanaZone | None = None
    venue_field: FieldKey | None = None
    meeting_url_field: FieldKey | None = Field(
        None, description="a field holding the meeting link, beside an address in venue_field"
    )
    api_base_url: BaseUrl | None = None

    @model_validator(mode="after")
    def _some_zone(self) -> Self:
        if self.timezone is None and self.timezone_field is None:
            raise ValueError("set timezone (IANA name) or timezone_field")
        return self


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class MetaV2(_Loose):
    """Webhooks v2 ``meta``: ``id`` is the event's id (repeated on every retry)."""

    action: str
    entity: str
    id: str | None = None
    timestamp: Any = None
    merged_to_id: str | None = None


class EnvelopeV2(_Loose):
    meta: MetaV2
    data: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None


class MetaV1(_Loose):
    """Webhooks v1 ``meta``: ``id`` is the object's id; no id for the delivery itself."""

    action: str
    object: str
    id: int | str | None = None
    timestamp: Any = None
    timestamp_micro: int | None = None
    webhook_id: int | str | None = None


class EnvelopeV1(_Loose):
    meta: MetaV1
    current: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None


class DealPage(_Loose):
    """``GET /api/v2/deals``: ``{"success", "data": [...], "additional_data": {"next_cursor"}}``."""

    data: list[dict[str, Any]] | None = None
    additional_data: dict[str, Any] | None = None

    @property
    def next_cursor(self) -> str | None:
        cursor = (self.additional_data or {}).get("next_cursor")
        return cursor if isinstance(cursor, str) and cursor else None


class Email(_Loose):
    value: str | None = None
    primary: bool = False


class ApiPerson(_Loose):
    name: str | None = None
    emails: list[Email] = Field(default_factory=list)


class PersonEnvelope(_Loose):
    data: ApiPerson
