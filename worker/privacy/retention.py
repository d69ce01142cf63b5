"""Retention: personal data is kept ``retention_days`` after a booking's event ends, then purged
(the beat task ``bookwire.purge_expired``; ``BOOKWIRE_RETENTION_DAYS``, default 90).

A booking has expired when its event ended before the cutoff (``now - retention_days``): the
end is the event link's, else the message's, else (a booking with no event times) when it last
changed. For expired bookings the job anonymises every person in the booking and its intents
(``worker.privacy.personal``: the same pseudonyms ``bookwire erase`` gives), blanks the stored
response
excerpts of their calls, and erases the raw bodies of the deliveries that carried them. A
delivery received before the cutoff that carried no booking (quarantined, ignored) is erased
too; one that also carried a booking not yet expired (a batch, a party booked far ahead) waits
for it. Bookings, their keys and event links stay: a later change still syncs, and ``status``
shows what was purged. One ``purge`` audit row per run that touched anything.

The same run drops finished write-ahead intents older than ``INTENT_KEEP`` (whatever the
retention): recovery reads only unfinished intents and refused creates (which number the
booking's next create key), so those stay; the rest are history nobody reads after the
platforms' 24-hour key window, and each one's message is a copy of the booking's personal data.
Alert episodes that closed and reached the sink over ``ALERT_KEEP`` ago go too (ids and counts
only, but nothing reads them after the rate-limit window).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, not_, or_, select, update
from sqlalchemy.orm import Session

from worker.privacy import audit, personal
from worker.runtime import Runtime
from worker.store.models import (
    AlertRow,
    AttemptRow,
    Booking,
    BookingDelivery,
    Delivery,
    EventLink,
    SyncIntent,
)
from worker.sync.intents import Operation, Outcome

TABLES = ("bookings", "sync_intents", "deliveries", "attempts")
INTENT_KEEP = timedelta(days=7)  # well past the platforms' 24 h Idempotency-Key window
ALERT_KEEP = timedelta(days=30)


@dataclass
class Purge:
    bookings: int = 0
    intents: int = 0
    deliveries: int = 0
    attempts: int = 0
    intents_pruned: int = 0
    alerts_pruned: int = 0

    def counts(self) -> dict[str, int]:
        return asdict(self)


def purge(rt: Runtime, *, now: datetime, days: int | None = None) -> Purge:
    """Purge the personal data of every booking whose event ended ``days`` ago or earlier."""
    cutoff = now - timedelta(days=rt.settings.retention_days if days is None else days)
    done = Purge()
    with personal.secure_transaction(rt.store) as session:
        expired = _bookings(session, cutoff, done)
        _intents(session, expired, done)
        _attempts(session, expired, done)
        _deliveries(session, cutoff, expired, now, done)
        _prune_intents(session, now - INTENT_KEEP, done)
        _prune_alerts(session, now - ALERT_KEEP, done)
        if any(done.counts().values()):
            audit.record(
                session, audit.Action.purge, actor=audit.Actor.beat, counts=done.counts(), at=now
            )
    if any(done.counts().values()):
        personal.compact(rt.store, TABLES, vacuum=False)
    return done


def _bookings(session: Session, cutoff: datetime, done: Purge) -> set[int]:
    query = (
        select(Booking, EventLink.ends_at)
        .outerjoin(EventLink, EventLink.booking_id == Booking.id)
        .where(
            or_(
                EventLink.ends_at < cutoff,
                and_(EventLink.ends_at.is_(None), Booking.updated_at < cutoff),
            )
        )
    )
    expired: set[int] = set()
    for booking, link_end in session.execute(query):
        if (link_end or _message_end(booking.message) or booking.updated_at) >= cutoff:
            continue
        expired.add(booking.id)
        key = f"{booking.tenant}:{booking.source}:{booking.external_id}"
        message, replaced = personal.anonymise(booking.message, key=key, match=personal.everyone)
        if replaced:
            booking.message = message
            done.bookings += 1
    return expired


def _message_end(message: dict[str, object]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(message["end"])) if message.get("end") else None
    except ValueError:
        return None


def _intents(session: Session, expired: set[int], done: Purge) -> None:
    query = (
        select(SyncIntent, Booking.tenant, Booking.source, Booking.external_id)
        .join(Booking, Booking.id == SyncIntent.booking_id)
        .where(SyncIntent.booking_id.in_(list(expired)), SyncIntent.message.is_not(None))
    )
    for intent, *key in session.execute(query):
        message, replaced = personal.anonymise(
            intent.message or {}, key=":".join(key), match=personal.everyone
        )
        if replaced:
            intent.message = message
            done.intents += 1


def _prune_intents(session: Session, before: datetime, done: Purge) -> None:
    """Finished intents from before ``before``, except refused creates (``intents.history``
    counts them to pick the booking's next create key)."""
    refused_create = and_(
        SyncIntent.operation == str(Operation.create), SyncIntent.outcome == str(Outcome.refused)
    )
    result = session.execute(
        delete(SyncIntent).where(
            SyncIntent.finished_at.is_not(None),
            SyncIntent.finished_at < before,
            not_(refused_create),
        )
    )
    done.intents_pruned = result.rowcount or 0  # type: ignore[attr-defined]


def _prune_alerts(session: Session, before: datetime, done: Purge) -> None:
    """Alert episodes closed before ``before`` that reached the sink (unsent ones still go)."""
    result = session.execute(
        delete(AlertRow).where(
            AlertRow.closed_at < before, AlertRow.sent_at.is_not(None), AlertRow.open_key.is_(None)
        )
    )
    done.alerts_pruned = result.rowcount or 0  # type: ignore[attr-defined]


def _attempts(session: Session, expired: set[int], done: Purge) -> None:
    query = select(AttemptRow).where(
        AttemptRow.booking_id.in_(list(expired)), AttemptRow.excerpt != ""
    )
    for attempt in session.scalars(query):
        attempt.excerpt = ""
        done.attempts += 1


def _deliveries(
    session: Session, cutoff: datetime, expired: set[int], now: datetime, done: Purge
) -> None:
    old = session.execute(  # ids and headers only: the bodies are never read
        select(Delivery.id, Delivery.headers).where(
            Delivery.received_at < cutoff, Delivery.status != "received"
        )
    )
    ids = [row.id for row in old if not personal.is_erased(row.headers)]
    if not ids:
        return
    carried: dict[int, set[int]] = defaultdict(set)
    for delivery_id, booking_id in session.execute(
        select(BookingDelivery.delivery_id, BookingDelivery.booking_id).where(
            BookingDelivery.delivery_id.in_(ids)
        )
    ):
        carried[delivery_id].add(booking_id)
    for booking_id, last_id in session.execute(
        select(Booking.id, Booking.last_delivery_id).where(Booking.last_delivery_id.in_(ids))
    ):
        carried[last_id or 0].add(booking_id)
    gone = [delivery_id for delivery_id in ids if carried[delivery_id] <= expired]
    if gone:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(gone))
            .values(body=b"", headers=personal.erased_headers("retention", now))
        )
    done.deliveries = len(gone)
