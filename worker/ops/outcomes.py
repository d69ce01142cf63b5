"""Outcome checks: silent problems become ``overdue`` failure records ops can see and replay.

A retrying task, a stopped worker or a lost message leaves no error anywhere; only the missing
outcome shows. Beat runs ``bookwire.check_outcomes`` every ``outcome_check_interval`` seconds,
which runs every check in ``CHECKS``. A check returns what is overdue; each item opens (or bumps)
an ``overdue`` failure, listed by ``bookwire failures --stage overdue`` and counted in the
``bookwire_failures_open{stage="overdue"}`` gauge. The record resolves itself when the booking
next syncs successfully (``worker.sync.bookings`` resolves a booking's failures), and
``bookwire replay`` queues the booking again.

Checks: ``bookings_without_event`` (a booking that never got its event) and
``changes_not_applied`` (an event that never followed its booking's latest change: the relay
should have brought it back long before). A new check is a function of the same shape appended
to ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select

from worker.records import failures
from worker.runtime import Runtime
from worker.store.models import Booking, EventLink

LIMIT = 1000


@dataclass(frozen=True)
class Overdue:
    """One missing outcome: whose, and why it counts as overdue (ids and times only)."""

    tenant: str
    source: str
    reason: str
    booking_id: int | None = None
    delivery_id: int | None = None


Check = Callable[[Runtime, datetime], Iterable[Overdue]]


def bookings_without_event(rt: Runtime, now: datetime) -> list[Overdue]:
    """Bookings received over ``overdue_after_minutes`` ago that should have an event and do
    not. Cancelled bookings need none; failed ones already have a failure record."""
    cutoff = now - timedelta(minutes=rt.settings.overdue_after_minutes)
    return _overdue(
        rt,
        "no event",
        EventLink.booking_id.is_(None),
        Booking.status != "cancelled",
        Booking.received_at < cutoff,
    )


def changes_not_applied(rt: Runtime, now: datetime) -> list[Overdue]:
    """Bookings with an event whose latest change (a reschedule, a cancellation) was stored
    over ``overdue_after_minutes`` ago and is still not on the platform. Failed ones already
    have a failure record."""
    cutoff = now - timedelta(minutes=rt.settings.overdue_after_minutes)
    return _overdue(
        rt,
        "latest change not on the platform",
        EventLink.booking_id.is_not(None),
        Booking.applied_version < Booking.version,
        Booking.updated_at < cutoff,
    )


def _overdue(rt: Runtime, what: str, *criteria: ColumnElement[bool]) -> list[Overdue]:
    """Bookings (with their event link, if any) that meet ``criteria`` and have not failed
    (a failed booking has its own record), as overdue items saying ``what``."""
    minutes = rt.settings.overdue_after_minutes
    query = (
        select(
            Booking.id,
            Booking.tenant,
            Booking.source,
            Booking.state,
            Booking.applied_version,
            Booking.version,
        )
        .outerjoin(EventLink, EventLink.booking_id == Booking.id)
        .where(Booking.state != "failed", *criteria)
        .order_by(Booking.id)
        .limit(LIMIT)
    )
    with rt.store.transaction() as session:
        rows = session.execute(query).all()
    return [
        Overdue(
            tenant=row.tenant,
            source=row.source,
            booking_id=row.id,
            reason=(
                f"{what} {minutes:g} minutes after receipt "
                f"(state {row.state}, version {row.applied_version}/{row.version})"
            ),
        )
        for row in rows
    ]


CHECKS: list[Check] = [bookings_without_event, changes_not_applied]


def run_checks(rt: Runtime, *, now: datetime, checks: Iterable[Check] | None = None) -> int:
    """Run every check and record what it found; returns how many items are overdue."""
    found = [item for check in (CHECKS if checks is None else checks) for item in check(rt, now)]
    if found:
        with rt.store.transaction() as session:
            for item in found:
                failures.record(
                    session,
                    tenant=item.tenant,
                    source=item.source,
                    stage="overdue",
                    reason=item.reason,
                    booking_id=item.booking_id,
                    delivery_id=item.delivery_id,
                    now=now,
                )
    return len(found)
