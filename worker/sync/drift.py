"""Drift: what a platform holds for a tenant, compared with what every settled booking of the
tenant should have there (``worker.sync.reconcile`` runs it; the kinds are explained there).

Reads only: the settled bookings in scope (``settled``), every reference of ours
(``all_references``), and the comparison (``compare``), which names each difference as one
``Drift`` item (ids, kinds and field names, never names or emails).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from config.tenants import Tenant
from integrations.booking import BookingMessage, BookingStatus, booking_key, booking_reference
from integrations.platform import EventSpec, Platform, PlatformEvent, event_spec
from worker.runtime import Runtime
from worker.store.models import AttemptRow, Booking, EventLink

OUR_REFERENCE = re.compile(r"^bw-[0-9a-f]{32}$")  # what ``booking_reference`` makes


class DriftKind(StrEnum):
    missing = "missing"
    duplicate = "duplicate"
    stale = "stale"
    open_but_cancelled = "open_but_cancelled"
    orphan = "orphan"


@dataclass
class Drift:
    """One difference between a booking and its platform. ``repair`` says what ``--repair``
    did (``None``: not asked); ``repaired`` whether that converged it."""

    kind: DriftKind
    tenant: str
    platform: str
    booking_id: int | None
    event_id: str | None
    detail: str
    repair: str | None = None
    repaired: bool = False


@dataclass
class Settled:
    """A settled booking in scope, with its link and what it should look like."""

    id: int
    source: str
    version: int
    message: BookingMessage
    link: EventLink | None
    references: frozenset[str]

    @property
    def cancelled(self) -> bool:
        return self.message.status is BookingStatus.cancelled

    @property
    def on_guest_list(self) -> bool:
        """Whether its platform keeps it as people on a guest list (the link's details hold
        their platform ids, ``LinkedEvent.details["guests"]``) rather than as an event."""
        guests = (self.link.details or {}).get("guests") if self.link else None
        return isinstance(guests, Mapping)

    @property
    def people(self) -> frozenset[str]:
        """The platform ids of its people on a guest-list platform (none on event platforms)."""
        guests = (self.link.details or {}).get("guests") if self.link else None
        return frozenset(guests.values()) if isinstance(guests, Mapping) else frozenset()


Found = Callable[[DriftKind, "Settled | None", str | None, str], None]  # notes one drift item


def all_references(rt: Runtime) -> dict[str, int]:
    """Every booking's reference (of every tenant: tenants may share a platform account)."""
    with rt.store.read() as conn:
        rows = conn.execute(select(Booking.id, Booking.tenant, Booking.source, Booking.external_id))
        return {booking_reference(booking_key(t, s, e)): b for b, t, s, e in rows}


def settled(rt: Runtime, tenant: str, since: datetime | None) -> list[Settled]:
    """The tenant's settled bookings whose event ends at or after ``since``."""
    query = (
        select(Booking, EventLink)
        .outerjoin(EventLink, EventLink.booking_id == Booking.id)
        .where(
            Booking.tenant == tenant,
            Booking.applied_version >= Booking.version,
            Booking.state != "failed",
        )
        .order_by(Booking.id)
    )
    found: list[Settled] = []
    with rt.store.transaction() as session:
        for booking, link in session.execute(query).all():
            try:
                message = BookingMessage.model_validate(booking.message)
            except ValueError:
                continue  # sync reports a booking that no longer validates
            if link is None and message.status is BookingStatus.cancelled:
                continue  # cancelled before it had an event: nothing to hold
            ends = message.end or (link.ends_at if link else None)
            if since is not None and ends is not None and ends < since:
                continue
            session.expunge(booking)
            if link is not None:
                session.expunge(link)
            key = booking_key(tenant, booking.source, booking.external_id)
            refs = frozenset({booking_reference(key), booking_reference(message.key)})
            found.append(Settled(booking.id, booking.source, booking.version, message, link, refs))
    return found


def _written(
    rt: Runtime, bookings: list[Settled], events: Mapping[str, PlatformEvent]
) -> dict[int, set[str]]:
    """booking id -> the events a call of ours wrote to for it (their id is in the call's
    path): proof that its people there were put there by us."""
    ids = [b.id for b in bookings if b.people]
    written: dict[int, set[str]] = defaultdict(set)
    if not ids:
        return written
    with rt.store.read() as conn:
        rows = conn.execute(
            select(AttemptRow.booking_id, AttemptRow.path)
            .where(AttemptRow.booking_id.in_(ids), AttemptRow.method != "GET")
            .distinct()
        )
        for booking_id, path in rows:
            if booking_id is not None:
                written[booking_id] |= set(path.split("/")) & events.keys()
    return written


def compare(
    rt: Runtime,
    tenant: Tenant,
    platform: Platform,
    bookings: list[Settled],
    events: list[PlatformEvent],
    known: Mapping[str, int],
    *,
    now: datetime,
) -> list[Drift]:
    kind = tenant.platform.kind
    by_id = {e.event_id: e for e in events}
    by_reference: dict[str, list[PlatformEvent]] = defaultdict(list)
    for event in events:  # another system's reference in the same field is not ours
        if event.reference is not None and event.open and OUR_REFERENCE.match(event.reference):
            by_reference[event.reference].append(event)
    written = _written(rt, bookings, by_id)
    claimed = {  # (event, person) pairs a confirmed booking of ours holds
        (b.link.event_id, pid) for b in bookings if b.link and not b.cancelled for pid in b.people
    }
    found: list[Drift] = []

    def drift(kind_: DriftKind, booking: Settled | None, event_id: str | None, why: str) -> None:
        booking_id = booking.id if booking else None
        found.append(Drift(kind_, tenant.id, kind, booking_id, event_id, why))

    for booking in bookings:
        if booking.on_guest_list:
            _compare_guests(booking, by_id, written[booking.id], claimed, drift)
            continue
        spec = None if booking.cancelled else spec_for(tenant, platform, booking.message)
        _compare_event(booking, spec, by_id, by_reference, drift, now=now)
    ours = {ref for b in bookings for ref in b.references}
    for reference, carrying in by_reference.items():
        if reference not in known and reference not in ours:
            for event in carrying:
                drift(DriftKind.orphan, None, event.event_id, "carries a reference we never made")
    return found


def _compare_event(
    booking: Settled,
    spec: EventSpec | None,
    by_id: Mapping[str, PlatformEvent],
    by_reference: Mapping[str, list[PlatformEvent]],
    drift: Found,
    *,
    now: datetime,
) -> None:
    link = booking.link
    linked = by_id.get(link.event_id) if link else None
    carrying = [e for ref in booking.references for e in by_reference.get(ref, ())]
    if spec is None:  # cancelled: nothing of it may stay open
        still_open = {e.event_id for e in carrying} | (
            {linked.event_id} if linked and linked.open else set()
        )
        for event_id in sorted(still_open):
            drift(
                DriftKind.open_but_cancelled,
                booking,
                event_id,
                "open though the booking is cancelled",
            )
        return
    if linked is None:
        gone = link.event_id if link else None
        drift(DriftKind.missing, booking, gone, "its event is not on the platform")
        for event in carrying:
            why = "carries the booking's reference but is not its linked event"
            drift(DriftKind.orphan, booking, event.event_id, why)
        return
    differences = _differences(linked, spec, now=now)
    if differences:
        drift(DriftKind.stale, booking, linked.event_id, "differs: " + ", ".join(differences))
    for event in carrying:
        if event.event_id != linked.event_id:
            drift(DriftKind.duplicate, booking, event.event_id, f"copy of event {linked.event_id}")


def _compare_guests(
    booking: Settled,
    by_id: Mapping[str, PlatformEvent],
    written: set[str],
    claimed: set[tuple[str, str]],
    drift: Found,
) -> None:
    """A guest-list booking is its people on the linked event, going, and nowhere else we put
    them (unless another booking of ours holds them there: one person, two parties)."""
    assert booking.link is not None
    target = booking.link.event_id
    people = booking.people

    def going(event_id: str) -> set[str]:
        guests = by_id[event_id].guests if event_id in by_id else None
        return {pid for pid in people if (guests or {}).get(pid)}

    others = sorted(written - {target})
    if booking.cancelled:
        for event_id in [target, *others]:
            held = going(event_id) - {pid for e, pid in claimed if e == event_id}
            if held:
                why = f"{len(held)} of its people still going though the booking is cancelled"
                drift(DriftKind.open_but_cancelled, booking, event_id, why)
        return
    absent = people - going(target)
    if absent:
        drift(DriftKind.missing, booking, target, f"{len(absent)} of its people not going")
    for event_id in others:
        held = going(event_id) - {pid for e, pid in claimed if e == event_id}
        if held:
            why = f"{len(held)} of its people still going on this old event (now {target})"
            drift(DriftKind.stale, booking, event_id, why)


def _differences(event: PlatformEvent, spec: EventSpec, *, now: datetime) -> list[str]:
    """The booking's fields the event does not hold (a field the platform has no place for,
    ``None``, is not compared). Times to the minute: Gomry keeps no seconds."""
    differences = []
    if event.name is not None and event.name != spec.name:
        differences.append("name")
    same_times = _minute(event.start) == _minute(spec.start) and (
        _minute(event.end) == _minute(spec.end)
    )
    if _minute(event.start) != _minute(spec.start):
        differences.append("start")
    if _minute(event.end) != _minute(spec.end):
        differences.append("end")
    # Gomry sends times in UTC when the booking's zone cannot name them (clocks going back)
    moved_zone = event.timezone is not None and event.timezone != spec.timezone
    if moved_zone and not (event.timezone == "UTC" and same_times):
        differences.append("timezone")
    wanted = spec.location or spec.meeting_url
    if event.location is not None and wanted and event.location != wanted:
        differences.append("location")
    if not event.open and (event.end or spec.end) > now:  # an event over is closed anyway
        differences.append("closed")
    return differences


def _minute(value: datetime | None) -> datetime | None:
    return value.replace(second=0, microsecond=0) if value else None


def spec_for(tenant: Tenant, platform: Platform, message: BookingMessage) -> EventSpec:
    brand = tenant.brand_for(message.client)
    return event_spec(message, brand, name_max=platform.name_max)
