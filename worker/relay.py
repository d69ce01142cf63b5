"""The relay: republish bookings that are stored but whose sync never ran.

Publishing happens after commit, so a broker outage, a crash between commit and publish, or a
worker killed mid-task leaves a booking ``pending`` with nothing in the queue for it. Every
``relay_interval`` seconds beat runs this sweep: bookings pending for longer than
``relay_after`` are published again. Syncs are idempotent, so an extra publish costs one no-op.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from worker.intake import publish
from worker.runtime import Runtime
from worker.store.models import Booking


def relay_once(rt: Runtime, *, now: datetime, limit: int = 1000) -> int:
    """Republish overdue pending bookings; returns how many were published."""
    overdue = now - timedelta(seconds=rt.settings.relay_after)
    with rt.store.transaction() as session:
        ids = list(
            session.scalars(
                select(Booking.id)
                .where(Booking.state == "pending", Booking.queued_at < overdue)
                .order_by(Booking.queued_at)
                .limit(limit)
            )
        )
        if ids:
            session.execute(update(Booking).where(Booking.id.in_(ids)).values(queued_at=now))
    return publish(rt, ids)
