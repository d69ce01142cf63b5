"""HubSpot payloads (webhook events, CRM v3 objects) and the tenant options of the source.

Webhook bodies are JSON arrays of thin events; CRM objects carry every property as a string
(or null) under ``properties``. Unknown vendor fields are ignored: HubSpot adds fields freely.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from config.urls import BaseUrl
from integrations.booking import IanaZone

DEAL_OBJECT_TYPE = "0-3"  # objectTypeId of deals in the newer ``object.*`` subscriptions


class _Vendor(BaseModel):
    model_config = ConfigDict(extra="ignore")


class HubSpotEvent(_Vendor):
    """One event of a batched delivery (``deal.propertyChange``, ``deal.creation`` …)."""

    eventId: int  # vendor field names
    subscriptionType: str = Field(min_length=1)
    objectId: int
    occurredAt: int  # milliseconds since the epoch
    propertyName: str | None = None
    propertyValue: str | None = None
    objectTypeId: str | None = None
    portalId: int | None = None
    subscriptionId: int | None = None
    attemptNumber: int | None = None

    def identity(self) -> tuple[object, ...]:
        """What tells this event from every other: HubSpot documents ``eventId`` as not
        guaranteed unique, and a retry repeats every field but ``attemptNumber``."""
        return (
            self.portalId,
            self.subscriptionId,
            self.subscriptionType,
            self.eventId,
            self.objectTypeId,
            self.objectId,
            self.occurredAt,
            self.propertyName,
            self.propertyValue,
        )


class AssociationRef(_Vendor):
    id: str
    type: str | None = None


class AssociationPage(_Vendor):
    results: list[AssociationRef] = Field(default_factory=list)


class CrmObject(_Vendor):
    """A deal or contact as ``GET /crm/v3/objects/{type}/{id}`` returns it."""

    id: str
    properties: dict[str, str | None] = Field(default_factory=dict)
    createdAt: AwareDatetime | None = None
    updatedAt: AwareDatetime | None = None
    archived: bool = False
    associations: dict[str, AssociationPage] = Field(default_factory=dict)

    def prop(self, name: str | None) -> str | None:
        """A property's value, with HubSpot's empty strings read as missing."""
        if not name:
            return None
        value = self.properties.get(name)
        return value.strip() if value and value.strip() else None


class NextPage(_Vendor):
    after: str


class Paging(_Vendor):
    next: NextPage | None = None


class SearchPage(_Vendor):
    """``POST /crm/v3/objects/deals/search``."""

    results: list[CrmObject] = Field(default_factory=list)
    paging: Paging | None = None


StageIds = dict[str, list[str]]


class HubSpotOptions(BaseModel):
    """``[tenants.<id>.sources.hubspot.options]``: where bookings live in this CRM.

    Stage and pipeline ids are HubSpot's internal ids (custom pipelines use numeric strings;
    TOML integers are accepted and read as strings). Property names are internal names.
    """

    model_config = ConfigDict(extra="forbid")

    base_url: BaseUrl = "https://api.hubapi.com"
    booked_stages: StageIds = Field(min_length=1, description="pipeline id → booked stage ids")
    cancelled_stages: StageIds = Field(default_factory=dict, description="pipeline id → stages")
    start_property: str = Field(min_length=1, description="date-time (or date) of the start")
    start_time_property: str | None = Field(
        None, description="HH:MM wall-clock start when start_property holds only a date"
    )
    end_property: str | None = None
    duration_property: str | None = Field(None, description="duration in minutes")
    default_duration_minutes: int | None = Field(None, gt=0, le=7 * 24 * 60)
    timezone_property: str | None = None
    timezone: IanaZone | None = Field(None, description="IANA zone when the deal names none")
    venue_property: str | None = None
    meeting_url_property: str | None = None
    title_property: str = "dealname"
    client_property: str | None = None
    max_attendees: int = Field(10, ge=0, le=50)

    @field_validator("booked_stages", "cancelled_stages", mode="before")
    @classmethod
    def _stage_ids(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            str(pipeline): [str(s) for s in (stages if isinstance(stages, list) else [stages])]
            for pipeline, stages in value.items()
        }

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if not (self.end_property or self.duration_property or self.default_duration_minutes):
            raise ValueError("set end_property, duration_property or default_duration_minutes")
        if not (self.timezone_property or self.timezone):
            raise ValueError("set timezone_property or timezone")
        for pipeline, stages in self.cancelled_stages.items():
            both = set(stages) & set(self.booked_stages.get(pipeline, []))
            if both:
                raise ValueError(f"stage(s) {sorted(both)} are both booked and cancelled")
        return self

    def stage_status(self, pipeline: str | None, stage: str | None) -> str | None:
        """``booked``, ``cancelled`` or None (a stage bookwire does not act on)."""
        if pipeline is None or stage is None:
            return None
        if stage in self.booked_stages.get(pipeline, []):
            return "booked"
        if stage in self.cancelled_stages.get(pipeline, []):
            return "cancelled"
        return None

    def watched_properties(self) -> set[str]:
        """Deal properties whose change can change the event."""
        names = {
            "dealstage",
            "pipeline",
            self.start_property,
            self.start_time_property,
            self.end_property,
            self.duration_property,
            self.timezone_property,
            self.venue_property,
            self.meeting_url_property,
            self.title_property,
            self.client_property,
        }
        return {n for n in names if n}

    def all_stages(self) -> list[str]:
        stages = {
            s
            for group in (self.booked_stages, self.cancelled_stages)
            for v in group.values()
            for s in v
        }
        return sorted(stages)


ObjectType = Literal["deal", "meeting", "contact"]

# What each enrolled-object type holds by default (HubSpot's internal property names); a
# tenant option set explicitly (even to nothing) wins.
WORKFLOW_DEFAULTS: dict[str, dict[str, Any]] = {
    "deal": {
        "title_property": "dealname",
        "status_property": "dealstage",
        "cancelled_values": ["closedlost"],
    },
    "meeting": {
        "start_property": "hs_meeting_start_time",
        "end_property": "hs_meeting_end_time",
        "title_property": "hs_meeting_title",
        "location_property": "hs_meeting_location",
        "status_property": "hs_meeting_outcome",
        "cancelled_values": ["CANCELED"],
    },
    "contact": {
        "name_properties": ["firstname", "lastname"],
        "email_property": "email",
        "modified_property": "lastmodifieddate",
    },
}
PropertyName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]


class HubSpotWorkflowOptions(BaseModel):
    """``[tenants.<id>.sources.hubspot-workflow.options]``: a workflow's "Send a webhook" body.

    The body is the enrolled record's properties (all of them, or a custom body whose keys the
    workflow names), so every property below names a key of that body. ``object_type`` fills
    in the defaults of a deal, a meeting or a contact. ``auth`` is how the action was set up:
    ``signature`` (request signature with the app's client secret; v3, or v2 when
    ``accept_signature_v2``) or ``api_key`` (the secret sent under ``api_key_name`` in a header
    or the query string).
    """

    model_config = ConfigDict(extra="forbid")

    object_type: ObjectType = "deal"
    auth: Literal["signature", "api_key"] = "signature"
    accept_signature_v2: bool = Field(
        False, description="also accept the older, unstamped v2 signature (no replay window)"
    )
    api_key_name: str = Field("X-Bookwire-Token", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    api_key_location: Literal["header", "query"] = "header"
    booking_id_property: PropertyName = "hs_object_id"
    start_property: PropertyName | None = None
    end_property: PropertyName | None = None
    duration_property: PropertyName | None = Field(None, description="duration in minutes")
    default_duration_minutes: int | None = Field(None, gt=0, le=7 * 24 * 60)
    timezone_property: PropertyName | None = None
    timezone: IanaZone | None = Field(None, description="IANA zone when the body names none")
    title_property: PropertyName | None = None
    name_properties: list[PropertyName] = Field(default_factory=list, max_length=3)
    email_property: PropertyName | None = None
    location_property: PropertyName | None = None
    meeting_url_property: PropertyName | None = None
    client_property: PropertyName | None = None
    status_property: PropertyName | None = None
    cancelled_values: list[str] = Field(default_factory=list)
    modified_property: PropertyName = "hs_lastmodifieddate"

    @model_validator(mode="after")
    def _defaults_then_complete(self) -> Self:
        for name, value in WORKFLOW_DEFAULTS[self.object_type].items():
            if name not in self.model_fields_set:
                setattr(self, name, value)
        if not self.start_property:
            raise ValueError(f"set start_property (a {self.object_type} has no standard start)")
        if not (self.end_property or self.duration_property or self.default_duration_minutes):
            raise ValueError("set end_property, duration_property or default_duration_minutes")
        if not (self.timezone_property or self.timezone):
            raise ValueError("set timezone_property or timezone")
        return self
