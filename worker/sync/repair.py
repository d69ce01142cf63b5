"""Repairs for drift (``bookwire reconcile --repair``), each under the booking's lock and
recorded as attempts; what each kind gets is listed in ``worker.sync.reconcile``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import redis
from sqlalchemy import delete, func, select, update

from config.tenants import Tenant
from integrations.errors import BookwireError
from integrations.http import Attempt, recording
from integrations.platform import LinkedEvent, Platform
from worker.records import attempts as attempts_store
from worker.runtime import Runtime
from worker.store.models import AttemptRow, Booking, EventLink
from worker.sync import bookings as sync
from worker.sync.drift import Drift, DriftKind, Settled, spec_for

# Gomry and guest media replay a create key for 24 h from when they stored it, which is up to one
# call's timeout after the attempt's time (when the call was sent): a minute covers that
CREATE_KEY_WINDOW = timedelta(hours=24, minutes=1)
UNLOCKED = "not repaired: the broker (Redis), which holds the booking locks, is unreachable"


def converge(
    rt: Runtime,
    tenant: Tenant,
    platform: Platform,
    bookings: list[Settled],
    found: list[Drift],
    *,
    now: datetime,
) -> None:
    by_id = {b.id: b for b in bookings}
    resync: dict[int, Drift] = {}
    for item in found:
        booking = by_id.get(item.booking_id) if item.booking_id is not None else None
        if item.kind is DriftKind.orphan or booking is None:
            item.repair = "reported only: nothing proves it is ours"
            continue
        if item.kind is DriftKind.missing:
            replays_until = (
                None if booking.on_guest_list else _create_replayed_until(rt, booking.id)
            )
            if replays_until is not None and replays_until > now:
                item.repair = (
                    "deferred: the platform replays the booking's create until "
                    f"{replays_until.isoformat()} (idempotency window); a later run re-creates it"
                )
                continue
            resync[booking.id] = item
            continue
        try:
            _call_under_lock(rt, tenant, platform, booking, item, now=now)
        except redis.exceptions.RedisError:
            item.repair = UNLOCKED
    if resync:
        try:
            _resync(rt, [by_id[b] for b in resync], resync, now=now)
        except redis.exceptions.RedisError:
            for item in resync.values():  # the booking is pending again: the relay takes it
                item.repair = f"queued again ({UNLOCKED})"


def _call_under_lock(
    rt: Runtime,
    tenant: Tenant,
    platform: Platform,
    booking: Settled,
    item: Drift,
    *,
    now: datetime,
) -> None:
    """One platform call for one drift item, while no sync can run for the booking."""
    calls: list[Attempt] = []
    with rt.booking_locks([booking.id]) as held:
        if booking.id not in held or not _unchanged(rt, booking):
            item.repair = "skipped: the booking is syncing or changed; the next run looks again"
            return
        assert item.event_id is not None
        details = booking.link.details or {} if booking.link else {}
        try:
            with recording(calls.append):
                if item.kind is DriftKind.stale and not booking.on_guest_list:
                    assert booking.link is not None
                    spec = spec_for(tenant, platform, booking.message)
                    platform.update_event(LinkedEvent(booking.link.event_id, details), spec)
                    item.repair = "updated"
                else:  # duplicate, open_but_cancelled, a guest list's old event
                    platform.cancel_event(LinkedEvent(item.event_id, details))
                    item.repair = "released" if booking.on_guest_list else "cancelled"
            item.repaired = True
        except BookwireError as exc:
            item.repair = f"failed: {reason(exc)}"
        finally:
            attempts_store.record(rt.store, booking.id, calls)


def _resync(
    rt: Runtime, bookings: list[Settled], items: Mapping[int, Drift], *, now: datetime
) -> None:
    """Missing: forget the vanished event and let the normal sync path make it again."""
    with rt.store.transaction() as session:
        for booking in bookings:
            if not booking.on_guest_list:  # an event platform's event is gone: so is its link
                session.execute(delete(EventLink).where(EventLink.booking_id == booking.id))
            session.execute(
                update(Booking)
                .where(Booking.id == booking.id, Booking.version == booking.version)
                .values(applied_version=booking.version - 1, state="pending", queued_at=now)
            )
    results = sync.sync_bookings(rt, [b.id for b in bookings], now=now)
    for booking in bookings:
        item, result = items[booking.id], results[booking.id]
        if isinstance(result, BaseException):
            item.repair = f"queued again (sync: {reason(result)})"
        elif (
            result.event_id is not None
            and result.event_id == item.event_id
            and not booking.on_guest_list
        ):
            item.repair = (
                "not repaired: the platform replayed its first create (idempotency window); "
                "a later run creates it"
            )
        else:
            item.repair = f"synced again ({result.outcome}, event {result.event_id})"
            item.repaired = result.outcome != "busy"


def _create_replayed_until(rt: Runtime, booking_id: int) -> datetime | None:
    """Until when the platform may still replay the booking's last create: a re-create
    before then would get the deleted event back instead of a new one."""
    with rt.store.read() as conn:
        last = conn.execute(
            select(func.max(AttemptRow.at)).where(
                AttemptRow.booking_id == booking_id, AttemptRow.method == "POST"
            )
        ).scalar()
    return last + CREATE_KEY_WINDOW if last is not None else None


def _unchanged(rt: Runtime, booking: Settled) -> bool:
    with rt.store.read() as conn:
        row = conn.execute(
            select(Booking.version, Booking.applied_version).where(Booking.id == booking.id)
        ).first()
    return row is not None and row[0] == booking.version and row[1] >= row[0]


def reason(exc: BaseException) -> str:
    return str(exc)[:300] or type(exc).__name__
