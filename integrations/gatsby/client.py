"""Gatsby client: the booking's people on the guest list of a target event.

The contract: docs/platform-gatsby.md.

Gatsby's API creates no events for us: a tenant names the event its bookings join (options:
``event_id``, ``primary_slug`` or a ``slug_template`` rule). So for a booking:

- confirmed → its people (customer and attendees, by email) are on the target's guest list,
  RSVP ``Accepted``. We always read the guest list first and add only who is missing: Gatsby
  promises no deduplication, and a POST whose answer was lost must not add a person twice.
  Their ``personId``s are kept in the link's details (keyed by a hash of the email), so later
  steps address them by id.
- rescheduled to another target → added there first (by ``personId``), then released from the
  old event; people dropped from the booking are released too.
- cancelled → released: RSVP ``Declined`` (PUT) or removed (DELETE with a JSON body), per
  ``on_cancel``. Re-confirming accepts the same people again.
- after the event, ``attendanceStatus`` (``Attended`` / ``No Show``) is read back.

Every call carries ``Authorization: Bearer`` and ``organizationSlug``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from config.tenants import PlatformConfig
from integrations.branding import render
from integrations.errors import PermanentError
from integrations.gatsby.schemas import EventList, GatsbyOptions, Guest, GuestList
from integrations.http import call, credential, parse_body
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

TARGET = "gatsby"
SLUG_TTL_S = 300.0
ATTENDED = {"Attended": True, "No Show": False}
GOING = ("Invited", "Accepted")  # RSVPs that still hold a place on the event


class GatsbyPlatform:
    slug: ClassVar[str] = "gatsby"
    name_max: ClassVar[int] = 200  # Gatsby events are not ours: the name is never sent
    keyed_creates: ClassVar[bool] = False  # placing guests reads the list first: repeatable
    Options = GatsbyOptions

    def __init__(
        self, config: PlatformConfig, http: httpx.Client, *, context: PlatformContext | None = None
    ) -> None:
        token = credential(config.credentials, "token", owner="gatsby platform")
        self._options = GatsbyOptions.model_validate(config.options)
        self._base = config.base_url
        self._headers = {
            "Authorization": f"Bearer {token}",
            "organizationSlug": self._options.organization_slug,
        }
        self._http = http
        self._limiter = SharedLimiter(
            config.rate_limit,
            redis_url=context.redis_url if context else None,
            tenant=context.tenant if context else None,
            scope=host_scope(self.slug, config.base_url),
        )
        self._slugs: dict[str, tuple[str, float]] = {}

    # -- the Platform interface ------------------------------------------------------------

    def create_event(self, spec: EventSpec, *, idempotency_key: str) -> LinkedEvent:
        return self._place(LinkedEvent(self._target(spec)), spec)

    def update_event(self, linked: LinkedEvent, spec: EventSpec) -> LinkedEvent:
        target = self._target(spec)
        if target == linked.event_id:
            return self._place(linked, spec)
        placed = self._place(LinkedEvent(target, details=linked.details), spec)
        self._release(linked.event_id, _guests(linked).values())  # moved: off the old event
        return placed

    def cancel_event(self, linked: LinkedEvent) -> LinkedEvent:
        self._release(linked.event_id, _guests(linked).values())
        return linked

    def find_event(self, reference: str) -> LinkedEvent | None:
        """Nothing to find: Gatsby events are not created per booking, and guests are matched
        by email on every call, so an unknown outcome never needs a search."""
        return None

    def fetch_deliverable(self, linked: LinkedEvent) -> Deliverable:
        ours = set(_guests(linked).values())
        records = tuple(
            AttendeeRecord(
                name=" ".join(p for p in (g.firstName, g.lastName) if p) or None,
                email=g.email,
                status=g.attendanceStatus or g.rsvpStatus or "unknown",
                attended=ATTENDED.get(g.attendanceStatus or ""),
            )
            for g in self._guestlist(linked.event_id)
            if g.personId in ours
        )
        return Deliverable(ready=True, status="guest-list", attendees=records)

    def list_events(self, *, since: datetime | None) -> Iterator[PlatformEvent]:
        """Every event of the organisation with its guest list, for the reconciler: ``GET
        /event`` paged with ``limit``/``skip`` (past ones too, ``includePastEvents``), then each
        event's guest list. A guest still ``Invited`` or ``Accepted`` is going. With ``since``,
        events dated over a day before it are left out (Gatsby events carry only a start)."""
        limit, skip = self._options.page_size, 0
        while True:
            params = {"limit": limit, "skip": skip, "includePastEvents": "true"}
            params["showOrganizationEvents"] = "true"
            events = parse_body(
                TARGET, EventList, self._call("GET", "/event", params=params)
            ).events
            for event in events:
                start = _instant(event.primaryDate)
                if since is not None and start is not None and start < since - timedelta(days=1):
                    continue
                guests = {g.personId: g.rsvpStatus in GOING for g in self._guestlist(event.eventId)}
                yield PlatformEvent(
                    event_id=event.eventId,
                    reference=None,
                    name=event.name,
                    start=start,
                    end=None,
                    timezone=event.timezone,
                    location=event.locationAddress or event.locationName,
                    open=True,
                    guests=guests,
                )
            if len(events) < limit:
                return
            skip += limit

    # -- guests ----------------------------------------------------------------------------

    def _place(self, linked: LinkedEvent, spec: EventSpec) -> LinkedEvent:
        """Make the booking's people accepted guests of ``linked.event_id``; release the ones
        the booking no longer names."""
        event_id, known = linked.event_id, _guests(linked)
        people = spec.people if self._options.include_attendees else spec.people[:1]
        wanted = {_key(p.email or ""): p for p in people}
        listed = self._guestlist(event_id)
        by_email = {(g.email or "").lower(): g for g in listed}
        by_id = {g.personId: g for g in listed}
        placed: dict[str, str] = {}
        add: list[dict[str, Any]] = []
        for key, person in wanted.items():
            email = (person.email or "").lower()
            found = by_email.get(email) or by_id.get(known.get(key, ""))
            if found is not None:
                placed[key] = found.personId
            elif key in known:
                add.append({"personId": known[key]})
                placed[key] = known[key]
            else:
                first, last = split_name(person)
                add.append(
                    {
                        "firstName": first,
                        "lastName": last,
                        "email": email,
                        "notes": f"bookwire {spec.reference}",
                    }
                )
        if add:
            response = self._call("POST", f"/event/{event_id}/guestlist", json={"guests": add})
            for guest in parse_body(TARGET, GuestList, response).guests:
                by_id[guest.personId] = guest
                key = _key(guest.email or "")
                if key in wanted and key not in placed:
                    placed[key] = guest.personId
        accept = [
            {"personId": pid, "rsvpStatus": "Accepted"}
            for pid in placed.values()
            if by_id.get(pid) is None or by_id[pid].rsvpStatus != "Accepted"
        ]
        if accept:
            self._call("PUT", f"/event/{event_id}/guestlist", json={"guests": accept})
        dropped = [pid for key, pid in known.items() if key not in wanted]
        if dropped:
            self._release(event_id, dropped)
        return LinkedEvent(event_id, details={**linked.details, "guests": placed})

    def _release(self, event_id: str, person_ids: Iterable[str]) -> None:
        """Decline or remove these people on ``event_id`` (``on_cancel``); no-op if done."""
        ids = set(person_ids)
        if not ids:
            return
        listed = [g for g in self._guestlist(event_id) if g.personId in ids]
        path = f"/event/{event_id}/guestlist"
        if self._options.on_cancel == "remove":
            if listed:
                guests = [{"personId": g.personId} for g in listed]
                self._call("DELETE", path, json={"guests": guests})
            return
        declined = [
            {"personId": g.personId, "rsvpStatus": "Declined"}
            for g in listed
            if g.rsvpStatus != "Declined"
        ]
        if declined:
            self._call("PUT", path, json={"guests": declined})

    def _guestlist(self, event_id: str) -> list[Guest]:
        return parse_body(
            TARGET, GuestList, self._call("GET", f"/event/{event_id}/guestlist")
        ).guests

    # -- target event ----------------------------------------------------------------------

    def _target(self, spec: EventSpec) -> str:
        options = self._options
        if options.event_id:
            return options.event_id
        if options.primary_slug:
            return self._event_for_slug(options.primary_slug)
        assert options.slug_template and spec.booking is not None
        return self._event_for_slug(slugify(render(options.slug_template, spec.booking)))

    def _event_for_slug(self, slug: str) -> str:
        cached = self._slugs.get(slug)
        if cached and time.monotonic() - cached[1] < SLUG_TTL_S:
            return cached[0]
        limit, skip = self._options.page_size, 0
        while True:
            params = {"limit": limit, "skip": skip, "includePastEvents": "true"}
            params["showOrganizationEvents"] = "true"
            events = parse_body(
                TARGET, EventList, self._call("GET", "/event", params=params)
            ).events
            for event in events:
                if event.primarySlug == slug:
                    self._slugs[slug] = (event.eventId, time.monotonic())
                    return event.eventId
            if len(events) < limit:
                raise PermanentError(f"{TARGET}: no event with primarySlug {slug!r}")
            skip += limit

    # -- transport -------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self._limiter.acquire()
        url = f"{self._base}{path}"
        return call(self._http, TARGET, method, url, headers=self._headers, **kwargs)


def slugify(text: str) -> str:
    """Lower-case letters and digits joined by single hyphens, like Gatsby's URL slugs."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _key(email: str) -> str:
    """How a person is remembered in the link details: a hash, never the address itself."""
    return hashlib.sha256(email.lower().encode()).hexdigest()[:16]


def _guests(linked: LinkedEvent) -> Mapping[str, str]:
    guests = linked.details.get("guests")
    return guests if isinstance(guests, Mapping) else {}


def _instant(value: str | None) -> datetime | None:
    """An ISO 8601 time as an aware instant (UTC when it names no offset)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
