"""Bring a booking's one event up to the booking's latest state. Idempotent; safe to repeat.

Level-triggered: the task carries only a booking id; this reads what the booking should look
like (``version``) and how far the platform has caught up (``applied_version``), and closes the
gap. Running it twice, concurrently or after a crash converges on the same single event:

- a per-booking lock serialises workers; the holder loops until nothing is pending;
- before any platform call a round commits its write-ahead intents (``worker.sync.intents``), one
  statement for the whole batch; the outcomes commit with the event links afterwards;
- the first create carries an ``Idempotency-Key`` derived from the booking id, so a crash
  between the platform's answer and our commit replays the same event instead of a second;
- a create whose intent is ambiguous means "an event may exist, at an unknown version": it is
  replayed (inside the platform's key window) or looked up by reference (after it) and brought
  to the booking's *latest* state before the version counts as applied; a replayed create is
  never taken to mean the platform holds what we sent this time;
- a cancellation never concludes "nothing to cancel" from a missing link while a create intent
  is ambiguous: it finds the event that create may have made, and cancels it;
- the unique ``event_links`` row records the event once, keyed by booking.

Crash points (``worker.crashpoints``) mark each step; the crash-point tests kill a real process
at every one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Connection, Executable, bindparam, case, select, update

from config.tenants import BrandConfig
from integrations.booking import BookingMessage, BookingStatus, booking_reference
from integrations.errors import BudgetSpent, ConfigurationError, CreateRefused
from integrations.http import Attempt, recording
from integrations.platform import EventSpec, LinkedEvent, Platform, event_spec
from integrations.ratelimit import waiting_at_most
from worker import crashpoints
from worker.records import attempts as attempts_store
from worker.records import failures
from worker.runtime import Runtime
from worker.store.db import upsert_insert
from worker.store.models import Booking, EventLink, Failure, table
from worker.sync import intents
from worker.sync.intents import History, Operation
from worker.telemetry import observe

log = logging.getLogger(__name__)
MAX_ROUNDS = 5
# A sync waits this long at most for its turn on a spent platform budget; a later turn gives
# the thread back (``BudgetSpent``: the booking comes back at its turn), so other tenants'
# bookings run meanwhile instead of queueing behind threads that only wait.
BUDGET_WAIT = 0.25


class SyncOutcome(StrEnum):
    created = "created"
    recovered = "recovered"  # an earlier create's event, found and brought up to date
    updated = "updated"
    cancelled = "cancelled"
    up_to_date = "up-to-date"
    busy = "busy"  # another worker holds the booking
    missing = "missing"  # no such booking


@dataclass(frozen=True)
class SyncResult:
    outcome: SyncOutcome
    event_id: str | None = None


Outcome = SyncResult | BaseException


def sync_booking(rt: Runtime, booking_id: int, *, now: datetime) -> SyncResult:
    """Apply the booking's latest state to its platform event. Raises TransientError to retry."""
    result = sync_bookings(rt, [booking_id], now=now)[booking_id]
    if isinstance(result, BaseException):
        raise result
    return result


def sync_bookings(rt: Runtime, booking_ids: Sequence[int], *, now: datetime) -> dict[int, Outcome]:
    """Sync many bookings together: one lock round trip, one read and two write transactions
    (intents, then outcomes) per round for all of them. Each booking's outcome is its own: one
    booking's error (returned, not raised) never holds up the others.

    A round takes the bookings' locks, applies each pending booking's latest version, commits
    and lets go. A booking whose lock someone else holds is ``busy``: the holder re-checks
    after letting go, so the newer version that woke us is never missed. That re-check is the
    next round, for the bookings still pending."""
    results: dict[int, Outcome] = {b: SyncResult(SyncOutcome.up_to_date) for b in booking_ids}
    todo = list(dict.fromkeys(booking_ids))
    for _ in range(MAX_ROUNDS):
        with rt.booking_locks(todo) as held:
            for booking_id in todo:
                if booking_id not in held and _settled(results[booking_id]):
                    results[booking_id] = SyncResult(SyncOutcome.busy)
            if held:
                results.update(_round(rt, [b for b in todo if b in held], now=now))
        ok = [b for b in held if not isinstance(results[b], BaseException)]
        todo = _still_pending(rt, ok) if ok else []  # a newer version landed as we worked
        if not todo:
            break
    return results


def _settled(result: Outcome) -> bool:
    return isinstance(result, SyncResult) and result.outcome == SyncOutcome.up_to_date


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


class Link(NamedTuple):
    """The booking's stored event: where it lives, and ``active`` or ``cancelled``."""

    linked: LinkedEvent
    state: str


class Step(NamedTuple):
    """What one booking's platform step achieved: the result and the link to store."""

    result: SyncResult
    state: str
    linked: LinkedEvent | None


@dataclass
class _Work:
    """One pending booking in a round: what was read, what we intend, what the platform said."""

    booking_id: int
    version: int
    received_at: datetime
    message: BookingMessage
    stored_message: dict[str, Any]
    link: Link | None
    history: History
    open_failure: bool
    operation: Operation | None = None
    key: str | None = None
    intent_id: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    platform: str = ""  # the tenant's platform kind, once applied
    done: Step | None = None
    refused: bool = False  # the platform refused the create: nothing was made with its key
    unsent: bool = False  # our rate limiter refused before any call: nothing reached the platform


def _round(rt: Runtime, booking_ids: list[int], *, now: datetime) -> dict[int, Outcome]:
    results: dict[int, Outcome] = {}
    with rt.store.read() as conn:
        work = _read(conn, booking_ids, now, results)
    planned = [item for item in work if _plan(item)]
    if planned:  # write-ahead: the round's intents commit before any platform call
        with rt.store.transaction() as session:
            ids = intents.write(
                session.connection(),
                (
                    intents.Planned(
                        item.booking_id,
                        item.version,
                        item.operation,
                        item.key,
                        item.stored_message if item.operation is not Operation.cancel else None,
                    )
                    for item in planned
                    if item.operation is not None
                ),
                now=now,
            )
            crashpoints.reach("before-intent-commit")
        for item, intent_id in zip(planned, ids, strict=True):
            item.intent_id = intent_id
        crashpoints.reach("before-call")
    if len(work) > 1:  # the platform calls of a batch overlap (each booking's lock is held)
        list(rt.platform_calls.map(lambda item: _apply(rt, item, results, now), work))
    elif work:
        _apply(rt, work[0], results, now)
    if work:
        with rt.store.transaction() as session:
            conn = session.connection()
            for item in work:
                attempts_store.add(session, item.booking_id, item.attempts)
                if item.done is not None:
                    _commit(conn, item, now)
            intents.finish(conn, [f for f in map(_finished, work) if f is not None], now=now)
            turns = [_turn(item.booking_id, results, now) for item in work]
            if any(turns):  # queued until its turn: the relay leaves it alone until then
                conn.execute(_QUEUED_UNTIL, [t for t in turns if t is not None])
            resolved = [w.booking_id for w in work if w.done is not None and w.open_failure]
            for booking_id in resolved:
                failures.resolve(session, booking_id=booking_id, now=now)
            crashpoints.reach("before-outcome-commit")
    for item in work:
        if item.done is not None:
            result = item.done.result
            results[item.booking_id] = result
            if result.outcome == SyncOutcome.created:
                observe.event_created(item.message.tenant, item.received_at)
            log.info(
                "booking synced",
                extra={
                    "booking": item.booking_id,
                    "outcome": str(result.outcome),
                    "event": result.event_id,
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
            outcome = SyncOutcome.up_to_date if booking_id in found else SyncOutcome.missing
            results[booking_id] = SyncResult(outcome)
    if not rows:
        return []
    ids = list(rows)
    links = {r.booking_id: r for r in conn.execute(_LINKS, {"ids": ids})}
    histories = intents.history(conn, ids)
    failing = set(conn.execute(_OPEN_FAILURES, {"ids": ids}).scalars())
    work: list[_Work] = []
    for booking_id, row in rows.items():
        try:
            message = BookingMessage.model_validate(row.message)
        except Exception as exc:
            results[booking_id] = exc
            continue
        link = links.get(booking_id)
        work.append(
            _Work(
                booking_id=booking_id,
                version=row.version,
                received_at=row.received_at,
                message=message,
                stored_message=row.message,
                link=Link(LinkedEvent(link.event_id, link.details or {}), link.event_state)
                if link is not None
                else None,
                history=histories.get(booking_id, History()),
                open_failure=booking_id in failing,
            )
        )
    return work


def _plan(item: _Work) -> bool:
    """Decide the booking's effect (and its create key) before anything is called; True if
    there is one, i.e. an intent to write."""
    history, link = item.history, item.link
    if item.message.status is BookingStatus.cancelled:
        if link is not None:
            item.operation = Operation.cancel if link.state != "cancelled" else None
        elif history.ambiguous_create is not None:  # an event may exist: find it, cancel it
            item.operation, item.key = Operation.cancel, history.ambiguous_create.key
    elif link is not None:
        item.operation = Operation.update
    else:
        item.operation = Operation.create
        item.key = history.key_for(booking_reference(item.message.key))
    return item.operation is not None


def _apply(rt: Runtime, item: _Work, results: dict[int, Outcome], now: datetime) -> None:
    """One booking's platform step; its error is its own (the caller retries or gives up)."""
    try:
        tenant = rt.tenant(item.message.tenant)
        if tenant is None:
            raise ConfigurationError(f"tenant {item.message.tenant!r} is no longer configured")
        platform = rt.platform(tenant)
        item.platform = tenant.platform.kind
        with recording(item.attempts.append), waiting_at_most(BUDGET_WAIT):
            brand = tenant.brand_for(item.message.client)  # the client's overrides, if any
            item.done = _call_platform(platform, item, brand, now=now)
    except CreateRefused as exc:
        item.refused = True
        results[item.booking_id] = exc
    except BudgetSpent as exc:  # every outbound attempt is recorded: none means none was made
        item.unsent = not item.attempts
        results[item.booking_id] = exc
    except Exception as exc:
        results[item.booking_id] = exc


def _turn(booking_id: int, results: dict[int, Outcome], now: datetime) -> dict[str, Any] | None:
    """When a booking refused by a spent budget comes back (its ``queued_at`` until then)."""
    error = results.get(booking_id)
    if not isinstance(error, BudgetSpent):
        return None
    return {"b_id": booking_id, "b_queued_at": now + timedelta(seconds=error.retry_after or 0)}


def _still_pending(rt: Runtime, booking_ids: list[int]) -> list[int]:
    with rt.store.read() as conn:
        return list(conn.execute(_PENDING_IDS, {"ids": booking_ids}).scalars())


def _call_platform(platform: Platform, item: _Work, brand: BrandConfig, *, now: datetime) -> Step:
    """One platform step. The platform returns the LinkedEvent to store: its id may change
    (Gatsby moves a rescheduled booking's people to another event) and its details carry
    what the platform needs next time (guest ids)."""
    link, history = item.link, item.history
    cancelled = item.message.status is BookingStatus.cancelled
    spec = None if cancelled else event_spec(item.message, brand, name_max=platform.name_max)
    if not platform.keyed_creates:
        _settle_placements(platform, history, brand, spec)
    if spec is None:
        if link is not None and link.state == "cancelled":
            return Step(_result(SyncOutcome.up_to_date, link.linked), "cancelled", link.linked)
        existing = link.linked if link is not None else None
        if existing is None and history.ambiguous_create is not None and platform.keyed_creates:
            existing = _created_earlier(platform, history, brand, item.message, now=now)
        if existing is None:  # never created (or proved absent): nothing to cancel
            return Step(SyncResult(SyncOutcome.up_to_date), "cancelled", None)
        linked = platform.cancel_event(existing)
        return Step(_result(SyncOutcome.cancelled, linked), "cancelled", linked)
    if link is not None:
        linked = platform.update_event(link.linked, spec)
        return Step(_result(SyncOutcome.updated, linked), "active", linked)
    ambiguous = history.ambiguous_create
    if (
        ambiguous is not None
        and platform.keyed_creates
        and (ambiguous.message != item.stored_message or not history.in_key_window(now))
    ):  # (sent as it is now and inside the window: the create below replays it exactly)
        earlier = _created_earlier(platform, history, brand, item.message, now=now)
        if earlier is not None:  # an event may exist at an unknown version: bring it up to date
            linked = platform.update_event(earlier, spec)
            return Step(_result(SyncOutcome.recovered, linked), "active", linked)
    assert item.key is not None
    linked = platform.create_event(spec, idempotency_key=item.key)
    if linked.replayed:  # the event of an earlier create, at whatever version it was sent
        linked = platform.update_event(linked, spec)
        return Step(_result(SyncOutcome.recovered, linked), "active", linked)
    return Step(_result(SyncOutcome.created, linked), "active", linked)


def _settle_placements(
    platform: Platform, history: History, brand: BrandConfig, spec: EventSpec | None
) -> None:
    """Gatsby: an unfinished create or update may have placed the booking's people on the
    event of the message it was sent for. Placing them there again is a no-op that tells us
    their guest ids; then they are moved to where the booking is now (or released)."""
    for sent in history.placements:
        earlier_spec = event_spec(
            BookingMessage.model_validate(sent), brand, name_max=platform.name_max
        )
        earlier = platform.create_event(earlier_spec, idempotency_key=earlier_spec.reference)
        if spec is None:
            platform.cancel_event(earlier)
        else:
            platform.update_event(earlier, spec)


def _created_earlier(
    platform: Platform,
    history: History,
    brand: BrandConfig,
    message: BookingMessage,
    *,
    now: datetime,
) -> LinkedEvent | None:
    """What an ambiguous create may have made, on a platform whose creates carry a key.

    Inside the key window that create is repeated exactly as it was sent: the platform replays
    it (same body, so no key-reuse refusal), or makes it now; a request still in flight there
    can then never add a second event. After the window the event is looked up by reference;
    None: nothing was made."""
    ambiguous = history.ambiguous_create
    assert ambiguous is not None
    reference = booking_reference(message.key)
    if ambiguous.message is None or not history.in_key_window(now):
        return platform.find_event(reference)
    sent = BookingMessage.model_validate(ambiguous.message)
    try:
        return platform.create_event(
            event_spec(sent, brand, name_max=platform.name_max), idempotency_key=ambiguous.key
        )
    except CreateRefused:  # e.g. a refusal the platform replays for this key: look it up
        return platform.find_event(reference)


def _result(outcome: SyncOutcome, linked: LinkedEvent) -> SyncResult:
    return SyncResult(outcome, linked.event_id)


_INTENT_OUTCOMES = {
    SyncOutcome.created: intents.Outcome.created,
    SyncOutcome.recovered: intents.Outcome.recovered,
    SyncOutcome.updated: intents.Outcome.updated,
    SyncOutcome.cancelled: intents.Outcome.cancelled,
    SyncOutcome.up_to_date: intents.Outcome.absent,
}


def _finished(item: _Work) -> intents.Finished | None:
    """The outcome of the booking's intent, if the step ended in one."""
    if item.intent_id is None:
        return None
    if item.done is not None:
        result = item.done.result
        outcome = _INTENT_OUTCOMES[result.outcome]
        return intents.Finished(item.intent_id, item.booking_id, outcome, result.event_id, True)
    if item.refused:  # the platform made nothing with this key (and no earlier create did)
        return intents.Finished(
            item.intent_id, item.booking_id, intents.Outcome.refused, None, True
        )
    if item.unsent:  # as if never written; earlier ambiguous intents stay ambiguous
        return intents.Finished(
            item.intent_id, item.booking_id, intents.Outcome.unsent, None, False
        )
    return None  # unknown (timeout, 5xx, crash): stays ambiguous


def _commit(conn: Connection, item: _Work, now: datetime) -> None:
    assert item.done is not None
    outcome, state, linked = item.done
    if outcome.event_id is not None:
        # the event is as of its call's answer (``bookwire status`` lists the call first)
        answered = max(
            [now, *(a.at + timedelta(milliseconds=a.duration_ms) for a in item.attempts)]
        )
        values: dict[str, Any] = {
            "booking_id": item.booking_id,
            "platform": item.platform,
            "event_id": outcome.event_id,
            "event_state": state,
            "details": dict(linked.details) if linked else None,
            "starts_at": item.message.start,
            "ends_at": item.message.end,
            "created_at": answered,
            "updated_at": answered,
        }
        # a cancelled event keeps its last times (the portal sweep ignores it anyway)
        statement = _statements(conn.dialect.name)
        conn.execute(statement.cancel_link if state == "cancelled" else statement.link, values)
    conn.execute(
        _MARK_SYNCED, {"b_id": item.booking_id, "b_version": item.version, "b_updated_at": now}
    )


BOOKINGS = table(Booking)
LINKS = table(EventLink)
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
_OPEN_FAILURES = (
    select(FAILURES.c.booking_id)
    .where(FAILURES.c.booking_id.in_(_IDS), FAILURES.c.resolved_at.is_(None))
    .distinct()
)
# A newer version may have landed while the round was on the platform: the booking then stays
# ``pending`` (the relay's net, should this worker die before its next round), never ``synced``.
_MARK_SYNCED = (
    update(BOOKINGS)
    .where(BOOKINGS.c.id == bindparam("b_id"), BOOKINGS.c.applied_version < bindparam("b_version"))
    .values(
        applied_version=bindparam("b_version"),
        state=case(
            (BOOKINGS.c.version == bindparam("b_version"), "synced"), else_=BOOKINGS.c.state
        ),
        updated_at=bindparam("b_updated_at"),
    )
)

_QUEUED_UNTIL = (
    update(BOOKINGS)
    .where(BOOKINGS.c.id == bindparam("b_id"))
    .values(queued_at=bindparam("b_queued_at"))
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
