"""``bookwire status``: where a booking is, from receipt to event, as ids, times and states."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from worker.runtime import Runtime
from worker.store.models import Attempt, Booking, Delivery, EventLink, Failure


def find_bookings(rt: Runtime, ref: str) -> list[Booking]:
    """Bookings matching ``ref``: ``#<n>`` (our id), ``tenant:source:id``, or the source's id."""
    with rt.store.transaction() as session:
        if ref.startswith("#") and ref[1:].isdigit():
            row = session.get(Booking, int(ref[1:]))
            return [row] if row else []
        parts = ref.split(":", 2)
        query = select(Booking)
        if len(parts) == 3:
            query = query.where(
                Booking.tenant == parts[0],
                Booking.source == parts[1],
                Booking.external_id == parts[2],
            )
        else:
            query = query.where(or_(Booking.external_id == ref))
        return list(session.scalars(query.limit(20)))


def timeline(rt: Runtime, booking_id: int) -> dict[str, Any]:
    """Everything known about one booking, without personal data."""
    with rt.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        if booking is None:
            raise LookupError(booking_id)
        link = session.get(EventLink, booking_id)
        delivery_ids = {booking.last_delivery_id} - {None}
        deliveries = (
            session.scalars(
                select(Delivery).where(Delivery.id.in_(delivery_ids)).order_by(Delivery.id)
            ).all()
            if delivery_ids
            else []
        )
        attempts = session.scalars(
            select(Attempt).where(Attempt.booking_id == booking_id).order_by(Attempt.id)
        ).all()
        failures = session.scalars(
            select(Failure).where(Failure.booking_id == booking_id).order_by(Failure.id)
        ).all()
        pending = booking.applied_version < booking.version
        return {
            "booking": f"#{booking.id}",
            "key": f"{booking.tenant}:{booking.source}:{booking.external_id}",
            "status": booking.status,
            "state": booking.state,
            "phase": _phase(booking.state, pending, link is not None),
            "version": booking.version,
            "applied_version": booking.applied_version,
            "received_at": booking.received_at.isoformat(),
            "updated_at": booking.updated_at.isoformat(),
            "event": None
            if link is None
            else {
                "platform": link.platform,
                "event_id": link.event_id,
                "state": link.event_state,
                "ends_at": link.ends_at.isoformat() if link.ends_at else None,
            },
            "last_delivery": [
                {"inbox_id": d.id, "status": d.status, "received_at": d.received_at.isoformat()}
                for d in deliveries
            ],
            "attempts": [
                {
                    "at": a.at.isoformat(),
                    "call": f"{a.method} {a.target}{a.path}",
                    "status": a.status,
                    "ms": round(a.duration_ms, 1),
                }
                for a in attempts
            ],
            "failures": [
                {
                    "id": f.id,
                    "stage": f.stage,
                    "reason": f.reason,
                    "attempts": f.attempts,
                    "resolved": f.resolved_at is not None,
                }
                for f in failures
            ],
        }


def _phase(state: str, pending: bool, has_event: bool) -> str:
    if state == "failed":
        return "failed (see failures; replay after fixing)"
    if pending:
        return "queued"
    return "event in sync" if has_event else "nothing to create (cancelled before creation)"
