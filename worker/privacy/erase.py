"""``bookwire erase --email X [--tenant T]``: one person removed from everything stored.

Found: every booking whose message names the address (customer or attendee, any case), every
write-ahead intent whose message does, every raw delivery whose body holds it (plain,
URL-encoded or JSON-escaped). Then, in one transaction (``worker.privacy.personal``):

- bookings and intents: the person becomes a stable pseudonym; the booking's key, status and
  times stay, so ``status`` still finds it and a later change from its source still syncs;
  intents are rewritten, never deleted (unfinished ones drive crash recovery);
- deliveries: body and headers replaced by the ``x-bookwire-erased`` marker (status kept; no
  longer replayable);
- attempts: the stored response excerpts of those bookings, and any other excerpt holding the
  address, blanked;
- failure reasons and portal errors that quote the person: the quote replaced;
- one ``erase`` audit row with counts only.

Then ``compact``: SQLite is vacuumed and its WAL truncated, PostgreSQL's tables vacuumed.
The broker holds no personal data (task arguments are ids), so it is left alone. Erasing an
address nobody has is a no-op that still leaves an audit row (the request was honoured).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from worker.privacy import audit, personal
from worker.runtime import Runtime
from worker.store.models import (
    AttemptRow,
    Booking,
    Delivery,
    Failure,
    HandOff,
    SyncIntent,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
TABLES = ("bookings", "sync_intents", "deliveries", "attempts", "failures", "handoffs")


@dataclass
class Erasure:
    """What one erasure touched (row counts; the address is not kept)."""

    bookings: int = 0
    intents: int = 0
    deliveries: int = 0
    attempts: int = 0
    failures: int = 0
    compacted: bool = True

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "compacted"}


def erase(
    rt: Runtime,
    email: str,
    *,
    now: datetime,
    tenant: str | None = None,
    actor: audit.Actor = audit.Actor.cli,
) -> Erasure:
    """Anonymise one person (by address) across the store and make the old bytes unreachable."""
    address = email.strip().lower()
    if not EMAIL.match(address):
        raise ValueError("not an email address")
    done = Erasure()
    match = personal.by_email(address)
    quoted: set[str] = {address}
    with personal.secure_transaction(rt.store) as session:
        ids = _bookings(session, address, tenant, match, quoted, done)
        _intents(session, address, tenant, match, quoted, done)
        _deliveries(session, address, tenant, now, done)
        _attempts(session, address, ids, done)
        _failures(session, ids, quoted, done)
        audit.record(
            session, audit.Action.erase, actor=actor, counts=done.counts(), at=now, tenant=tenant
        )
    done.compacted = personal.compact(rt.store, TABLES)
    return done


def _mentioning(column: Any, address: str) -> Any:
    """Rows whose JSON text holds the address (plain or JSON-escaped), any case."""
    text = func.lower(cast(column, Text))
    return or_(*(text.contains(form.decode(), autoescape=True) for form in _json_forms(address)))


def _json_forms(address: str) -> list[bytes]:
    return [f for f in personal.forms(address) if b"%" not in f]


def _bookings(
    session: Session,
    address: str,
    tenant: str | None,
    match: personal.Match,
    quoted: set[str],
    done: Erasure,
) -> list[int]:
    query = select(Booking).where(_mentioning(Booking.message, address))
    if tenant is not None:
        query = query.where(Booking.tenant == tenant)
    ids: list[int] = []
    for booking in session.scalars(query):
        key = f"{booking.tenant}:{booking.source}:{booking.external_id}"
        message, replaced = personal.anonymise(booking.message, key=key, match=match)
        ids.append(booking.id)
        if replaced:
            booking.message = message
            quoted.update(replaced)
            done.bookings += 1
    return ids


def _intents(
    session: Session,
    address: str,
    tenant: str | None,
    match: personal.Match,
    quoted: set[str],
    done: Erasure,
) -> None:
    query = (
        select(SyncIntent, Booking.tenant, Booking.source, Booking.external_id)
        .join(Booking, Booking.id == SyncIntent.booking_id)
        .where(SyncIntent.message.is_not(None), _mentioning(SyncIntent.message, address))
    )
    if tenant is not None:
        query = query.where(Booking.tenant == tenant)
    for intent, *key in session.execute(query):
        message, replaced = personal.anonymise(intent.message or {}, key=":".join(key), match=match)
        if replaced:
            intent.message = message
            quoted.update(replaced)
            done.intents += 1


def _deliveries(
    session: Session, address: str, tenant: str | None, now: datetime, done: Erasure
) -> None:
    needles = personal.forms(address)
    query = select(Delivery.id, Delivery.body, Delivery.headers)
    if tenant is not None:
        query = query.where(Delivery.tenant == tenant)
    found = [
        row.id
        for row in session.execute(query.execution_options(yield_per=500))
        if not personal.is_erased(row.headers) and personal.mentions(row.body, needles)
    ]
    for delivery_id in found:
        delivery = session.get_one(Delivery, delivery_id)
        delivery.body = b""
        delivery.headers = personal.erased_headers("erase", now)
    done.deliveries = len(found)


def _attempts(session: Session, address: str, booking_ids: list[int], done: Erasure) -> None:
    query = select(AttemptRow).where(
        AttemptRow.excerpt != "",
        or_(
            AttemptRow.booking_id.in_(booking_ids),
            *(
                func.lower(AttemptRow.excerpt).contains(f.decode(), autoescape=True)
                for f in _json_forms(address)
            ),
        ),
    )
    for attempt in session.scalars(query):
        attempt.excerpt = ""
        done.attempts += 1


def _failures(session: Session, booking_ids: list[int], quoted: set[str], done: Erasure) -> None:
    """Reasons are written without people; a quote that slipped in is replaced anyway."""
    pairs = [(text, "[erased]") for text in quoted]
    for failure in session.scalars(select(Failure).where(Failure.booking_id.in_(booking_ids))):
        cleaned = personal.scrub(failure.reason, pairs)
        if cleaned != failure.reason:
            failure.reason = cleaned
            done.failures += 1
    portal = select(HandOff).where(
        HandOff.booking_id.in_(booking_ids), HandOff.last_error.is_not(None)
    )
    for row in session.scalars(portal):
        row.last_error = personal.scrub(row.last_error or "", pairs)
