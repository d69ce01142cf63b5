"""A booking's deliveries: which inbox rows carried it, and what each did to it.

``bookings.last_delivery_id`` only names the latest; a timeline needs all of them, including the
stale ones (older than what we had: a reordered retry, a late duplicate from the vendor), since
"the vendor sent it, why did nothing change?" is the first question ops ask. ``intake.accept``
calls ``remember`` for every message it folds in; a replay keeps the first outcome.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from integrations.booking import BookingMessage
from worker.store.models import Booking, BookingDelivery


def remember(
    session: Session, message: BookingMessage, moved_id: int | None, *, now: datetime
) -> None:
    """Link ``message``'s delivery to its booking: ``accepted`` if it moved the booking
    (``moved_id``), else ``stale``."""
    if message.delivery_id is None:
        return
    booking_id = moved_id
    if booking_id is None:
        booking_id = session.scalar(
            select(Booking.id).where(
                Booking.tenant == message.tenant,
                Booking.source == message.source,
                Booking.external_id == message.booking_id,
            )
        )
        if booking_id is None:
            return
    outcome = "accepted" if moved_id is not None else "stale"
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(BookingDelivery).values(
        booking_id=booking_id, delivery_id=message.delivery_id, outcome=outcome, at=now
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["booking_id", "delivery_id"]))
