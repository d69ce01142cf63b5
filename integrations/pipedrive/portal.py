"""The ``pipedrive`` portal: the album link (or attendance) goes back onto the booking's deal.

- ``PATCH {api_base_url}/api/v2/deals/{id}`` with ``{"custom_fields": {"<key>": value}}``
  writes the album link to ``options.album_field`` and an attendance line ("12 of 15
  attended") to ``options.attendance_field`` (the fields' 40-character keys, from
  ``GET /api/v2/dealFields``; text or large-text fields). The same value again changes nothing.
  (API v2 updates deals with PATCH; v1's ``PUT /v1/deals/{id}`` is being retired.)
- ``options.note = true`` also adds a note: ``POST {api_base_url}/api/v1/notes`` with
  ``content`` (HTML) and ``deal_id``. Notes have no idempotency key: the note goes last and
  carries the delivery key, so only a create whose answer was lost can leave a duplicate.

The deal is the booking's own: bookings from the ``pipedrive`` source carry the deal id as
their id; others are skipped. The token (``credentials.api_token``) goes in the
``x-api-token`` header, never in a URL.
"""

from __future__ import annotations

from typing import ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.tenants import PortalConfig
from config.urls import BaseUrl
from integrations.http import call, credential
from integrations.portal import PortalMessage, PortalReceipt, attendance, note_html

TARGET = "pipedrive"
FIELD_KEY = r"^[0-9a-f]{40}$"


class PipedrivePortalOptions(BaseModel):
    """``[tenants.<id>.portal.options]`` for ``kind = "pipedrive"``: at least one target."""

    model_config = ConfigDict(extra="forbid")

    api_base_url: BaseUrl = Field(description="https://<company>.pipedrive.com")
    album_field: str | None = Field(None, pattern=FIELD_KEY, description="deal field key")
    attendance_field: str | None = Field(None, pattern=FIELD_KEY)
    note: bool = Field(False, description="also add a note to the deal")

    @model_validator(mode="after")
    def _somewhere(self) -> PipedrivePortalOptions:
        if not (self.album_field or self.attendance_field or self.note):
            raise ValueError("set album_field, attendance_field or note = true")
        return self


class PipedrivePortal:
    slug: ClassVar[str] = "pipedrive"
    Options = PipedrivePortalOptions

    def __init__(self, config: PortalConfig, http: httpx.Client) -> None:
        token = credential(config.credentials, "api_token", owner="pipedrive portal")
        self._options = PipedrivePortalOptions.model_validate(config.options)
        self._headers = {
            "x-api-token": token,
            "Accept": "application/json",
        }
        self._http = http

    def deliver(self, message: PortalMessage) -> PortalReceipt:
        if message.source != "pipedrive":
            return PortalReceipt("skipped", f"booking came from {message.source}, not a deal")
        try:
            deal_id = int(message.booking_id)
        except ValueError:
            return PortalReceipt("skipped", "booking id is not a Pipedrive deal id")
        options, deliverable = self._options, message.deliverable
        fields: dict[str, str] = {}
        if options.album_field and deliverable.album_url:
            fields[options.album_field] = deliverable.album_url
        if options.attendance_field and deliverable.attendees:
            fields[options.attendance_field] = attendance(deliverable).line()
        if not fields and not options.note:
            return PortalReceipt("skipped", f"nothing to write for a {message.kind}")
        if fields:
            self._call("PATCH", f"/api/v2/deals/{deal_id}", {"custom_fields": fields})
        if options.note:
            self._call("POST", "/api/v1/notes", {"content": note_html(message), "deal_id": deal_id})
        return PortalReceipt("delivered")

    def _call(self, method: str, path: str, body: dict[str, object]) -> httpx.Response:
        url = f"{self._options.api_base_url}{path}"
        return call(self._http, TARGET, method, url, json=body, headers=self._headers)
