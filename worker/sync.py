"""Bring a booking's one event up to the booking's latest state. Idempotent; safe to repeat.

Level-triggered: the task carries only a booking id; this reads what the booking should look
like (``version``) and how far the platform has caught up (``applied_version``), and closes the
gap. Running it twice, concurrently or after a crash converges on the same single event:

- a per-booking lock serialises workers; the holder loops until nothing is pending;
- the first create carries ``Idempotency-Key`` derived from the booking id, so a crash between
  the platform's answer and our commit replays the same event instead of making a second;
- the unique ``event_links`` row records the event once, keyed by booking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Connection, Executable, bindparam, func, select, update

from config.tenants import BrandConfig
from integrations.booking import BookingMessage, BookingStatus, booking_reference
from integrations.errors import ConfigurationError
from integrations.http import Attempt, recording
from integrations.platform import LinkedEvent, Platform, event_spec
from worker import attempts as attempts_store
from worker import failures, observe
from worker.runtime import Runtime
from worker.store.db import upsert_insert
from worker.store.models import Attempt as AttemptRow
from worker.store.models import Booking, EventLink, Failure, table

log = logging.getLogger(__name__)
MAX_ROUNDS = 5
# Platforms replay an Idempotency-Key for 24 h; past this age we no longer rely on it.
IDEMPOTENCY_WINDOW_MARGIN = timedelta(hours=23)


@dataclass(frozen=True)
class SyncResult:
    outcome: str  # created | recovered | updated | cancelled | up-to-date | busy | missing
    event_id: str | None = None


Outcome = SyncResult | BaseException


def sync_booking(rt: Runtime, booking_id: int, *, now: datetime) -> SyncResult:
    """Apply the booking's latest state to its platform event. Raises TransientError to retry."""
    result = sync_bookings(rt, [booking_id], now=now)[booking_id]
    if isinstance(result, BaseException):
        raise result
    return result


def sync_bookings(rt: Runtime, booking_ids: Sequence[int], *, now: datetime) -> dict[int, Outcome]:
    """Sync many bookings together: one lock round trip, one read and one write transaction
    per round for all of them. Each booking's outcome is its own: one booking's error (returned,
    not raised) never holds up the others.

    A round takes the bookings' locks, applies each pending booking's latest version, commits
    and lets go. A booking whose lock someone else holds is ``busy``: the holder re-checks
    after letting go, so the newer version that woke us is never missed. That re-check is the
    next round, for the bookings still pending."""
    results: dict[int, Outcome] = {b: SyncResult("up-to-date") for b in booking_ids}
    todo = list(dict.fromkeys(booking_ids))
    for _ in range(MAX_ROUNDS):
        with rt.booking_locks(todo) as held:
            for booking_id in todo:
                if booking_id not in held and _settled(results[booking_id]):
                    results[booking_id] = SyncResult("busy")
            if held:
                results.update(_round(rt, [b for b in todo if b in held], now=now))
        ok = [b for b in held if not isinstance(results[b], BaseException)]
        todo = _still_pending(rt, ok) if ok else []  # a newer version landed as we worked
        if not todo:
            break
    return results


def _settled(result: Outcome) -> bool:
    return isinstance(result, SyncResult) and result.outcome == "up-to-date"


def fail(rt: Runtime, booking_id: int, reason: str, *, now: datetime, attempts: int = 1) -> None:
    """Record a permanent failure: the booking stops retrying until someone replays it."""
    with rt.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        if booking is None:
            return
        booking.state = "failed"
        failures.record(
            session,
            tenant=booking.tenant,
            source=booking.source,
            stage="sync",
            reason=reason,
            booking_id=booking_id,
            delivery_id=booking.last_delivery_id,
            attempts=attempts,
            now=now,
        )


@dataclass
class _Work:
    """One pending booking in a round: what was read, then what the platform said."""

    booking_id: int
    version: int
    received_at: datetime
    message: BookingMessage
    link: tuple[LinkedEvent, str] | None
    look_first: bool
    open_failure: bool
    attempts: list[Attempt] = field(default_factory=list)
    platform: str = ""  # the tenant's platform kind, once applied
    done: tuple[SyncResult, str, LinkedEvent | None] | None = None


def _round(rt: Runtime, booking_ids: list[int], *, now: datetime) -> dict[int, Outcome]:
    results: dict[int, Outcome] = {}
    with rt.store.read() as conn:
        work = _read(conn, booking_ids, now, results)
    if len(work) > 1:  # the platform calls of a batch overlap (each booking's lock is held)
        list(rt.platform_calls.map(lambda item: _apply(rt, item, results), work))
    elif work:
        _apply(rt, work[0], results)
    if work:
        with rt.store.transaction() as session:
            conn = session.connection()
            for item in work:
                attempts_store.add(session, item.booking_id, item.attempts)
                if item.done is not None:
                    _commit(conn, item, now)
            resolved = [w.booking_id for w in work if w.done is not None and w.open_failure]
            for booking_id in resolved:
                failures.resolve(session, booking_id=booking_id, now=now)
    for item in work:
        if item.done is not None:
            results[item.booking_id] = item.done[0]
            if item.done[0].outcome == "created":
                observe.event_created(item.message.tenant, item.received_at)
            log.info(
                "booking synced",
                extra={
                    "booking": item.booking_id,
                    "outcome": item.done[0].outcome,
                    "event": item.done[0].event_id,
                    "tenant": item.message.tenant,
                },
            )
    return results


def _read(
    conn: Connection, booking_ids: list[int], now: datetime, results: dict[int, Outcome]
) -> list[_Work]:
    """The round's pending bookings, their events, and what else they need to know."""
    rows = {r.id: r for r in conn.execute(_PENDING_BOOKINGS, {"ids": booking_ids})}
    settled = [b for b in booking_ids if b not in rows]
    if settled:  # nothing to do for these: up to date, or not there at all
        found = set(conn.execute(_EXISTING, {"ids": settled}).scalars())
        for booking_id in settled:
            results[booking_id] = SyncResult("up-to-date" if booking_id in found else "missing")
    if not rows:
        return []
    ids = list(rows)
    links = {r.booking_id: r for r in conn.execute(_LINKS, {"ids": ids})}
    first_creates = {b: at for b, at in conn.execute(_FIRST_CREATES, {"ids": ids})}
    failing = set(conn.execute(_OPEN_FAILURES, {"ids": ids}).scalars())
    work: list[_Work] = []
    for booking_id, row in rows.items():
        try:
            message = BookingMessage.model_validate(row.message)
        except Exception as exc:
            results[booking_id] = exc
            continue
        link = links.get(booking_id)
        first = first_creates.get(booking_id)
        work.append(
            _Work(
                booking_id=booking_id,
                version=row.version,
                received_at=row.received_at,
                message=message,
                link=(LinkedEvent(link.event_id, link.details or {}), link.event_state)
                if link is not None
                else None,
                # a create was tried long ago and its answer never recorded: the platform's
                # 24-hour idempotency window may have closed, so look the event up first
                look_first=link is None
                and first is not None
                and now - first > IDEMPOTENCY_WINDOW_MARGIN,
                open_failure=booking_id in failing,
            )
        )
    return work


def _apply(rt: Runtime, item: _Work, results: dict[int, Outcome]) -> None:
    """One booking's platform step; its error is its own (the caller retries or gives up)."""
    try:
        tenant = rt.tenant(item.message.tenant)
        if tenant is None:
            raise ConfigurationError(f"tenant {item.message.tenant!r} is no longer configured")
        platform = rt.platform(tenant)
        item.platform = tenant.platform.kind
        with recording(item.attempts.append):
            brand = tenant.brand_for(item.message.client)  # the client's overrides, if any
            item.done = _call_platform(
                platform, item.message, item.link, brand, look_first=item.look_first
            )
    except Exception as exc:
        results[item.booking_id] = exc


def _still_pending(rt: Runtime, booking_ids: list[int]) -> list[int]:
    with rt.store.read() as conn:
        return list(conn.execute(_PENDING_IDS, {"ids": booking_ids}).scalars())


def _call_platform(
    platform: Platform,
    message: BookingMessage,
    link_event: tuple[LinkedEvent, str] | None,
    brand: BrandConfig,
    *,
    look_first: bool = False,
) -> tuple[SyncResult, str, LinkedEvent | None]:
    """One platform step. The platform returns the LinkedEvent to store: its id may change
    (Gatsby moves a rescheduled booking's people to another event) and its details carry
    what the platform needs next time (guest ids)."""
    if message.status is BookingStatus.cancelled:
        if link_event and link_event[1] != "cancelled":
            linked = platform.cancel_event(link_event[0])
            return SyncResult("cancelled", linked.event_id), "cancelled", linked
        kept = link_event[0] if link_event else None
        return SyncResult("up-to-date", kept.event_id if kept else None), "cancelled", kept
    spec = event_spec(message, brand, name_max=platform.name_max)
    if link_event is None and look_first:
        found = platform.find_event(spec.reference)
        if found is not None:  # an earlier create did happen: adopt it, bring it up to date
            linked = platform.update_event(found, spec)
            return SyncResult("recovered", linked.event_id), "active", linked
    if link_event is None:
        linked = platform.create_event(spec, idempotency_key=booking_reference(message.key))
        return SyncResult("created", linked.event_id), "active", linked
    linked = platform.update_event(link_event[0], spec)
    return SyncResult("updated", linked.event_id), "active", linked


def _commit(conn: Connection, item: _Work, now: datetime) -> None:
    assert item.done is not None
    outcome, state, linked = item.done
    if outcome.event_id is not None:
        values: dict[str, Any] = {
            "booking_id": item.booking_id,
            "platform": item.platform,
            "event_id": outcome.event_id,
            "event_state": state,
            "details": dict(linked.details) if linked else None,
            "starts_at": item.message.start,
            "ends_at": item.message.end,
            "created_at": now,
            "updated_at": now,
        }
        # a cancelled event keeps its last times (the portal sweep ignores it anyway)
        statement = _statements(conn.dialect.name)
        conn.execute(statement.cancel_link if state == "cancelled" else statement.link, values)
    conn.execute(
        _MARK_SYNCED, {"b_id": item.booking_id, "b_version": item.version, "b_updated_at": now}
    )


BOOKINGS = table(Booking)
LINKS = table(EventLink)
ATTEMPTS = table(AttemptRow)
FAILURES = table(Failure)
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_PENDING_BOOKINGS = select(
    BOOKINGS.c.id, BOOKINGS.c.message, BOOKINGS.c.version, BOOKINGS.c.received_at
).where(BOOKINGS.c.id.in_(_IDS), BOOKINGS.c.applied_version < BOOKINGS.c.version)
_EXISTING = select(BOOKINGS.c.id).where(BOOKINGS.c.id.in_(_IDS))
_PENDING_IDS = select(BOOKINGS.c.id).where(
    BOOKINGS.c.id.in_(_IDS),
    BOOKINGS.c.applied_version < BOOKINGS.c.version,
    BOOKINGS.c.state != "failed",
)
_LINKS = select(LINKS.c.booking_id, LINKS.c.event_id, LINKS.c.event_state, LINKS.c.details).where(
    LINKS.c.booking_id.in_(_IDS)
)
_FIRST_CREATES = (
    select(ATTEMPTS.c.booking_id, func.min(ATTEMPTS.c.at))
    .where(ATTEMPTS.c.booking_id.in_(_IDS), ATTEMPTS.c.method == "POST")
    .group_by(ATTEMPTS.c.booking_id)
)
_OPEN_FAILURES = (
    select(FAILURES.c.booking_id)
    .where(FAILURES.c.booking_id.in_(_IDS), FAILURES.c.resolved_at.is_(None))
    .distinct()
)
_MARK_SYNCED = (
    update(BOOKINGS)
    .where(BOOKINGS.c.id == bindparam("b_id"), BOOKINGS.c.applied_version < bindparam("b_version"))
    .values(
        applied_version=bindparam("b_version"), state="synced", updated_at=bindparam("b_updated_at")
    )
)


@dataclass(frozen=True)
class _Statements:
    link: Executable
    cancel_link: Executable


@cache
def _statements(dialect: str) -> _Statements:
    insert = upsert_insert(dialect)

    def upsert(columns: tuple[str, ...]) -> Executable:
        stmt = insert(LINKS)
        # event_id too: a guest-list platform may move the booking to another event
        return stmt.on_conflict_do_update(
            index_elements=["booking_id"], set_={c: stmt.excluded[c] for c in columns}
        )

    changing = ("event_id", "event_state", "details", "updated_at")
    return _Statements(
        link=upsert((*changing, "starts_at", "ends_at")), cancel_link=upsert(changing)
    )
