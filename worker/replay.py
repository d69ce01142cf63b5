"""Replays: a quarantined delivery parsed again after a fix; a failed booking queued again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from integrations import registry
from worker import intake
from worker.runtime import Runtime
from worker.store.models import Booking, Delivery


def replay_delivery(rt: Runtime, delivery_id: int, *, now: datetime) -> intake.Receipt:
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise LookupError(f"no delivery {delivery_id}")
        tenant, source = delivery.tenant, delivery.source
    connector = registry.connector(source)
    if connector is None or rt.tenant(tenant) is None:
        raise LookupError(f"delivery {delivery_id}: {tenant}/{source} is no longer configured")
    return intake.replay_delivery(
        rt, delivery_id, connector, rt.source_options(tenant, source), now=now
    )


def replay_booking(rt: Runtime, booking_id: int, *, now: datetime) -> None:
    """Put a failed booking back to pending and publish it (idempotent)."""
    with rt.store.transaction() as session:
        session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.state == "failed")
            .values(state="pending", queued_at=now)
        )
    intake.publish(rt, [booking_id])
