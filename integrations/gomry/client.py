"""Gomry client: the booking's one ticketed event, and optionally the customer's ticket on it.

Semantics that matter (docs/platform-gomry.md):

- ``start.utc``/``end.utc`` on requests are *wall-clock* times in ``timezone`` (18:00
  America/New_York comes back as 22:00Z); we send naive local ``YYYY-MM-DDTHH:MM``. A wall-clock
  time that happens twice (clocks go back) or names another instant cannot carry the booking's
  instant, so then both times go in zone ``UTC`` and the description names the booking's zone
  (``event_zone``).
- An ``https://`` location makes the event virtual; anything else is a physical address.
- ``Idempotency-Key`` (derived from the booking id) makes create retries replay for 24 h. Past
  that window ``find_event`` finds the event by the booking reference we put in its description.
- PATCH takes at least one field and rejects unknown ones; ``venue`` is replaced whole. We read
  the event first and send only what differs (the venue merged over what is stored), so a
  repeat of an update that already landed sends nothing.
- There is no delete: cancelling closes registration and hides the event (``is_private``).
- 60 requests / 10 s per IP: every request first takes a slot from the shared limiter
  (``platform.rate_limit``); a 429 is a TransientError and the task's retry policy backs off.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel

from config.tenants import PlatformConfig
from integrations.errors import PermanentError
from integrations.gomry.schemas import (
    Attendee,
    AttendeePage,
    EventEnvelope,
    EventPage,
    GomryEvent,
    GomryOptions,
    IssuedTickets,
    TicketClassList,
)
from integrations.http import call, credential, parse_body, refusing_create
from integrations.platform import (
    AttendeeRecord,
    Deliverable,
    EventSpec,
    LinkedEvent,
    PlatformContext,
    PlatformEvent,
    split_name,
)
from integrations.ratelimit import SharedLimiter, host_scope

TARGET = "gomry"
PAGE_SIZE = 200
HELD = ("valid", "checked_in", "pending_approval")  # tickets that already count as "has one"
NOT_EVENT_FIELDS = {"default_location", "add_customer_as_attendee", "ticket_class"} | {
    "send_attendee_email"
}
M = TypeVar("M", bound=BaseModel)


class GomryPlatform:
    slug: ClassVar[str] = "gomry"
    name_max: ClassVar[int] = 200
    keyed_creates: ClassVar[bool] = True
    Options = GomryOptions

    def __init__(
        self, config: PlatformConfig, http: httpx.Client, *, context: PlatformContext | None = None
    ) -> None:
        api_key = credential(config.credentials, "api_key", owner="gomry platform")
        self._base = config.base_url
        self._headers = {"X-API-KEY": api_key}
        self._options = GomryOptions.model_validate(config.options)
        self._http = http
        self._limiter = SharedLimiter(
            config.rate_limit,
            redis_url=context.redis_url if context else None,
            tenant=context.tenant if context else None,
            scope=host_scope(self.slug, config.base_url),
        )

    # -- the Platform interface ------------------------------------------------------------

    def create_event(self, spec: EventSpec, *, idempotency_key: str) -> LinkedEvent:
        body = self.create_body(spec)
        with refusing_create():
            response = self._call("POST", "/events", json=body, key=idempotency_key)
        event = parse_body(TARGET, EventEnvelope, response).data
        replayed = response.headers.get("idempotent-replay") == "true"
        return self._with_customer(LinkedEvent(event.id, replayed=replayed), spec)

    def update_event(self, linked: LinkedEvent, spec: EventSpec) -> LinkedEvent:
        current = parse_body(
            TARGET, EventEnvelope, self._call("GET", f"/events/{linked.event_id}")
        ).data
        changes = self._changes(current, spec)
        if changes:
            self._call("PATCH", f"/events/{linked.event_id}", json=changes)
        return self._with_customer(linked, spec)

    def cancel_event(self, linked: LinkedEvent) -> LinkedEvent:
        body = {"registration_status": "closed", "is_private": True}
        self._call("PATCH", f"/events/{linked.event_id}", json=body)
        return linked

    def find_event(self, reference: str) -> LinkedEvent | None:
        marker = reference_line(reference)
        for event in self._pages(EventPage, "/events"):
            if marker in (event.description or ""):
                return LinkedEvent(event.id)
        return None

    def fetch_deliverable(self, linked: LinkedEvent) -> Deliverable:
        event = parse_body(
            TARGET, EventEnvelope, self._call("GET", f"/events/{linked.event_id}")
        ).data
        path = f"/events/{linked.event_id}/attendees"
        records = tuple(
            AttendeeRecord(
                name=" ".join(p for p in (a.first_name, a.last_name) if p) or None,
                email=a.email,
                status=a.status,
                attended=True if a.status == "checked_in" else None,
                checked_in_at=_instant(a.checked_in_at),
            )
            for a in self._pages(AttendeePage, path, status="valid,checked_in")
        )
        return Deliverable(ready=True, status=event.status or "active", attendees=records)

    def list_events(self, *, since: datetime | None) -> Iterator[PlatformEvent]:
        """Every event of the organisation, for the reconciler: ``GET /events`` paged with
        ``page``/``page_size`` (gomry.md §3.3). Its filters are not documented, so ``since``
        is applied here: events that ended before it are left out."""
        for event in self._pages(EventPage, "/events"):
            start = _instant(event.start.utc)
            end = _instant(event.end.utc) if event.end else None
            last = end or start
            if since is not None and last is not None and last < since:
                continue
            venue = event.venue.address if event.venue else None
            yield PlatformEvent(
                event_id=event.id,
                reference=_reference(event.description),
                name=event.name,
                start=start,
                end=end,
                timezone=event.start.timezone,
                location=event.meeting_url if event.is_virtual else venue,
                open=event.registration_status != "closed" and event.status != "cancelled",
            )

    # -- event fields ----------------------------------------------------------------------

    def create_body(self, spec: EventSpec) -> dict[str, Any]:
        """The ``POST /events`` body for ``spec``; pure (``bookwire preview`` shows it)."""
        return {**self._event_fields(spec), **self._defaults()}

    def _event_fields(self, spec: EventSpec) -> dict[str, Any]:
        location, _virtual = self._location(spec)
        zone = event_zone(spec.start, spec.end, spec.timezone)
        return {
            "name": spec.name,
            "start": wall_clock(spec.start, zone),
            "end": wall_clock(spec.end, zone),
            "location": location,
            "description": self._description(spec),
        }

    def _location(self, spec: EventSpec) -> tuple[str, bool]:
        """Gomry holds one location: a physical address wins (the meeting link then goes into
        the description); a meeting link alone makes the event virtual."""
        if spec.location:
            return spec.location, False
        if spec.meeting_url:
            return spec.meeting_url, True
        return self._options.default_location, False

    def _description(self, spec: EventSpec) -> str:
        parts = [spec.description] if spec.description else []
        if spec.location and spec.meeting_url:
            parts.append(f"Join online: {spec.meeting_url}")
        zone = event_zone(spec.start, spec.end, spec.timezone)
        if zone != spec.timezone:
            parts.append(f"Times shown in {zone}; local zone {spec.timezone}")
        parts.append(reference_line(spec.reference))
        return "\n\n".join(parts)

    def _defaults(self) -> dict[str, Any]:
        return self._options.model_dump(exclude_none=True, exclude=NOT_EVENT_FIELDS)

    def _changes(self, current: GomryEvent, spec: EventSpec) -> dict[str, Any]:
        """The PATCH body that brings ``current`` to ``spec``: only what differs."""
        fields = self._event_fields(spec)
        changes: dict[str, Any] = {}
        for name in ("name", "description"):
            if getattr(current, name) != fields[name]:
                changes[name] = fields[name]
        if _moved(current, spec):
            changes["start"], changes["end"] = fields["start"], fields["end"]
        location, virtual = self._location(spec)
        if virtual:
            if current.meeting_url != location or current.is_virtual is False:
                changes["location"] = location
        elif current.is_virtual or current.venue is None:
            changes["location"] = location  # virtual → physical: Gomry sets the venue from it
        elif current.venue.address != location:
            venue = current.venue.model_dump()  # read-modify-write: PATCH replaces it whole
            changes["venue"] = {**venue, "name": location, "address": location}
        wanted = {
            "registration_status": "open",
            "is_private": bool(self._options.is_private),
            "capacity": self._options.capacity,
            "require_approval": self._options.require_approval,
            "currency": self._options.currency.lower() if self._options.currency else None,
        }
        for name, value in wanted.items():
            if value is not None and getattr(current, name) != value:
                changes[name] = value
        return changes

    # -- the customer's ticket -------------------------------------------------------------

    def _with_customer(self, linked: LinkedEvent, spec: EventSpec) -> LinkedEvent:
        """Give the booking's customer a ticket (option ``add_customer_as_attendee``): look for
        one first, create with an Idempotency-Key per booking and email, remember its id."""
        customer = spec.customer
        if not self._options.add_customer_as_attendee or not customer or not customer.email:
            return linked
        email = customer.email.lower()
        key = hashlib.sha256(email.encode()).hexdigest()[:16]
        if (linked.details.get("attendee") or {}).get("key") == key:
            return linked
        path = f"/events/{linked.event_id}/attendees"
        held: Attendee | None = next(
            (
                a
                for a in self._pages(AttendeePage, path, status=",".join(HELD))
                if (a.email or "").lower() == email
            ),
            None,
        )
        if held is None:
            first, last = split_name(customer)
            body = {
                "ticket_class_id": self._ticket_class_id(linked.event_id),
                "contact": {"email": email, "first_name": first, "last_name": last},
                "quantity": 1,
                "send_email": self._options.send_attendee_email,
            }
            response = self._call("POST", path, json=body, key=f"{spec.reference}-attendee-{key}")
            issued = parse_body(TARGET, IssuedTickets, response).data
            if not issued:
                raise PermanentError(f"{TARGET}: no ticket issued for the customer")
            held = issued[0]
        return LinkedEvent(
            linked.event_id,
            details={**linked.details, "attendee": {"key": key, "id": held.id}},
            replayed=linked.replayed,
        )

    def _ticket_class_id(self, event_id: str) -> str:
        classes = parse_body(
            TARGET, TicketClassList, self._call("GET", f"/events/{event_id}/ticket-classes")
        )
        for ticket_class in classes.data:
            if ticket_class.name == self._options.ticket_class:
                return ticket_class.id
        raise PermanentError(f"{TARGET}: event has no ticket class {self._options.ticket_class!r}")

    # -- transport -------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        self._limiter.acquire()
        headers = {**self._headers, **({"Idempotency-Key": key} if key else {})}
        return call(self._http, TARGET, method, f"{self._base}{path}", headers=headers, **kwargs)

    def _pages(
        self, model: type[EventPage] | type[AttendeePage], path: str, **query: Any
    ) -> Iterator[Any]:
        page = 1
        while True:
            params = {**query, "page": page, "page_size": PAGE_SIZE}
            payload = parse_body(TARGET, model, self._call("GET", path, params=params))
            yield from payload.data
            if page >= payload.pagination.total_pages:
                return
            page += 1


def wall_clock(instant: datetime, timezone: str) -> dict[str, str]:
    """Gomry's request time: the local wall-clock time of ``instant`` in ``timezone``."""
    local = instant.astimezone(ZoneInfo(timezone))
    return {"utc": local.strftime("%Y-%m-%dT%H:%M"), "timezone": timezone}


def event_zone(start: datetime, end: datetime, timezone: str) -> str:
    """The zone the event's times are sent in: the booking's own, or ``UTC`` when a wall-clock
    time there would not name the booking's minute.

    Gomry reads ``start.utc``/``end.utc`` as local time in ``timezone`` and documents nothing
    for a local time that happens twice (clocks go back) or never. A London event from 00:30Z
    to 01:30Z on the night the clocks go back reads 01:30 → 01:30; so when either time is not
    the one reading of its wall clock, both go in UTC (the two zones must match on PATCH)."""
    zone = ZoneInfo(timezone)
    for instant in (start, end):
        wall = instant.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
        minute = instant.astimezone(UTC).replace(second=0, microsecond=0)
        readings = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
        if readings != {minute}:
            return "UTC"
    return timezone


def reference_line(reference: str) -> str:
    """The line in the event description that lets ``find_event`` recognise our event."""
    return f"Booking reference: {reference}"


REFERENCE = re.compile(r"^Booking reference: (bw-[0-9a-f]{32})$", re.MULTILINE)


def _reference(description: str | None) -> str | None:
    """The booking reference in an event description (``reference_line``), if there is one."""
    found = REFERENCE.search(description or "")
    return found[1] if found else None


def _moved(current: GomryEvent, spec: EventSpec) -> bool:
    """Whether the stored times differ from what ``_event_fields`` sends: other instants, or
    another zone (the booking's, or the ``UTC`` of ``event_zone``)."""
    if current.end is None:
        return True
    zone = event_zone(spec.start, spec.end, spec.timezone)
    for stored, wanted in ((current.start, spec.start), (current.end, spec.end)):
        if stored.timezone != zone:
            return True
        instant = _instant(stored.utc)
        if instant is None or instant != wanted.replace(second=0, microsecond=0):
            return True
    return False


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
