"""Celery tasks: thin, explicitly named, ids-only arguments; the logic lives in plain modules.

Retry policy (one, declarative in ``worker.retry``): transient errors (timeouts, dropped
connections, 5xx, 429, 409 in progress, database or broker hiccups) retry with exponential
backoff and jitter up to ``max_retries``; then, like any permanent error, the booking gets a
failure record and stops retrying until it is replayed. After recording, the task raises
``PermanentFailure`` (ids only, no cause chained) so Flower lists it as FAILURE; it is declared in
``throws``, so Celery logs it as expected (one line, no traceback) and never retries it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn

import redis
from celery import Task
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from integrations.errors import ConfigurationError, PayloadError, PermanentError, TransientError
from worker import crashpoints, intake, outcomes, poison, publish, relay, runtime, sync
from worker.celery_app import app
from worker.failures import PermanentFailure, open_failure
from worker.portal import deliver as portal_deliver
from worker.portal import schedule as portal_schedule
from worker.reconcile import sweep as reconcile_sweep
from worker.retry import RetryPolicy

log = logging.getLogger(__name__)
TRANSIENT = (TransientError, OperationalError, redis.exceptions.ConnectionError)
PERMANENT = (PermanentError, ConfigurationError, PayloadError, ValidationError)


def _policy() -> RetryPolicy:
    settings = runtime.current().settings
    cap = float(app.conf.bookwire_max_countdown or settings.retry_backoff_max)
    return RetryPolicy(max_retries=settings.max_retries, cap=cap)


@app.task(name="bookwire.sync_booking", bind=True, max_retries=None, throws=(PermanentFailure,))
def sync_booking(self: Task, booking_id: int) -> str:
    """Make the booking's one event match the booking's latest state."""
    rt = runtime.current()
    now = datetime.now(UTC)
    unfinished = poison.started(rt, "booking", booking_id)
    try:
        if poison.is_poison(rt, unfinished):
            poison.forget(rt, "booking", booking_id)
            sync.fail(
                rt,
                booking_id,
                f"dead-lettered: the worker died {unfinished - 1} times running this booking",
                now=now,
                attempts=unfinished - 1,
            )
            raise _gave_up(rt, booking_id=booking_id, stage="sync")
        outcome = sync.sync_booking(rt, booking_id, now=now).outcome
    except TRANSIENT as exc:
        _retry_or_give_up(
            self,
            exc,
            lambda reason, tries: sync.fail(rt, booking_id, reason, now=now, attempts=tries),
            lambda: _gave_up(rt, booking_id=booking_id, stage="sync"),
        )
    except PERMANENT as exc:
        sync.fail(rt, booking_id, _reason(exc), now=now)
        raise _gave_up(rt, booking_id=booking_id, stage="sync") from None
    finally:
        poison.finished(rt, "booking", booking_id)
    crashpoints.reach("before-ack")
    return str(outcome)


@app.task(name="bookwire.sync_bookings", bind=True)
def sync_bookings(self: Task, booking_ids: list[int]) -> str:
    """Sync bookings published together (one ingress group commit, one relay sweep).

    The batch is the fast path only: a booking that does not sync cleanly goes on as its own
    ``sync_booking`` task, which retries, fails (FAILURE in Flower) and is replayed alone. A
    batch whose earlier run died with its worker is split the same way, so a poison booking
    is found and dead-lettered alone instead of taking its batch with it."""
    rt = runtime.current()
    now = datetime.now(UTC)
    batch = self.request.id or "-"
    try:
        if poison.started(rt, "batch", batch) > 1:
            sent = publish.send(rt, "bookwire.sync_booking", "booking", booking_ids)
            return f"split after a crash: {sent} bookings queued one by one"
        try:
            results = sync.sync_bookings(rt, booking_ids, now=now)
        except TRANSIENT as exc:  # the store or the broker: every booking goes on alone
            results = dict.fromkeys(booking_ids, exc)
    finally:
        poison.finished(rt, "batch", batch)
    errors = {b: r for b, r in results.items() if isinstance(r, BaseException)}
    for booking_id, error in errors.items():
        # a transient error waits one backoff step, as a retry would; anything else goes
        # straight to the booking's own task, which records the failure
        delay = (
            _policy().delay(0, getattr(error, "retry_after", None))
            if isinstance(error, TRANSIENT)
            else None
        )
        publish.send(rt, "bookwire.sync_booking", "booking", [booking_id], countdown=delay)
    counts = Counter(str(r.outcome) for r in results.values() if isinstance(r, sync.SyncResult))
    if errors:
        counts["handed on"] = len(errors)
    crashpoints.reach("before-ack")
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))


@app.task(name="bookwire.ingest_delivery", bind=True, max_retries=None, throws=(PermanentFailure,))
def ingest_delivery(self: Task, delivery_id: int) -> str:
    """Parse a thin vendor delivery with API look-ups, then queue its bookings' syncs."""
    rt = runtime.current()
    now = datetime.now(UTC)
    try:
        receipt = intake.ingest(rt, delivery_id, now=now)
    except TRANSIENT as exc:
        _retry_or_give_up(
            self,
            exc,
            lambda reason, tries: intake.give_up(rt, delivery_id, reason, now=now, attempts=tries),
            lambda: _gave_up(rt, delivery_id=delivery_id, stage="fetch"),
        )
    except (*PERMANENT, LookupError) as exc:
        intake.give_up(rt, delivery_id, _reason(exc), now=now)
        raise _gave_up(rt, delivery_id=delivery_id, stage="fetch") from None
    return receipt.outcome if receipt else "already settled"


@app.task(name="bookwire.relay")
def relay_pending() -> int:
    """Republish bookings stored but never synced (broker outage, crash, killed worker)."""
    return relay.relay_once(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.check_outcomes")
def check_outcomes() -> int:
    """Record silent problems (bookings with no event in time, …) as ``overdue`` failures."""
    return outcomes.run_checks(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.sweep_ended_events")
def sweep_ended_events() -> int:
    """Queue the portal delivery of every event that ended a grace period ago (no ETAs)."""
    return portal_schedule.sweep(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.reconcile")
def reconcile_platforms() -> int:
    """Compare what every platform holds with every booking; drift becomes ``reconcile``
    failure records and gauges (repaired when ``reconcile_repair`` is on)."""
    return reconcile_sweep(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.check_sources")
def check_sources() -> int:
    """Source health: a source silent longer than expected or whose vendor disabled the
    subscription gets a ``source`` failure record and gauges, and its gap backfilled."""
    from worker.source_health import sweep

    return sweep(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.deliver_event", bind=True, max_retries=None, throws=(PermanentFailure,))
def deliver_event(self: Task, booking_id: int) -> str:
    """Hand the booking's ended event's album link (or attendance) to its portal, once."""
    rt = runtime.current()
    now = datetime.now(UTC)
    try:
        outcome = portal_deliver.deliver(rt, booking_id, now=now)
    except TRANSIENT as exc:
        _retry_or_give_up(
            self,
            exc,
            lambda reason, tries: portal_deliver.give_up(
                rt, booking_id, reason, now=now, attempts=tries
            ),
            lambda: _gave_up(rt, booking_id=booking_id),
        )
    except PERMANENT:  # the delivery is marked failed with its failure record already
        raise _gave_up(rt, booking_id=booking_id) from None
    crashpoints.reach("before-ack")
    return outcome


def _retry_or_give_up(
    task: Task,
    exc: BaseException,
    give_up: Callable[[str, int], None],
    gave_up: Callable[[], PermanentFailure],
) -> NoReturn:
    """The one retry policy for every task, applied to a transient error.

    Within the budget: Celery's Retry with a jittered, capped countdown. Once it is spent:
    ``give_up`` records the failure (reason, attempts) and ``gave_up`` names it for Flower,
    raised without the cause chained (the platform's text stays out of Flower)."""
    policy = _policy()
    retries = task.request.retries or 0
    if policy.exhausted(retries):
        give_up(f"gave up after {retries} retries: {_reason(exc)}", retries + 1)
        raise gave_up() from None
    countdown = policy.delay(retries, getattr(exc, "retry_after", None))
    raise task.retry(countdown=countdown, exc=TransientError(_reason(exc))) from exc


def _gave_up(
    rt: runtime.Runtime,
    *,
    booking_id: int | None = None,
    delivery_id: int | None = None,
    stage: str | None = None,
) -> PermanentFailure:
    """The exception that marks the task FAILURE in Flower, naming the failure record."""
    with rt.store.transaction() as session:
        failure = open_failure(session, booking_id=booking_id, delivery_id=delivery_id, stage=stage)
        if failure is not None:
            log.warning(
                "gave up; failure recorded",
                extra={"tenant": failure.tenant, "failure": failure.id, "stage": failure.stage},
            )
            return PermanentFailure.of(failure)
    subject = f"booking #{booking_id}" if booking_id is not None else f"delivery {delivery_id}"
    return PermanentFailure(f"{subject}: failed permanently; see `bookwire failures`")


def _reason(exc: Any) -> str:
    if isinstance(exc, ValidationError):
        return f"stored booking no longer validates ({exc.error_count()} errors)"
    if isinstance(exc, OperationalError):
        return "database unavailable"
    return str(exc)[:500] or type(exc).__name__
