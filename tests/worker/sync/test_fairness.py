"""Fairness between tenants on a real Celery worker: a quiet tenant is never starved by a busy one.

Tenants on two sandbox platforms over loopback; ``quiet`` publishes one booking after another
tenant's backlog is queued:

- ``busy`` has a platform budget of 5 requests per second (``platform.rate_limit``). Before
  ``BudgetSpent`` each worker thread waited up to 12 s in the limiter for a slot, so the quiet
  booking queued behind the whole backlog (about 10 s here); now a spent budget gives the
  thread back and the busy booking comes back at its turn.
- ``bulk`` imports bookings for a platform that answers in 100 ms. Before the fair share the
  quiet booking ran after all of them (about 5 s here); now, past its share, ``bulk``'s
  bookings are published behind everyone else's (``worker.fair_share``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from sandbox.app import create_app as create_sandbox
from tests.conftest import settings_env
from tests.integrations.platforms import faults
from tests.support import (
    GATSBY_TOKEN,
    GOMRY_KEY,
    GUESTMEDIA_KEY,
    Process,
    ServerThread,
    booking,
    bookwire_env,
    gomry_events,
    tenants_toml,
    wait_for,
    worker_argv,
)
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.models import Booking, Failure, SyncIntent
from worker.sync.relay import relay_once

pytestmark = pytest.mark.slow

BACKLOG = 50  # busy bookings: 10 s of budget at 5 requests per second
RATE = 5


@pytest.fixture
def busy_platform(tmp_path: Path) -> Iterator[ServerThread]:
    keys = {"gomry": {GOMRY_KEY}, "gatsby": {GATSBY_TOKEN}, "guestmedia": {GUESTMEDIA_KEY}}
    with ServerThread(create_sandbox(tmp_path / "busy-sandbox", keys)) as server:
        yield server


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread, busy_platform: ServerThread) -> Path:
    busy = tenants_toml(busy_platform.url, tenant="busy").replace(
        'kind = "gomry"', f'kind = "gomry"\nrate_limit = "{RATE}/1 second"'
    )
    path = tmp_path / "tenants.toml"
    bulk = tenants_toml(busy_platform.url, tenant="bulk")  # the same platform, no budget
    path.write_text(busy + bulk + tenants_toml(sandbox.url, tenant="quiet"), encoding="utf-8")
    return path


def references(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["description"].split("Booking reference: ")[1].split()[0] for e in events)


def synced(runtime: Runtime) -> int:
    with runtime.store.transaction() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Booking).where(Booking.state == "synced")
            )
            or 0
        )


def test_a_quiet_tenants_booking_is_not_queued_behind_a_busy_tenants_spent_budget(
    runtime: Runtime,
    settings: Settings,
    sandbox: ServerThread,
    busy_platform: ServerThread,
    tmp_path: Path,
) -> None:
    # the platform itself answers 429 past its budget (the test reads it twice): our turns
    # must never go past it
    faults(busy_platform, rate_limit=RATE * 10 + 5)
    env = bookwire_env(settings_env(settings))
    env["BOOKWIRE_MAX_RETRIES"] = "0"  # waiting for a turn is no retry: none may run out
    # every booking at the same priority: this is about threads, not the order of the queue
    publisher = Runtime(settings.model_copy(update={"fair_share": 0}), tenants=runtime.tenants)
    worker = Process(worker_argv(concurrency=4), env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: "ready" in worker.output(), timeout=30)
        for n in range(BACKLOG):  # one task each, as webhooks arriving one by one publish them
            publish_booking(publisher, tenant="busy", booking=booking(f"busy-{n}"))
        published = time.monotonic()
        publish_booking(publisher, tenant="quiet", booking=booking("quiet-1"))

        wait_for(lambda: gomry_events(sandbox.url), timeout=30, every=0.05)
        quiet_latency = time.monotonic() - published
        busy_done_then = len(gomry_events(busy_platform.url))
        # the busy bookings waiting for their turns are queued, not stranded: the relay
        # (``relay_after`` is 1 s here) leaves them alone instead of queueing them twice
        assert relay_once(runtime, now=datetime.now(UTC)) == 0

        wait_for(lambda: synced(runtime) == BACKLOG + 1, timeout=40, every=0.05)
        busy_latency = time.monotonic() - published
        time.sleep(1)  # a late duplicate would show by now
        busy_events = references(gomry_events(busy_platform.url))
        quiet_events = references(gomry_events(sandbox.url))
    finally:
        worker.stop()
        publisher.close()

    assert quiet_latency < 5, f"the quiet booking waited {quiet_latency:.1f} s"
    assert busy_done_then <= BACKLOG - 20, "the quiet booking ran after most of the backlog"
    assert busy_latency > quiet_latency + 5  # the backlog really was long
    # nothing lost, nothing twice, no booking given up on, and the busy platform never said 429
    assert len(busy_events) == BACKLOG and set(busy_events.values()) == {1}
    assert len(quiet_events) == 1 and set(quiet_events.values()) == {1}
    with runtime.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Failure)) == 0
        states = Counter(session.scalars(select(Booking.state)))
        intents = Counter(session.scalars(select(SyncIntent.outcome)))
    assert states == {"synced": BACKLOG + 1}
    # a turn not taken reached no platform: its intent is closed as unsent, none left open
    assert intents["created"] == BACKLOG + 1 and intents["unsent"] > 0 and None not in intents
    assert faults(busy_platform)["counters"].get("rate_limited", 0) == 0


SLOW_BACKLOG = 120  # an import for a platform answering in 100 ms: about 6 s of work


def test_a_quiet_tenants_booking_is_taken_before_a_busy_tenants_backlog(
    runtime: Runtime,
    settings: Settings,
    sandbox: ServerThread,
    busy_platform: ServerThread,
    tmp_path: Path,
) -> None:
    faults(busy_platform, latency_ms=100)
    # past 10 bookings in about 10 s, a tenant's further bookings queue behind everyone else's
    publisher = Runtime(settings.model_copy(update={"fair_share": 10}), tenants=runtime.tenants)
    worker = Process(
        worker_argv(concurrency=4), bookwire_env(settings_env(settings)), tmp_path / "w.log"
    )
    worker.start()
    try:
        wait_for(lambda: "ready" in worker.output(), timeout=30)
        for n in range(SLOW_BACKLOG):  # an import: one task each
            publish_booking(publisher, tenant="bulk", booking=booking(f"bulk-{n}"))
        published = time.monotonic()
        publish_booking(publisher, tenant="quiet", booking=booking("quiet-1"))

        wait_for(lambda: gomry_events(sandbox.url), timeout=30, every=0.05)
        quiet_latency = time.monotonic() - published
        busy_done_then = len(gomry_events(busy_platform.url))
        wait_for(lambda: synced(runtime) == SLOW_BACKLOG + 1, timeout=60, every=0.05)
        time.sleep(1)  # a late duplicate would show by now
        busy_events = references(gomry_events(busy_platform.url))
        quiet_events = references(gomry_events(sandbox.url))
    finally:
        worker.stop()
        publisher.close()

    assert quiet_latency < 2, f"the quiet booking waited {quiet_latency:.1f} s"
    assert busy_done_then <= SLOW_BACKLOG // 2, "the quiet booking ran after most of the backlog"
    assert len(busy_events) == SLOW_BACKLOG and set(busy_events.values()) == {1}
    assert len(quiet_events) == 1 and set(quiet_events.values()) == {1}
    with runtime.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Failure)) == 0
