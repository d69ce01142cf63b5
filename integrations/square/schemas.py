"""Square payloads (booking webhooks, Bookings/Customers/Catalog/Locations API) and options.

Traps: the event's ``data.id`` is ``<booking id>:<version>`` (the booking id is
``data.object.booking.id``); a booking has no end and no title (sum the segments' durations,
name the service variations); times are UTC, the zone lives on the location.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from config.urls import BaseUrl, HttpUrl
from integrations.booking import IanaZone

CONFIRMED = {"ACCEPTED"}
UNCONFIRMED = {"PENDING"}
CANCELLED = {"CANCELLED_BY_CUSTOMER", "CANCELLED_BY_SELLER", "DECLINED", "NO_SHOW"}


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Segment(_Vendor):
    duration_minutes: int = Field(ge=0)
    service_variation_id: str | None = None
    team_member_id: str | None = None
    # read only: the time between the end of this segment and the start of the next one
    intermission_minutes: int = Field(0, ge=0)


class Address(_Vendor):
    address_line_1: str | None = None
    address_line_2: str | None = None
    locality: str | None = None
    administrative_district_level_1: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def one_line(self) -> str | None:
        parts = [
            self.address_line_1,
            self.address_line_2,
            self.locality,
            " ".join(p for p in (self.administrative_district_level_1, self.postal_code) if p),
            self.country,
        ]
        text = ", ".join(p.strip() for p in parts if p and p.strip())
        return text or None


class Booking(_Vendor):
    id: str = Field(min_length=1)
    version: int = 0
    status: str
    start_at: AwareDatetime
    updated_at: AwareDatetime
    location_id: str | None = None
    customer_id: str | None = None
    location_type: str | None = None
    address: Address | None = None
    appointment_segments: list[Segment] = Field(default_factory=list)


class EventObject(_Vendor):
    booking: Booking | None = None


class EventData(_Vendor):
    type: str | None = None
    id: str | None = None
    object: EventObject | None = None


class SquareEvent(_Vendor):
    """A ``booking.created``/``booking.updated`` notification."""

    merchant_id: str | None = None
    type: str = Field(min_length=1)
    event_id: str = Field(min_length=1)
    created_at: AwareDatetime | None = None
    data: EventData | None = None

    def booking_id(self) -> str | None:
        if self.data and self.data.object and self.data.object.booking:
            return self.data.object.booking.id
        if self.data and self.data.id:
            return self.data.id.split(":", 1)[0] or None
        return None


class Customer(_Vendor):
    id: str
    given_name: str | None = None
    family_name: str | None = None
    nickname: str | None = None
    company_name: str | None = None
    email_address: str | None = None


class Location(_Vendor):
    id: str
    name: str | None = None
    timezone: str | None = None
    address: Address | None = None


class VariationData(_Vendor):
    item_id: str | None = None
    name: str | None = None


class ItemData(_Vendor):
    name: str | None = None


class CatalogObject(_Vendor):
    type: str
    id: str
    item_variation_data: VariationData | None = None
    item_data: ItemData | None = None


class CatalogResponse(_Vendor):
    """``GET /v2/catalog/object/{id}?include_related_objects=true``."""

    object: CatalogObject
    related_objects: list[CatalogObject] = Field(default_factory=list)

    def service_name(self) -> str | None:
        """ "Item (Variation)"; just the item when the variation is generic or the same."""
        variation = self.object.item_variation_data
        item_id = variation.item_id if variation else None
        item = next((o for o in self.related_objects if o.id == item_id and o.item_data), None)
        item_name = item.item_data.name if item and item.item_data else None
        variation_name = variation.name if variation else None
        if item_name and variation_name and variation_name not in (item_name, "Regular"):
            return f"{item_name} ({variation_name})"
        return item_name or variation_name


class SquareOptions(BaseModel):
    """``[tenants.<id>.sources.square.options]``."""

    model_config = ConfigDict(extra="forbid")

    notification_url: HttpUrl = Field(
        description="exactly the notification URL registered on the Square webhook subscription"
    )
    base_url: BaseUrl = "https://connect.squareup.com"
    api_version: str = Field("2024-10-17", pattern=r"^\d{4}-\d{2}-\d{2}$")
    timezone: IanaZone | None = Field(None, description="IANA zone when the location names none")
    backfill_days: int = Field(400, ge=1, le=3660, description="how far past --since to look")
