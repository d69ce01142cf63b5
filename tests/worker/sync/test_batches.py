"""Syncing bookings in batches: one lock round trip and two transactions per round for all,
each booking's outcome its own. Called directly, then through a real Celery worker."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from config.settings import Settings
from integrations.errors import PermanentError
from tests.conftest import settings_env
from tests.support import (
    Process,
    ServerThread,
    booking,
    bookwire_env,
    gomry_events,
    wait_for,
    worker_argv,
)
from worker import poison, publish
from worker.intake.api import publish_booking
from worker.records import failures
from worker.runtime import Runtime
from worker.store.models import Booking, EventLink
from worker.sync import bookings as sync

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
# Gomry refuses an event whose location is blank (400): a permanent error for that booking only.
REFUSED = {"location": "   "}


def submit(runtime: Runtime, booking_id: str, **fields: object) -> int:
    receipt = publish_booking(runtime, tenant="acme", booking=booking(booking_id, **fields))
    assert receipt.outcome == "accepted", receipt
    return receipt.bookings[0]


def submit_many(runtime: Runtime, prefix: str, n: int) -> list[int]:
    return [submit(runtime, f"{prefix}-{i}", title=f"Party {i}") for i in range(n)]


def states(runtime: Runtime, ids: list[int]) -> dict[int, str]:
    with runtime.store.transaction() as session:
        rows = session.execute(select(Booking.id, Booking.state).where(Booking.id.in_(ids)))
        return {row.id: row.state for row in rows}


def linked_events(runtime: Runtime, ids: list[int]) -> dict[int, str]:
    with runtime.store.transaction() as session:
        rows = session.execute(
            select(EventLink.booking_id, EventLink.event_id).where(EventLink.booking_id.in_(ids))
        )
        return {row.booking_id: row.event_id for row in rows}


def outcomes(results: dict[int, sync.Outcome]) -> dict[int, str]:
    return {b: r.outcome if isinstance(r, sync.SyncResult) else "error" for b, r in results.items()}


def test_a_batch_creates_one_event_per_booking_and_a_second_run_creates_none(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    ids = submit_many(runtime, "batch", 10)
    first = sync.sync_bookings(runtime, ids, now=NOW)
    assert outcomes(first) == dict.fromkeys(ids, "created")
    events = gomry_events(sandbox.url)
    assert sorted(e["name"] for e in events) == sorted(
        f"Zoë Ångström – Party {i}" for i in range(10)
    )
    links = linked_events(runtime, ids)
    assert {links[b] for b in ids} == {e["id"] for e in events}
    assert {first[b].event_id for b in ids} == {e["id"] for e in events}  # type: ignore[union-attr]
    assert states(runtime, ids) == dict.fromkeys(ids, "synced")

    again = sync.sync_bookings(runtime, ids, now=NOW)
    assert outcomes(again) == dict.fromkeys(ids, "up-to-date")
    assert len(gomry_events(sandbox.url)) == 10


def test_one_refused_booking_does_not_hold_up_the_others(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    good = submit_many(runtime, "mixed", 5)
    bad = submit(runtime, "mixed-bad", **REFUSED)
    ids = [*good[:2], bad, *good[2:]]
    results = sync.sync_bookings(runtime, ids, now=NOW)
    error = results[bad]
    assert isinstance(error, PermanentError) and "HTTP 400" in str(error)
    assert outcomes({b: results[b] for b in good}) == dict.fromkeys(good, "created")
    assert len(gomry_events(sandbox.url)) == 5
    assert states(runtime, ids) == {**dict.fromkeys(good, "synced"), bad: "pending"}
    assert bad not in linked_events(runtime, [bad])

    # sync_booking is a batch of one that raises the booking's own error
    with pytest.raises(PermanentError, match="HTTP 400"):
        sync.sync_booking(runtime, bad, now=NOW)


def test_overlapping_batches_at_once_make_one_event_per_booking(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    ids = submit_many(runtime, "race", 12)
    # slow creates so both batches are in flight together
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 60})
    halves = [ids[:8], ids[4:]]  # ids[4:8] in both
    results: list[dict[int, sync.Outcome]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(batch: list[int]) -> None:
        start.wait()
        try:
            results.append(sync.sync_bookings(runtime, batch, now=NOW))
        except BaseException as exc:  # surfaced below, not swallowed by the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and len(results) == 2
    created = Counter(
        b for result in results for b, outcome in outcomes(result).items() if outcome == "created"
    )
    assert created == dict.fromkeys(ids, 1)  # each booking created by exactly one of them
    events = gomry_events(sandbox.url)
    assert len(events) == 12 and len({e["id"] for e in events}) == 12
    assert states(runtime, ids) == dict.fromkeys(ids, "synced")


def test_a_booking_locked_elsewhere_is_busy_then_syncs_once_let_go(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    ids = submit_many(runtime, "lock", 3)
    locked = ids[1]
    with runtime.booking_locks([locked]) as held:
        assert held == {locked}
        results = sync.sync_bookings(runtime, ids, now=NOW)
        assert outcomes(results) == {ids[0]: "created", locked: "busy", ids[2]: "created"}
        assert len(gomry_events(sandbox.url)) == 2
        assert states(runtime, [locked]) == {locked: "pending"}
    assert sync.sync_booking(runtime, locked, now=NOW).outcome == "created"
    assert len(gomry_events(sandbox.url)) == 3
    assert states(runtime, ids) == dict.fromkeys(ids, "synced")


@pytest.mark.slow
def test_worker_hands_a_refused_booking_of_a_batch_to_its_own_task(
    runtime: Runtime, settings: Settings, sandbox: ServerThread, tmp_path: Path
) -> None:
    good = submit_many(runtime, "celery", 4)
    bad = submit(runtime, "celery-bad", **REFUSED)
    # submitting queued one sync_booking each; drop them so only the batch below runs
    redis.Redis.from_url(settings.resolved_redis_url).delete("bookwire")
    worker = Process(
        worker_argv(2), bookwire_env(settings_env(settings)), tmp_path / "worker.log"
    ).start()
    try:
        wait_for(lambda: "ready" in worker.output(), timeout=30)
        assert publish.send_bookings(runtime, [*good, bad]) == 5

        def failed() -> list[dict[str, object]]:
            with runtime.store.transaction() as session:
                found = failures.find(session, failures.Filters(stage="sync"))
                return [failures.as_dict(f) for f in found]

        [failure] = wait_for(failed, timeout=20)
        assert failure["booking"] == bad and "HTTP 400" in str(failure["reason"])
        wait_for(lambda: states(runtime, good) == dict.fromkeys(good, "synced"), timeout=10)
    finally:
        worker.stop()
    assert len(gomry_events(sandbox.url)) == 4
    assert states(runtime, [bad]) == {bad: "failed"}
    # the batch reports the hand-over; the booking's own task recorded the failure
    lines = worker.output().splitlines()
    assert any(
        "bookwire.sync_bookings" in line and "4 created, 1 handed on" in line for line in lines
    )
    assert any(
        "gave up; failure recorded" in line
        and "task=bookwire.sync_booking " in line
        and f"booking={bad} " in line
        for line in lines
    )


@pytest.mark.slow
def test_a_batch_that_died_with_its_worker_is_split_into_single_syncs(
    runtime: Runtime, settings: Settings, sandbox: ServerThread, tmp_path: Path
) -> None:
    ids = submit_many(runtime, "died", 3)
    redis.Redis.from_url(settings.resolved_redis_url).delete("bookwire")
    # the batch's first run started and never finished (its worker was killed): redelivered,
    # it must not run as a batch again, or one poison booking would take the others with it
    poison.started(runtime, "batch", "batch-that-died")
    runtime.celery.send_task("bookwire.sync_bookings", args=[ids], task_id="batch-that-died")
    worker = Process(
        worker_argv(2), bookwire_env(settings_env(settings)), tmp_path / "worker.log"
    ).start()
    try:
        wait_for(lambda: states(runtime, ids) == dict.fromkeys(ids, "synced"), timeout=30)
    finally:
        worker.stop()
    assert len(gomry_events(sandbox.url)) == 3
    lines = worker.output().splitlines()
    assert any("split after a crash: 3 bookings queued one by one" in line for line in lines)
    singles = [line for line in lines if "task=bookwire.sync_booking " in line]
    assert {b for b in ids if any(f"booking={b} " in line for line in singles)} == set(ids)
