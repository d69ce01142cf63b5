"""Exactly once per event end, counted at the portal: sweeps twice, a redelivered task,
concurrent deliveries and replays send one webhook; a refusal is a failure record that a
replay (after the fix) turns into one delivery; retries repeat the same delivery key."""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from integrations.errors import PermanentError, TransientError
from tests.support import ServerThread
from tests.worker.handoff.conftest import book, deliveries, received
from worker.handoff import hand_off, schedule
from worker.ops import replay
from worker.records import failures
from worker.runtime import Runtime
from worker.store.models import AttemptRow, Failure

SYNCED = datetime(2026, 6, 1, 12, tzinfo=UTC)
DUE = datetime(2026, 7, 16, 3, 0, tzinfo=UTC)  # 22:00 New York end + 60 min (tenant acme)


def respond(portal: ServerThread, status: int, times: int = 1) -> None:
    httpx.post(f"{portal.url}/portal/_respond", json={"status": status, "times": times})


def open_failures(runtime: Runtime, booking_id: int) -> list[Failure]:
    with runtime.store.transaction() as session:
        query = select(Failure).where(
            Failure.booking_id == booking_id, Failure.resolved_at.is_(None)
        )
        return list(session.scalars(query))


def test_sweeps_twice_and_a_redelivered_task_send_once(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="x-twice", now=SYNCED)
    assert schedule.queue_due(runtime, now=DUE) == [booking_id]
    assert schedule.queue_due(runtime, now=DUE) == []
    assert hand_off.hand_off(runtime, booking_id, now=DUE) == "delivered"
    assert hand_off.hand_off(runtime, booking_id, now=DUE) == "already delivered"  # redelivered
    later = DUE + timedelta(hours=1)
    assert schedule.queue_due(runtime, now=later) == []
    assert hand_off.hand_off(runtime, booking_id, now=later) == "already delivered"
    [hook] = received(portal)
    [row] = deliveries(runtime, booking_id)
    assert hook["target"] == row.delivery_key == hook["idempotency_key"]
    assert not hook["duplicate"]
    assert row.state == "delivered" and row.attempts == 1 and row.delivered_at == DUE
    assert row.summary == {"kind": "attendance", "album_url": None, "attendees": 1, "attended": 0}
    data = hook["body"]["data"]
    assert data["booking"]["id"] == "x-twice" and data["attendance"]["total"] == 1


def test_concurrent_deliveries_send_once(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="x-race", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    httpx.post(f"{portal.url}/_sandbox/faults", json={"latency_ms": 200})  # a slow portal
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(lambda _: hand_off.hand_off(runtime, booking_id, now=DUE), range(8))
        )
    assert outcomes.count("delivered") == 1
    assert set(outcomes) <= {"delivered", "busy", "already delivered"}
    assert len(received(portal)) == 1


def test_concurrent_deliveries_send_once_on_postgresql(
    pg_runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(pg_runtime, booking_id="x-race-pg", now=SYNCED)
    assert schedule.queue_due(pg_runtime, now=DUE) == [booking_id]
    assert schedule.queue_due(pg_runtime, now=DUE) == []
    httpx.post(f"{portal.url}/_sandbox/faults", json={"latency_ms": 200})
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(lambda _: hand_off.hand_off(pg_runtime, booking_id, now=DUE), range(8))
        )
    assert outcomes.count("delivered") == 1
    assert len(received(portal)) == 1


def test_replays_never_send_a_delivered_event_again(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="x-replay", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    hand_off.hand_off(runtime, booking_id, now=DUE)
    assert "no failed hand-off" in replay.replay_hand_off(runtime, booking_id, now=DUE)
    replay.replay_booking(runtime, booking_id, now=DUE)  # the booking replayed: sync is a no-op
    assert hand_off.hand_off(runtime, booking_id, now=DUE) == "already delivered"
    assert len(received(portal)) == 1


def test_a_refusal_is_a_failure_record_and_a_replay_delivers_once(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="x-400", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    respond(portal, 400)
    with pytest.raises(PermanentError, match="HTTP 400"):
        hand_off.hand_off(runtime, booking_id, now=DUE)
    [row] = deliveries(runtime, booking_id)
    assert row.state == "failed" and "HTTP 400" in (row.last_error or "")
    [failure] = open_failures(runtime, booking_id)
    assert (failure.stage, failure.tenant) == ("portal", "acme")
    assert "zoe@example.com" not in failure.reason  # ids and statuses, no people
    later = DUE + timedelta(hours=1)
    assert schedule.queue_due(runtime, now=later) == []  # failed waits for a replay
    # the sync of a later booking change must not hide the portal failure
    with runtime.store.transaction() as session:
        failures.resolve(session, booking_id=booking_id, now=later)
    assert open_failures(runtime, booking_id)
    [(_, outcome)] = replay.replay_failures(runtime, [failure], now=later)
    assert outcome == f"hand-off of booking #{booking_id} queued"
    assert hand_off.hand_off(runtime, booking_id, now=later) == "delivered"
    assert hand_off.hand_off(runtime, booking_id, now=later) == "already delivered"
    assert open_failures(runtime, booking_id) == []
    assert len(received(portal)) == 1
    with runtime.store.transaction() as session:
        calls = session.scalars(select(AttemptRow).where(AttemptRow.booking_id == booking_id)).all()
        assert [(c.target, c.status) for c in calls if c.target == "portal"] == [
            ("portal", 400),
            ("portal", 200),
        ]


def test_a_transient_error_releases_the_delivery_for_the_retry(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(runtime, booking_id="x-503", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    respond(portal, 503)
    with pytest.raises(TransientError):
        hand_off.hand_off(runtime, booking_id, now=DUE)
    [row] = deliveries(runtime, booking_id)
    assert (row.state, row.attempts) == ("pending", 1) and "503" in (row.last_error or "")
    assert hand_off.hand_off(runtime, booking_id, now=DUE + timedelta(seconds=5)) == "delivered"
    assert len(received(portal)) == 1 and deliveries(runtime, booking_id)[0].attempts == 2


def test_retries_exhausted_become_a_failure_record(runtime: Runtime, sandbox: ServerThread) -> None:
    booking_id = book(runtime, booking_id="x-gaveup", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    hand_off.give_up(
        runtime, booking_id, "gave up after 8 retries: portal: HTTP 503", now=DUE, attempts=9
    )
    [row] = deliveries(runtime, booking_id)
    [failure] = open_failures(runtime, booking_id)
    assert row.state == "failed" and failure.stage == "portal" and failure.attempts == 9


def test_a_worker_dying_mid_send_resends_the_same_key_after_its_lease(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    """The portal answered but the worker died before recording it: the lease expires, the
    sweep queues it again, and the repeat carries the same webhook-id for the portal to drop."""
    booking_id = book(runtime, booking_id="x-crash", now=SYNCED)
    schedule.queue_due(runtime, now=DUE)
    claim = hand_off._claim(runtime, booking_id, now=DUE)  # the dead worker's claim
    assert not isinstance(claim, str)
    tenant = runtime.tenant("acme")
    assert tenant is not None
    hand_off._hand_over(runtime, tenant, claim)  # sent; never recorded
    assert hand_off.hand_off(runtime, booking_id, now=DUE + timedelta(seconds=1)) == "busy"
    after = DUE + timedelta(minutes=10)  # the lease has expired
    assert schedule.queue_due(runtime, now=after) == [booking_id]
    assert hand_off.hand_off(runtime, booking_id, now=after) == "delivered"
    first, second = received(portal)
    assert first["target"] == second["target"] and second["duplicate"]
