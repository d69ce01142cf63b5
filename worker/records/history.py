"""A booking's deliveries: which inbox rows carried it, and what each did to it.

``bookings.last_delivery_id`` only names the latest; a timeline needs all of them, including the
stale ones (older than what we had: a reordered retry, a late duplicate from the vendor), since
"the vendor sent it, why did nothing change?" is the first question ops ask. ``intake.accept``
calls ``remember`` for every message it folds in; a replay keeps the first outcome.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Connection, Executable, bindparam, select

from integrations.booking import BookingMessage
from worker.store.db import upsert_insert
from worker.store.models import Booking, BookingDelivery, table

_BOOKINGS = table(Booking)
_FIND_BOOKING = select(_BOOKINGS.c.id).where(
    _BOOKINGS.c.tenant == bindparam("tenant"),
    _BOOKINGS.c.source == bindparam("source"),
    _BOOKINGS.c.external_id == bindparam("external_id"),
)


def remember(
    conn: Connection, message: BookingMessage, moved_id: int | None, *, now: datetime
) -> None:
    """Link ``message``'s delivery to its booking: ``accepted`` if it moved the booking
    (``moved_id``), else ``stale``."""
    if message.delivery_id is None:
        return
    booking_id = moved_id
    if booking_id is None:
        booking_id = conn.execute(
            _FIND_BOOKING,
            {
                "tenant": message.tenant,
                "source": message.source,
                "external_id": message.booking_id,
            },
        ).scalar_one_or_none()
        if booking_id is None:
            return
    conn.execute(
        _link(conn.dialect.name),
        {
            "booking_id": booking_id,
            "delivery_id": message.delivery_id,
            "outcome": "accepted" if moved_id is not None else "stale",
            "at": now,
        },
    )


@cache
def _link(dialect: str) -> Executable:
    insert = upsert_insert(dialect)
    return insert(table(BookingDelivery)).on_conflict_do_nothing(
        index_elements=["booking_id", "delivery_id"]
    )
