"""``bookwire status``: where a booking is, from receipt to event, as ids, times and states.

The timeline joins everything stored about one booking: every delivery that carried it
(``booking_deliveries``), the outbound calls made for it (``attempts``), its failures (and the
parse failures of its deliveries), and its event link. No personal data: the booking's own
fields stay in the store.

A booking is found by any id its source ever gave it: a reschedule that issued a new id
(Calendly's new invitee, Cal.com's new uid) is recorded in ``booking_aliases`` by intake, and
``status`` follows it to the booking the reschedule joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from worker.privacy.personal import ERASED_HEADER, is_erased, is_pseudonym
from worker.runtime import Runtime
from worker.store.models import (
    AttemptRow,
    Booking,
    BookingAlias,
    BookingDelivery,
    Delivery,
    EventLink,
    Failure,
    HandOff,
)


def find_bookings(rt: Runtime, ref: str) -> list[Booking]:
    """Bookings matching ``ref``: ``#<n>`` (our id), ``tenant:source:id``, or the source's id.

    The source's id may be the booking's own or any alias of it (a later id the source gave it
    on a reschedule)."""
    with rt.store.transaction() as session:
        if ref.startswith("#") and ref[1:].isdigit():
            row = session.get(Booking, int(ref[1:]))
            return [row] if row else []
        parts = ref.split(":", 2)
        if len(parts) == 3:
            tenant, source, external_id = parts
            own = and_(
                Booking.tenant == tenant,
                Booking.source == source,
                Booking.external_id == external_id,
            )
            alias = and_(
                BookingAlias.tenant == tenant,
                BookingAlias.source == source,
                BookingAlias.alias_id == external_id,
            )
        else:
            own, alias = Booking.external_id == ref, BookingAlias.alias_id == ref
        by_alias = (
            select(Booking.id)
            .join(
                BookingAlias,
                and_(
                    BookingAlias.tenant == Booking.tenant,
                    BookingAlias.source == Booking.source,
                    BookingAlias.external_id == Booking.external_id,
                ),
            )
            .where(alias)
        )
        query = select(Booking).where(or_(own, Booking.id.in_(by_alias))).order_by(Booking.id)
        return list(session.scalars(query.limit(20)))


def timeline(rt: Runtime, booking_id: int) -> dict[str, Any]:
    """Everything known about one booking, without personal data."""
    with rt.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        if booking is None:
            raise LookupError(booking_id)
        link = session.get(EventLink, booking_id)
        other_ids = session.scalars(
            select(BookingAlias.alias_id)
            .where(
                BookingAlias.tenant == booking.tenant,
                BookingAlias.source == booking.source,
                BookingAlias.external_id == booking.external_id,
            )
            .order_by(BookingAlias.id)
        ).all()
        carried = {
            row.delivery_id: row.outcome
            for row in session.scalars(
                select(BookingDelivery).where(BookingDelivery.booking_id == booking_id)
            )
        }
        if booking.last_delivery_id is not None:  # bookings older than booking_deliveries
            carried.setdefault(booking.last_delivery_id, "accepted")
        deliveries = (
            session.scalars(
                select(Delivery).where(Delivery.id.in_(list(carried))).order_by(Delivery.id)
            ).all()
            if carried
            else []
        )
        attempts = session.scalars(
            select(AttemptRow).where(AttemptRow.booking_id == booking_id).order_by(AttemptRow.id)
        ).all()
        failures = session.scalars(
            select(Failure)
            .where(
                or_(
                    Failure.booking_id == booking_id,
                    and_(Failure.delivery_id.in_(list(carried)), Failure.booking_id.is_(None)),
                )
            )
            .order_by(Failure.id)
        ).all()
        portal = session.scalars(
            select(HandOff)
            .where(HandOff.booking_id == booking_id)
            .order_by(HandOff.ends_at, HandOff.id)
        ).all()
        pending = booking.applied_version < booking.version
        return {
            "booking": f"#{booking.id}",
            "key": f"{booking.tenant}:{booking.source}:{booking.external_id}",
            "also_known_as": list(other_ids),  # later ids the source gave it (reschedules)
            "status": booking.status,
            "state": booking.state,
            "phase": _phase(booking.state, pending, link is not None),
            "version": booking.version,
            "applied_version": booking.applied_version,
            "received_at": booking.received_at.isoformat(),
            "updated_at": booking.updated_at.isoformat(),
            # "erased": its people are pseudonyms (bookwire erase, or the retention purge)
            "personal_data": "erased" if _erased(booking.message) else "kept",
            "event": None
            if link is None
            else {
                "platform": link.platform,
                "event_id": link.event_id,
                "state": link.event_state,
                "ends_at": link.ends_at.isoformat() if link.ends_at else None,
            },
            "deliveries": [
                {
                    "inbox_id": d.id,
                    "status": d.status,
                    "for_this_booking": carried[d.id],
                    "received_at": d.received_at.isoformat(),
                    "raw_body": "erased" if is_erased(d.headers) else "kept",
                }
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
                    "first_seen": f.first_seen.isoformat(),
                    "last_seen": f.last_seen.isoformat(),
                }
                for f in failures
            ],
            # what the last ``bookwire reconcile`` found on the platform, while it is open
            "drift": next(
                (f.reason for f in failures if f.stage == "reconcile" and f.resolved_at is None),
                None,
            ),
            "portal_delivery": _portal(portal[-1]) if portal else None,
            "timeline": sorted(
                _story(booking, link, deliveries, carried, attempts, failures)
                + _portal_story(portal),
                key=lambda line: datetime.fromisoformat(line.split(" ", 1)[0]),
            ),
        }


def drift_lines(rt: Runtime, *, limit: int = 1000) -> list[str]:
    """One line per booking the last ``bookwire reconcile`` found drifted (open ``reconcile``
    failure records): ids, kinds and field names, no personal data."""
    with rt.store.transaction() as session:
        rows = session.scalars(
            select(Failure)
            .where(Failure.stage == "reconcile", Failure.resolved_at.is_(None))
            .order_by(Failure.booking_id)
            .limit(limit)
        ).all()
        return [
            f"#{f.booking_id} {f.tenant}:{f.source} since {f.first_seen.isoformat()}: {f.reason}"
            for f in rows
        ]


def _story(
    booking: Booking,
    link: EventLink | None,
    deliveries: Sequence[Delivery],
    carried: dict[int, str],
    attempts: Sequence[AttemptRow],
    failures: Sequence[Failure],
) -> list[str]:
    """Everything that happened to the booking, oldest first, one line each."""
    lines: list[tuple[datetime, int, str]] = []
    for d in deliveries:
        lines.append((d.received_at, 0, f"delivery {d.id} received ({carried[d.id]})"))
        if is_erased(d.headers):  # "erase at <time>" / "retention at <time>"
            why, _, at = d.headers[ERASED_HEADER].partition(" at ")
            when = datetime.fromisoformat(at) if at else d.received_at
            lines.append((when, 6, f"delivery {d.id} raw body erased ({why})"))
    lines.append((booking.received_at, 1, f"booking #{booking.id} first stored"))
    for a in attempts:
        answer = a.status if a.status is not None else "no answer"
        lines.append((a.at, 2, f"call {a.method} {a.target}{a.path} -> {answer}"))
    for f in failures:
        lines.append((f.first_seen, 3, f"failure {f.id} ({f.stage}): {f.reason}"))
        if f.attempts > 1:
            lines.append((f.last_seen, 3, f"failure {f.id} seen again ({f.attempts} times)"))
        if f.resolved_at is not None:
            lines.append((f.resolved_at, 4, f"failure {f.id} resolved"))
    if link is not None:
        lines.append((link.created_at, 5, f"event {link.event_id} created on {link.platform}"))
        if link.updated_at > link.created_at:
            lines.append((link.updated_at, 5, f"event {link.event_id} now {link.event_state}"))
    return [f"{at.isoformat()} {text}" for at, _, text in sorted(lines, key=lambda x: x[:2])]


def _portal(row: HandOff) -> dict[str, Any]:
    """The latest hand-over to the tenant's portal (album link or attendance counts)."""
    return {
        "state": row.state,
        "portal": row.portal,
        "key": row.delivery_key,
        "event_ends_at": row.ends_at.isoformat(),
        "due_at": row.due_at.isoformat(),
        "attempts": row.attempts,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "last_error": row.last_error,
        "delivered": row.summary,
    }


def _portal_story(rows: Sequence[HandOff]) -> list[str]:
    """Portal deliveries: one line for queued, one for how it ended."""
    lines: list[tuple[datetime, str]] = []
    for row in rows:
        due = row.due_at.isoformat()
        lines.append((row.created_at, f"portal delivery {row.delivery_key} queued (due {due})"))
        if row.state == "delivered" and row.delivered_at:
            what = (row.summary or {}).get("kind", "deliverable")
            lines.append((row.delivered_at, f"{what} delivered to the {row.portal} portal"))
        elif row.state in ("failed", "skipped"):
            lines.append((row.updated_at, f"portal delivery {row.state}: {row.last_error}"))
    return [f"{at.isoformat()} {text}" for at, text in sorted(lines, key=lambda x: x[0])]


def _erased(message: dict[str, Any]) -> bool:
    people = [message.get("customer"), *(message.get("attendees") or [])]
    return any(is_pseudonym(person) for person in people)


def _phase(state: str, pending: bool, has_event: bool) -> str:
    if state == "failed":
        return "failed (see failures; replay after fixing)"
    if pending:
        return "queued"
    return "event in sync" if has_event else "nothing to create (cancelled before creation)"
