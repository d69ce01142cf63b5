"""The ``hubspot`` portal: the album link (or attendance) goes back onto the booking's deal.

- ``PATCH {base_url}/crm/v3/objects/deals/{dealId}`` with ``{"properties": {...}}`` writes the
  album link to ``options.album_property`` and an attendance line ("12 of 15 attended") to
  ``options.attendance_property`` (internal property names; create them in HubSpot first).
  Writing the same value again changes nothing, so a retry is harmless.
- ``options.note = true`` also adds a note associated with the deal:
  ``POST {base_url}/crm/v3/objects/notes`` with ``hs_timestamp`` (the event's end),
  ``hs_note_body`` and an association to the deal (HUBSPOT_DEFINED type 214, note → deal).
  Notes have no idempotency key: the note goes last, after every idempotent write, and carries
  the delivery key, so only a create whose answer was lost can leave a recognisable duplicate.

The deal is the booking's own: bookings from the ``hubspot`` source carry the deal id as their
id; bookings from other sources have no deal here and are skipped. Auth is the private-app
token in ``credentials.access_token`` (scope ``crm.objects.deals.write``).
"""

from __future__ import annotations

from datetime import UTC
from typing import ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.tenants import PortalConfig
from config.urls import BaseUrl
from integrations.http import call, credential
from integrations.portal import PortalMessage, PortalReceipt, attendance, note_html

TARGET = "hubspot"
NOTE_TO_DEAL = 214  # HubSpot's association type id for note → deal


class HubSpotPortalOptions(BaseModel):
    """``[tenants.<id>.portal.options]`` for ``kind = "hubspot"``: at least one target."""

    model_config = ConfigDict(extra="forbid")

    base_url: BaseUrl = "https://api.hubapi.com"
    album_property: str | None = Field(None, min_length=1, description="deal property name")
    attendance_property: str | None = Field(None, min_length=1)
    note: bool = Field(False, description="also add a note to the deal")

    @model_validator(mode="after")
    def _somewhere(self) -> HubSpotPortalOptions:
        if not (self.album_property or self.attendance_property or self.note):
            raise ValueError("set album_property, attendance_property or note = true")
        return self


class HubSpotPortal:
    slug: ClassVar[str] = "hubspot"
    Options = HubSpotPortalOptions

    def __init__(self, config: PortalConfig, http: httpx.Client) -> None:
        token = credential(config.credentials, "access_token", owner="hubspot portal")
        self._options = HubSpotPortalOptions.model_validate(config.options)
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
        }
        self._http = http

    def deliver(self, message: PortalMessage) -> PortalReceipt:
        if message.source != "hubspot":
            return PortalReceipt("skipped", f"booking came from {message.source}, not a deal")
        deal_id = message.booking_id
        options, deliverable = self._options, message.deliverable
        properties: dict[str, str] = {}
        if options.album_property and deliverable.album_url:
            properties[options.album_property] = deliverable.album_url
        if options.attendance_property and deliverable.attendees:
            properties[options.attendance_property] = attendance(deliverable).line()
        if not properties and not options.note:
            return PortalReceipt("skipped", f"nothing to write for a {message.kind}")
        if properties:
            self._call("PATCH", f"/crm/v3/objects/deals/{deal_id}", {"properties": properties})
        if options.note:
            self._call("POST", "/crm/v3/objects/notes", _note(message, deal_id))
        return PortalReceipt("delivered")

    def _call(self, method: str, path: str, body: dict[str, object]) -> httpx.Response:
        url = f"{self._options.base_url}{path}"
        return call(self._http, TARGET, method, url, json=body, headers=self._headers)


def _note(message: PortalMessage, deal_id: str) -> dict[str, object]:
    stamp = message.ends_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "properties": {"hs_timestamp": stamp, "hs_note_body": note_html(message)},
        "associations": [
            {
                "to": {"id": deal_id},
                "types": [
                    {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_DEAL}
                ],
            }
        ],
    }
