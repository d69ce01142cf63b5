"""Durable state: the inbox of raw deliveries, bookings, event links, failures, attempts."""

from worker.store.db import Store
from worker.store.models import (
    AttemptRow,
    Base,
    Booking,
    BookingAlias,
    BookingDelivery,
    Delivery,
    EventLink,
    Failure,
    HandOff,
)

__all__ = [
    "AttemptRow",
    "Base",
    "Booking",
    "BookingAlias",
    "BookingDelivery",
    "Delivery",
    "EventLink",
    "Failure",
    "HandOff",
    "Store",
]
