"""Durable state: the inbox of raw deliveries, bookings, event links, failures, attempts."""

from worker.store.db import Store
from worker.store.models import (
    Attempt,
    Base,
    Booking,
    BookingAlias,
    Delivery,
    EventLink,
    Failure,
)

__all__ = [
    "Attempt",
    "Base",
    "Booking",
    "BookingAlias",
    "Delivery",
    "EventLink",
    "Failure",
    "Store",
]
