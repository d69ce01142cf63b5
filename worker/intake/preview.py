"""``bookwire preview``: the event a delivery would create, with no side effect.

The delivery is parsed by the source's connector exactly as the ingress (or, for thin webhooks,
the worker) would, the tenant's brand makes the ``EventSpec`` (``integrations.platform``), and
the platform client's own pure ``create_body`` gives the request it would send. The signature
is NOT checked (the output says so), nothing is stored, nothing is published and no platform is
called: the platform client is built over a transport that refuses every request. Thin webhooks
(ids only) need the vendor's API: ``fetch=True`` allows those look-ups, GETs only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from config.tenants import Tenant
from integrations import registry
from integrations.booking import BookingMessage, BookingStatus
from integrations.connector import WebhookRequest
from integrations.errors import BookwireError, PayloadError
from integrations.gomry.client import GomryPlatform
from integrations.guestmedia.client import GuestMediaPlatform
from integrations.guestmedia.client import create_body as guestmedia_body
from integrations.platform import EventSpec, Platform, event_spec
from worker.intake.record import unreadable
from worker.runtime import Runtime

UNSIGNED = "signature NOT checked: preview trusts the file (the ingress verifies every delivery)"


class PreviewRefused(Exception):
    """Preview cannot go on (unknown tenant or source); the message says which."""


@dataclass
class Preview:
    """What ``bookwire preview`` found: notes, and one entry per booking in the delivery."""

    tenant: str
    source: str
    notes: list[str] = field(default_factory=list)
    bookings: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, str | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "source": self.source,
            "notes": self.notes,
            "bookings": self.bookings,
            "error": self.error,
        }


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"preview makes no platform call ({request.method})")


class _GetOnly(httpx.BaseTransport):
    """Vendor look-ups for thin webhooks: reads pass, anything else is refused here."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            raise httpx.ConnectError(f"preview only reads ({request.method} refused)")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def preview(
    rt: Runtime,
    *,
    tenant: str,
    source: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    fetch: bool = False,
) -> Preview:
    """Parse ``body`` as ``source``'s delivery for ``tenant`` and show the event(s) it makes."""
    config = rt.tenant(tenant)
    connector = registry.connector(source)
    if config is None:
        raise PreviewRefused(f"unknown tenant {tenant!r}")
    if connector is None or source not in config.sources:
        known = ", ".join(sorted(config.sources)) or "none"
        raise PreviewRefused(f"tenant {tenant!r} has no source {source!r} (it has: {known})")
    result = Preview(tenant, source, notes=[UNSIGNED])
    request = WebhookRequest(
        method="POST",
        url=f"{rt.settings.public_base_url.rstrip('/')}/webhooks/{source}/{tenant}",
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
    )
    with httpx.Client(transport=_GetOnly(), timeout=rt.settings.http_timeout) as reads:
        context = rt.parse_context(tenant, source, now=now, with_http=False)
        try:
            if connector.check is not None:
                if not connector.check(request, context=context):
                    result.notes.append("ignored: an event type this source does not act on")
                    return result
                if not fetch:
                    result.notes.append(
                        f"{source} webhooks carry ids only: the worker reads the booking from "
                        f"the {source} API; run again with --fetch to allow those GETs"
                    )
                    return result
                context = replace(context, http=reads)
            messages = connector.parse(request, context=context)
        except PayloadError as exc:
            result.error = {"field": exc.field, "reason": str(exc)}
            return result
        except BookwireError as exc:  # a look-up failed (--fetch)
            result.error = {"field": None, "reason": str(exc)}
            return result
        except Exception as exc:  # as the ingress does: the type only, never the message
            result.error = {"field": None, "reason": str(unreadable(exc, source=source))}
            return result
    if not messages:
        result.notes.append("ignored: an event type this source does not act on")
    for message in messages:
        result.bookings.append(_booking(config, message))
    return result


def _booking(tenant: Tenant, message: BookingMessage) -> dict[str, Any]:
    entry: dict[str, Any] = {"booking_id": message.booking_id, "status": str(message.status)}
    if message.status is BookingStatus.cancelled:
        entry["effect"] = "cancels the booking's event (if one exists)"
        return entry
    with httpx.Client(transport=httpx.MockTransport(_refuse)) as nowhere:
        platform = registry.PLATFORMS[tenant.platform.kind](tenant.platform, nowhere)
        spec = event_spec(message, tenant.brand_for(message.client), name_max=platform.name_max)
        entry |= _event(spec)
        entry["platform"] = {"kind": tenant.platform.kind, **_request(platform, spec)}
    if message.replaces:
        entry["effect"] = f"moves the event of booking {message.replaces}"
    return entry


def _event(spec: EventSpec) -> dict[str, Any]:
    zone = ZoneInfo(spec.timezone)
    brand = spec.brand.model_dump(exclude_none=True)
    return {
        "name": spec.name,
        "zone": spec.timezone,
        "start_local": spec.start.astimezone(zone).isoformat(),
        "end_local": spec.end.astimezone(zone).isoformat(),
        "start_utc": spec.start.astimezone(ZoneInfo("UTC")).isoformat(),
        "end_utc": spec.end.astimezone(ZoneInfo("UTC")).isoformat(),
        "location": spec.location,
        "meeting_url": spec.meeting_url,
        "reference": spec.reference,
        "branding": brand,
    }


def _request(platform: Platform, spec: EventSpec) -> dict[str, Any]:
    """The create request the platform client would send (pure: no call is made)."""
    if isinstance(platform, GomryPlatform):
        return {"method": "POST", "path": "/events", "body": platform.create_body(spec)}
    if isinstance(platform, GuestMediaPlatform):
        return {"method": "POST", "path": "/events", "body": guestmedia_body(spec)}
    return {
        "method": "POST",
        "path": "/event/{event}/guestlist",
        "body": None,
        "note": "a guest list: the booking's people are placed on an event the platform "
        "chooses at sync time (options.event_id, primary_slug or slug_template)",
    }


def render(result: Preview) -> list[str]:
    """Human lines for the terminal."""
    lines = [f"preview of a {result.source} delivery for tenant {result.tenant}"]
    lines += [f"  note: {note}" for note in result.notes]
    if result.error:
        where = f" at {result.error['field']}" if result.error["field"] else ""
        lines.append(f"  would be quarantined{where}: {result.error['reason']}")
    for entry in result.bookings:
        lines.append(f"booking {entry['booking_id']} ({entry['status']})")
        if "name" not in entry:
            lines.append(f"  {entry['effect']}")
            continue
        lines += [
            f"  event name: {entry['name']}",
            f"  start:      {entry['start_local']}  (UTC {entry['start_utc']})",
            f"  end:        {entry['end_local']}  (UTC {entry['end_utc']})",
            f"  zone:       {entry['zone']}",
            f"  location:   {entry['location'] or '-'}",
            f"  meeting:    {entry['meeting_url'] or '-'}",
            f"  branding:   {entry['branding']}",
        ]
        if "effect" in entry:
            lines.append(f"  effect:     {entry['effect']}")
        request = entry["platform"]
        lines.append(f"  {request['kind']} request: {request['method']} {request['path']}")
        if request.get("note"):
            lines.append(f"    {request['note']}")
        if request["body"] is not None:
            lines += [f"    {line}" for line in json.dumps(request["body"], indent=2).splitlines()]
    return lines
