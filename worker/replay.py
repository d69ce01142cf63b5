"""Replays: a quarantined delivery parsed again after a fix; a failed booking queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from worker import intake
from worker.runtime import Runtime
from worker.store.models import Booking


def replay_delivery(rt: Runtime, delivery_id: int, *, now: datetime) -> intake.Receipt:
    """Parse a stored delivery with today's code and config; idempotent."""
    return intake.replay_delivery(rt, delivery_id, now=now)


def replay_booking(rt: Runtime, booking_id: int, *, now: datetime) -> None:
    """Put a failed booking back to pending and publish it (idempotent)."""
    with rt.store.transaction() as session:
        session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.state == "failed")
            .values(state="pending", queued_at=now)
        )
    intake.publish(rt, [booking_id])
