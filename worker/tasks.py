"""Celery tasks: thin, explicitly named, ids-only arguments; the logic lives in plain modules.

Retry, give-up, the poison counter and the ``before-ack`` crash point belong to the base task
class (``worker.retry.BookwireTask``): a task names what it works on (a ``Subject``: the kind of
id it takes, how its failure is recorded, which errors are permanent), and its body is the call.
"""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Task

from worker import runtime
from worker.celery_app import app
from worker.handoff import hand_off, schedule
from worker.intake import deferred
from worker.ops import outcomes
from worker.retry import PERMANENT, BookwireTask, Subject
from worker.sync import batches, relay
from worker.sync import bookings as sync
from worker.sync.reconcile import sweep as reconcile_sweep

SYNC = Subject(kind="booking", give_up=sync.fail, stage="sync", poison=True)
FETCH = Subject(
    kind="delivery", give_up=deferred.give_up, stage="fetch", permanent=(*PERMANENT, LookupError)
)
# a permanent error has already marked the hand-off failed, with its failure record
HAND_OFF = Subject(kind="booking", give_up=hand_off.give_up, stage=None, give_up_on_permanent=False)


@app.task(name="bookwire.sync_booking", base=BookwireTask, subject=SYNC)
def sync_booking(booking_id: int) -> str:
    """Make the booking's one event match the booking's latest state."""
    return str(sync.sync_booking(runtime.current(), booking_id, now=datetime.now(UTC)).outcome)


@app.task(name="bookwire.sync_bookings", base=BookwireTask, bind=True)
def sync_bookings(self: Task, booking_ids: list[int]) -> str:
    """Sync bookings published together; the failed ones go on alone (``worker.sync.batches``)."""
    return batches.sync_batch(
        runtime.current(),
        booking_ids,
        batch=self.request.id or "-",
        policy=self.policy(),
        now=datetime.now(UTC),
    )


@app.task(name="bookwire.ingest_delivery", base=BookwireTask, subject=FETCH)
def ingest_delivery(delivery_id: int) -> str:
    """Parse a thin vendor delivery with API look-ups, then queue its bookings' syncs."""
    receipt = deferred.ingest(runtime.current(), delivery_id, now=datetime.now(UTC))
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
    """Queue the hand-off of every event that ended a grace period ago (no ETAs)."""
    return schedule.sweep(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.reconcile")
def reconcile_platforms() -> int:
    """Compare what every platform holds with every booking; drift becomes ``reconcile``
    failure records and gauges (repaired when ``reconcile_repair`` is on)."""
    return reconcile_sweep(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.check_sources")
def check_sources() -> int:
    """Source health: a source silent longer than expected or whose vendor disabled the
    subscription gets a ``source`` failure record and gauges, and its gap backfilled."""
    from worker.intake.source_health import sweep

    return sweep(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.purge_expired")
def purge_expired() -> int:
    """Retention: purge the personal data of bookings whose event ended
    ``retention_days`` ago (``worker.privacy.retention``); returns the bookings anonymised."""
    from worker.privacy.retention import purge

    return purge(runtime.current(), now=datetime.now(UTC)).bookings


@app.task(name="bookwire.send_alerts")
def send_alerts() -> int:
    """Push what is alert-worthy (failures, drift, silent sources, missing hand-offs) to the
    alert sink: each group once, rate-limited (``worker.alerts.send``); no sink set: nothing."""
    from worker.alerts.send import run

    return run(runtime.current(), now=datetime.now(UTC))


@app.task(name="bookwire.hand_off", base=BookwireTask, subject=HAND_OFF)
def hand_off_event(booking_id: int) -> str:
    """Hand the booking's ended event's album link (or attendance) to its portal, once."""
    return hand_off.hand_off(runtime.current(), booking_id, now=datetime.now(UTC))


@app.task(name="bookwire.deliver_event", base=BookwireTask, subject=HAND_OFF)
def deliver_event(booking_id: int) -> str:
    """``bookwire.hand_off`` under its name before the rename, for messages already queued."""
    return str(hand_off_event.run(booking_id))
