"""Bring a booking's one event up to the booking's latest state. Idempotent; safe to repeat.

Level-triggered: the task carries only a booking id; this reads what the booking should look
like (``version``) and how far the platform has caught up (``applied_version``), and closes the
gap. Running it twice, concurrently or after a crash converges on the same single event:

- a per-booking lock serialises workers; the holder loops until nothing is pending;
- the first create carries ``Idempotency-Key`` derived from the booking id, so a crash between
  the platform's answer and our commit replays the same event instead of making a second;
- the unique ``event_links`` row records the event once, keyed by booking.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.tenants import BrandConfig
from integrations.booking import BookingMessage, BookingStatus, booking_reference
from integrations.errors import ConfigurationError
from integrations.http import Attempt, recording
from integrations.platform import LinkedEvent, Platform, event_spec
from worker import attempts as attempts_store
from worker import failures
from worker.runtime import Runtime
from worker.store.models import Attempt as AttemptRow
from worker.store.models import Booking, EventLink

log = logging.getLogger(__name__)
MAX_ROUNDS = 5
# Platforms replay an Idempotency-Key for 24 h; past this age we no longer rely on it.
IDEMPOTENCY_WINDOW_MARGIN = timedelta(hours=23)


@dataclass(frozen=True)
class SyncResult:
    outcome: str  # created | recovered | updated | cancelled | up-to-date | busy | missing
    event_id: str | None = None


def sync_booking(rt: Runtime, booking_id: int, *, now: datetime) -> SyncResult:
    """Apply the booking's latest state to its platform event. Raises TransientError to retry."""
    result = SyncResult("up-to-date")
    for _ in range(MAX_ROUNDS):
        with rt.booking_lock(booking_id) as acquired:
            if not acquired:
                return SyncResult("busy")
            while True:
                step = _apply_once(rt, booking_id, now=now)
                if step is None:
                    break
                result = step
        if not _pending(rt, booking_id):  # a newer version may have landed as we let go
            return result
    return result


def fail(rt: Runtime, booking_id: int, reason: str, *, now: datetime, attempts: int = 1) -> None:
    """Record a permanent failure: the booking stops retrying until someone replays it."""
    with rt.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        if booking is None:
            return
        booking.state = "failed"
        failures.record(
            session,
            tenant=booking.tenant,
            source=booking.source,
            stage="sync",
            reason=reason,
            booking_id=booking_id,
            delivery_id=booking.last_delivery_id,
            attempts=attempts,
            now=now,
        )


def _pending(rt: Runtime, booking_id: int) -> bool:
    with rt.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        return booking is not None and booking.applied_version < booking.version


def _apply_once(rt: Runtime, booking_id: int, *, now: datetime) -> SyncResult | None:
    with rt.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        if booking is None:
            return SyncResult("missing")
        if booking.applied_version >= booking.version:
            return None
        version = booking.version
        message = BookingMessage.model_validate(booking.message)
        link = session.get(EventLink, booking_id)
        link_event = None
        if link is not None:
            link_event = (LinkedEvent(link.event_id, link.details or {}), link.event_state)
        look_first = link is None and _window_may_have_passed(session, booking_id, now)
    tenant = rt.tenant(message.tenant)
    if tenant is None:
        raise ConfigurationError(f"tenant {message.tenant!r} is no longer configured")
    platform = rt.platform(tenant)
    attempts: list[Attempt] = []
    try:
        with recording(attempts.append):
            brand = tenant.brand_for(message.client)  # the client's overrides, if any
            outcome, state, linked = _call_platform(
                platform, message, link_event, brand, look_first=look_first
            )
    except BaseException:
        attempts_store.record(rt, booking_id, attempts)
        raise
    kind = tenant.platform.kind
    _commit(rt, booking_id, version, message, outcome, state, linked, kind, now, attempts)
    log.info(
        "booking synced",
        extra={
            "booking": booking_id,
            "outcome": outcome.outcome,
            "event": outcome.event_id,
            "tenant": message.tenant,
        },
    )
    return outcome


def _call_platform(
    platform: Platform,
    message: BookingMessage,
    link_event: tuple[LinkedEvent, str] | None,
    brand: BrandConfig,
    *,
    look_first: bool = False,
) -> tuple[SyncResult, str, LinkedEvent | None]:
    """One platform step. The platform returns the LinkedEvent to store: its id may change
    (Gatsby moves a rescheduled booking's people to another event) and its details carry
    what the platform needs next time (guest ids)."""
    if message.status is BookingStatus.cancelled:
        if link_event and link_event[1] != "cancelled":
            linked = platform.cancel_event(link_event[0])
            return SyncResult("cancelled", linked.event_id), "cancelled", linked
        kept = link_event[0] if link_event else None
        return SyncResult("up-to-date", kept.event_id if kept else None), "cancelled", kept
    spec = event_spec(message, brand, name_max=platform.name_max)
    if link_event is None and look_first:
        found = platform.find_event(spec.reference)
        if found is not None:  # an earlier create did happen: adopt it, bring it up to date
            linked = platform.update_event(found, spec)
            return SyncResult("recovered", linked.event_id), "active", linked
    if link_event is None:
        linked = platform.create_event(spec, idempotency_key=booking_reference(message.key))
        return SyncResult("created", linked.event_id), "active", linked
    linked = platform.update_event(link_event[0], spec)
    return SyncResult("updated", linked.event_id), "active", linked


def _window_may_have_passed(session: Session, booking_id: int, now: datetime) -> bool:
    """True when a create was attempted before (its outcome never recorded) long enough ago
    that the platform's 24-hour idempotency window may have closed: the key alone would no
    longer prevent a second event, so look the event up by our reference first."""
    first = session.scalar(
        select(func.min(AttemptRow.at)).where(
            AttemptRow.booking_id == booking_id, AttemptRow.method == "POST"
        )
    )
    return first is not None and now - first > IDEMPOTENCY_WINDOW_MARGIN


def _commit(
    rt: Runtime,
    booking_id: int,
    version: int,
    message: BookingMessage,
    outcome: SyncResult,
    state: str,
    linked: LinkedEvent | None,
    platform: str,
    now: datetime,
    attempts: list[Attempt],
) -> None:
    with rt.store.transaction() as session:
        attempts_store.add(session, booking_id, attempts)
        if outcome.event_id is not None:
            values = {
                "booking_id": booking_id,
                "platform": platform,
                "event_id": outcome.event_id,
                "event_state": state,
                "details": dict(linked.details) if linked else None,
                "starts_at": message.start,
                "ends_at": message.end,
                "created_at": now,
                "updated_at": now,
            }
            if state == "cancelled":
                values.pop("starts_at"), values.pop("ends_at")
            dialect = session.get_bind().dialect.name
            insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            stmt = insert(EventLink).values(**values)
            changes = {  # event_id too: a guest-list platform may move the booking
                k: v for k, v in values.items() if k not in ("booking_id", "created_at", "platform")
            }
            session.execute(stmt.on_conflict_do_update(index_elements=["booking_id"], set_=changes))
        session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.applied_version < version)
            .values(applied_version=version, state="synced", updated_at=now)
        )
        failures.resolve(session, booking_id=booking_id, now=now)
