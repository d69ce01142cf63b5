"""When a hand-off to the portal is due, and the beat sweep that queues it (no long Celery ETAs).

Due = the event's end instant + the tenant's grace period (``portal.grace_minutes``, else
``portal_grace_minutes``): elapsed time, not wall-clock time, so an event ending just before a
DST change is due exactly the grace period later. Beat runs ``bookwire.sweep_ended_events``
every ``portal_sweep_interval`` seconds; each sweep creates a ``handoffs`` row for
every event now due and queues ``bookwire.hand_off`` (booking id only) to run at once. A
long ETA would sit unacknowledged in Redis past the visibility timeout and run twice.

The rules (docs/handoff.md):

- only active events of bookings whose platform has caught up (no pending or failed sync:
  until then the event's end is not certain);
- a cancelled event never delivers; a reschedule moves ``event_links.ends_at`` (sync does) and
  so the due time: a delivery belongs to one end instant (its key is derived from it);
- an event moved to a later end after it was delivered delivers again after the new end, with
  a new key; moved to an earlier end, it does not (the client already has its album);
- events that ended over ``portal_lookback_hours`` ago are left alone (a portal configured
  today does not flood the client with last month's albums; an outage shorter than that is
  caught up);
- a delivery whose task was lost (broker outage, crash, expired lease) or whose deliverable
  was not ready is queued again ``REQUEUE_AFTER`` after it was last queued.

A platform's own "event ended" notification (``event_ended``) takes the same path, due now.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, aliased

from config.settings import Settings
from config.tenants import Tenant
from integrations.booking import booking_key
from integrations.portal import delivery_key
from worker.publish import send
from worker.runtime import Runtime
from worker.store.db import upsert_insert
from worker.store.models import Booking, EventLink, HandOff

log = logging.getLogger(__name__)
REQUEUE_AFTER = timedelta(minutes=5)
LIMIT = 500


def grace(settings: Settings, tenant: Tenant) -> timedelta:
    """How long after the event's end its delivery waits (uploads settle)."""
    portal = tenant.portal
    minutes = portal.grace_minutes if portal and portal.grace_minutes is not None else None
    return timedelta(minutes=settings.portal_grace_minutes if minutes is None else minutes)


def due_at(ends_at: datetime, wait: timedelta) -> datetime:
    """The instant the delivery of an event ending at ``ends_at`` is due."""
    return ends_at + wait


@dataclass(frozen=True)
class _Candidate:
    booking_id: int
    tenant: str
    key: str
    platform: str
    event_id: str
    ends_at: datetime
    delivery_id: int | None


def sweep(rt: Runtime, *, now: datetime, limit: int = LIMIT) -> int:
    """Queue the delivery of every event due by ``now``; returns how many were queued."""
    return publish(rt, queue_due(rt, now=now, limit=limit))


def queue_due(rt: Runtime, *, now: datetime, limit: int = LIMIT) -> list[int]:
    """Create (or re-queue) the pending deliveries due by ``now``; returns their booking ids.
    Idempotent: a second sweep finds the rows queued and leaves them alone."""
    portals = {tid: t for tid, t in rt.tenants.tenants.items() if t.portal is not None}
    if not portals:
        return []
    shortest = min(grace(rt.settings, t) for t in portals.values())
    earliest = now - timedelta(hours=rt.settings.portal_lookback_hours)
    queued: list[int] = []
    with rt.store.transaction() as session:
        rows = _candidates(
            session, portals, now=now, shortest=shortest, earliest=earliest, limit=limit
        )
        for row in rows:
            tenant = portals[row.tenant]
            due = due_at(row.ends_at, grace(rt.settings, tenant))
            if due > now:
                continue
            if _queue(session, row, tenant, due=due, now=now):
                queued.append(row.booking_id)
    if queued:
        log.info("portal deliveries due", extra={"count": len(queued)})
    return queued


def event_ended(rt: Runtime, *, platform: str, event_id: str, now: datetime) -> list[int]:
    """A platform said the event ended (its own notification): queue its delivery now, as the
    sweep would after the grace period. Returns the booking ids queued (several on a
    guest-list platform's shared event; none when already queued or delivered, cancelled,
    unsynced, or the tenant has no portal)."""
    queued: list[int] = []
    with rt.store.transaction() as session:
        hits = session.execute(
            select(EventLink.booking_id, Booking.tenant)
            .join(Booking, Booking.id == EventLink.booking_id)
            .where(EventLink.platform == platform, EventLink.event_id == event_id)
        ).all()
        for hit in hits:
            tenant = rt.tenant(hit.tenant)
            if tenant is None or tenant.portal is None:
                continue
            rows = _candidates(
                session,
                {tenant.id: tenant},
                now=None,
                shortest=timedelta(0),
                limit=1,
                booking_id=hit.booking_id,
            )
            queued += [r.booking_id for r in rows if _queue(session, r, tenant, due=now, now=now)]
    publish(rt, queued)
    return queued


def publish(rt: Runtime, booking_ids: Sequence[int]) -> int:
    """Queue ``bookwire.hand_off`` for each booking (ids only); a failed publish is left
    to the next sweep (the row stays pending and is queued again after REQUEUE_AFTER)."""
    return send(rt, "bookwire.hand_off", "booking", booking_ids)


def _candidates(
    session: Session,
    portals: dict[str, Tenant],
    *,
    now: datetime | None,
    shortest: timedelta,
    limit: int,
    earliest: datetime | None = None,
    booking_id: int | None = None,
) -> list[_Candidate]:
    """Active, synced events (ended by ``now - shortest`` unless ``now`` is None) with no
    delivery yet, or one that is pending (or leased and expired) and was queued a while ago."""
    row, later = HandOff, aliased(HandOff)
    delivered_since = (
        select(later.id)
        .where(
            later.booking_id == EventLink.booking_id,
            later.state == "delivered",
            later.ends_at >= EventLink.ends_at,
        )
        .correlate(EventLink)
        .exists()
    )
    query = (
        select(
            EventLink.booking_id,
            EventLink.platform,
            EventLink.event_id,
            EventLink.ends_at,
            Booking.tenant,
            Booking.source,
            Booking.external_id,
            row.id,
            row.state,
            row.queued_at,
            row.lease_until,
        )
        .join(Booking, Booking.id == EventLink.booking_id)
        .outerjoin(
            row, and_(row.booking_id == EventLink.booking_id, row.ends_at == EventLink.ends_at)
        )
        .where(
            EventLink.event_state == "active",
            EventLink.ends_at.is_not(None),
            Booking.tenant.in_(list(portals)),
            Booking.applied_version >= Booking.version,
            Booking.status != "cancelled",
            or_(row.id.is_(None), row.state.in_(("pending", "sending"))),
            ~delivered_since,
        )
        .order_by(EventLink.ends_at)
        .limit(limit)
    )
    if booking_id is not None:
        query = query.where(EventLink.booking_id == booking_id)
    if now is not None:
        query = query.where(EventLink.ends_at <= now - shortest)
    if earliest is not None:
        query = query.where(EventLink.ends_at > earliest)
    found: list[_Candidate] = []
    for r in session.execute(query):
        if (
            r.id is not None
            and now is not None
            and not _stale(r.state, r.queued_at, r.lease_until, now)
        ):
            continue
        found.append(
            _Candidate(
                booking_id=r.booking_id,
                tenant=r.tenant,
                key=delivery_key(booking_key(r.tenant, r.source, r.external_id), r.ends_at),
                platform=r.platform,
                event_id=r.event_id,
                ends_at=r.ends_at,
                delivery_id=r.id,
            )
        )
    return found


def _stale(state: str, queued_at: datetime, lease_until: datetime | None, now: datetime) -> bool:
    """A queued delivery worth queueing again: its task is lost or it was not ready."""
    if state == "sending" and lease_until is not None and lease_until > now:
        return False  # someone is sending it right now
    return queued_at <= now - REQUEUE_AFTER


def _queue(
    session: Session, row: _Candidate, tenant: Tenant, *, due: datetime, now: datetime
) -> bool:
    """Create the pending delivery (or mark an existing one queued now); True if queued."""
    assert tenant.portal is not None
    if row.delivery_id is not None:
        result = session.execute(
            update(HandOff)
            .where(
                HandOff.id == row.delivery_id,
                HandOff.state.in_(("pending", "sending")),
            )
            .values(queued_at=now, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = upsert_insert(dialect)
    result = session.execute(
        insert(HandOff)
        .values(
            booking_id=row.booking_id,
            tenant=row.tenant,
            portal=tenant.portal.kind,
            platform=row.platform,
            event_id=row.event_id,
            ends_at=row.ends_at,
            due_at=due,
            delivery_key=row.key,
            state="pending",
            attempts=0,
            queued_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
