"""The relay: republish bookings that are stored but whose sync never ran.

Publishing happens after commit, so a broker outage, a crash between commit and publish, or a
worker killed mid-task leaves a booking ``pending`` with nothing in the queue for it. Every
``relay_interval`` seconds beat runs this sweep: bookings pending for longer than
``relay_after`` are published again. Syncs are idempotent, so an extra publish costs one no-op.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from worker.intake.record import publish, publish_deliveries
from worker.runtime import Runtime
from worker.store.models import Booking, Delivery


def relay_once(rt: Runtime, *, now: datetime, limit: int = 1000) -> int:
    """Republish overdue pending bookings and deferred deliveries; returns how many."""
    overdue = now - timedelta(seconds=rt.settings.relay_after)
    with rt.store.transaction() as session:
        deliveries = list(
            session.scalars(
                select(Delivery.id)
                .where(Delivery.status == "received", Delivery.queued_at < overdue)
                .order_by(Delivery.id)
                .limit(limit)
            )
        )
        if deliveries:
            session.execute(
                update(Delivery).where(Delivery.id.in_(deliveries)).values(queued_at=now)
            )
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
    return publish_deliveries(rt, deliveries) + publish(rt, ids)
