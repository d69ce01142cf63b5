"""The rules a user relies on: cancelled never delivers, reschedules move the due time, an
event moved after it was delivered delivers again only for a later end, nothing for tenants
without a portal, nothing while the event's end is uncertain, no flood of old events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, booking
from tests.worker.handoff.conftest import book, change, deliveries, received
from worker.handoff import schedule
from worker.handoff.hand_off import hand_off
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.models import EventLink

SYNCED = datetime(2026, 6, 1, 12, tzinfo=UTC)
END = datetime(2026, 7, 16, 2, 0, tzinfo=UTC)  # tests.support.booking(): 22:00 New York
DUE = END + timedelta(minutes=60)  # tenant acme


@pytest.fixture(params=["sqlite", "postgresql"])
def runtime(request: pytest.FixtureRequest, runtime: Runtime) -> Runtime:
    """Every rule on both stores: the sweep's query is the part that differs."""
    if request.param == "sqlite":
        return runtime
    pg: Runtime = request.getfixturevalue("pg_runtime")
    return pg


def later(minutes: int) -> str:
    return (SYNCED + timedelta(minutes=minutes)).isoformat()


def test_a_cancelled_event_never_delivers(runtime: Runtime, sandbox: ServerThread) -> None:
    booking_id = book(runtime, booking_id="r-cancel", now=SYNCED)
    change(
        runtime, "acme", booking_id="r-cancel", status="cancelled", updated_at=later(1), now=SYNCED
    )
    assert schedule.queue_due(runtime, now=DUE + timedelta(hours=1)) == []
    assert deliveries(runtime, booking_id) == []


def test_cancelled_after_it_was_queued_is_dropped_not_sent(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="r-cancel-late", now=SYNCED)
    assert schedule.queue_due(runtime, now=DUE) == [booking_id]
    change(
        runtime,
        "acme",
        booking_id="r-cancel-late",
        status="cancelled",
        updated_at=later(1),
        now=DUE,
    )
    assert hand_off(runtime, booking_id, now=DUE) == "nothing due"
    assert deliveries(runtime, booking_id) == []
    assert received(portal) == []


def test_a_reschedule_moves_the_due_time(runtime: Runtime, sandbox: ServerThread) -> None:
    booking_id = book(runtime, booking_id="r-move", now=SYNCED)
    change(
        runtime,
        "acme",
        booking_id="r-move",
        status="rescheduled",
        start="2026-07-16T18:00:00-04:00",
        end="2026-07-16T22:00:00-04:00",
        updated_at=later(1),
        now=SYNCED,
    )
    assert schedule.queue_due(runtime, now=DUE) == []  # the old due time means nothing now
    new_due = DUE + timedelta(days=1)
    assert schedule.queue_due(runtime, now=new_due - timedelta(seconds=1)) == []
    assert schedule.queue_due(runtime, now=new_due) == [booking_id]
    [row] = deliveries(runtime, booking_id)
    assert row.ends_at == END + timedelta(days=1)


def test_moved_later_after_delivery_delivers_again_with_a_new_key(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="r-again", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    assert hand_off(runtime, booking_id, now=DUE) == "delivered"
    # the client books the same event again for next week: same booking, new end
    change(
        runtime,
        "acme",
        booking_id="r-again",
        status="rescheduled",
        start="2026-07-22T18:00:00-04:00",
        end="2026-07-22T22:00:00-04:00",
        updated_at=later(1),
        now=DUE,
    )
    assert schedule.queue_due(runtime, now=DUE + timedelta(days=1)) == []
    new_due = DUE + timedelta(days=7)
    assert schedule.queue_due(runtime, now=new_due) == [booking_id]
    assert hand_off(runtime, booking_id, now=new_due) == "delivered"
    first, second = deliveries(runtime, booking_id)
    assert (first.state, second.state) == ("delivered", "delivered")
    ids = [r["target"] for r in received(portal)]
    assert ids == [first.delivery_key, second.delivery_key] and ids[0] != ids[1]


def test_moved_earlier_after_delivery_does_not_deliver_again(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="r-earlier", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    assert hand_off(runtime, booking_id, now=DUE) == "delivered"
    change(
        runtime,
        "acme",
        booking_id="r-earlier",
        status="rescheduled",
        end="2026-07-15T21:00:00-04:00",
        updated_at=later(1),
        now=DUE,
    )  # a correction
    assert schedule.queue_due(runtime, now=DUE + timedelta(hours=2)) == []
    assert len(received(portal)) == 1


def test_waits_while_the_booking_has_an_unsynced_change(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="r-pending", now=SYNCED)
    publish_booking(
        runtime,
        tenant="acme",
        booking=booking(
            "r-pending", status="rescheduled", end="2026-07-15T23:00:00-04:00", updated_at=later(1)
        ),
    )
    assert schedule.queue_due(runtime, now=DUE + timedelta(hours=2)) == []  # end uncertain
    assert hand_off(runtime, booking_id, now=DUE) == "waiting"
    assert deliveries(runtime, booking_id) == []


def test_no_portal_no_delivery_and_no_flood_of_old_events(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    plain = book(runtime, "plain", booking_id="r-plain", now=SYNCED)
    old = book(runtime, booking_id="r-old", now=SYNCED)
    lookback = timedelta(hours=runtime.settings.portal_lookback_hours)
    assert schedule.queue_due(runtime, now=END + lookback + timedelta(minutes=1)) == []
    assert deliveries(runtime, plain) == deliveries(runtime, old) == []


def test_a_lost_task_is_queued_again_after_a_while(runtime: Runtime, sandbox: ServerThread) -> None:
    booking_id = book(runtime, booking_id="r-lost", now=SYNCED)
    assert schedule.queue_due(runtime, now=DUE) == [booking_id]
    assert schedule.queue_due(runtime, now=DUE + timedelta(minutes=1)) == []  # on its way
    again = DUE + schedule.REQUEUE_AFTER
    assert schedule.queue_due(runtime, now=again) == [booking_id]  # never ran: queue again
    assert len(deliveries(runtime, booking_id)) == 1


def test_a_platform_event_ended_notice_queues_it_now(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    """The platform says the event ended (before its planned end, even): due now, same path,
    and the sweep later finds it already queued."""
    booking_id = book(runtime, booking_id="r-notice", now=SYNCED)
    with runtime.store.transaction() as session:
        link = session.get(EventLink, booking_id)
        assert link is not None
        event_id = link.event_id
    early = END - timedelta(minutes=30)
    queued = schedule.event_ended(runtime, platform="gomry", event_id=event_id, now=early)
    assert queued == [booking_id]
    [row] = deliveries(runtime, booking_id)
    assert (row.due_at, row.ends_at, row.state) == (early, END, "pending")
    assert schedule.event_ended(runtime, platform="gomry", event_id="nope", now=early) == []
    assert hand_off(runtime, booking_id, now=early) == "delivered"
    assert schedule.queue_due(runtime, now=DUE) == []  # the sweep finds it done
    assert schedule.event_ended(runtime, platform="gomry", event_id=event_id, now=DUE) == []
    assert [r.state for r in deliveries(runtime, booking_id)] == ["delivered"]
