"""When a delivery is due: the event's end instant plus the grace period, in elapsed time.

Events end in several zones, two of them across a DST change: a wall-clock computation
("22:00 local + 1 h") would be an hour off (Berlin, New York) or name a time that does not
exist; the sweep must be due exactly ``grace`` after the end instant, and not a second early.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from tests.support import ServerThread
from tests.worker.handoff.conftest import book, deliveries, received
from worker import runtime as runtime_module
from worker import tasks
from worker.handoff import schedule
from worker.runtime import Runtime

SYNCED = datetime(2026, 6, 1, 12, tzinfo=UTC)
# the loopback servers keep real time while the task under test reads the frozen clock
IGNORE = ["uvicorn", "asyncio", "anyio", "starlette", "h11", "httptools", "selectors", "threading"]
CASES = [
    pytest.param(
        # 02:30 CEST, the first of the two 02:30s of 25 October; +60 min is 02:30 CET, the
        # second one (01:30Z). "Local end + 1 h" would say 03:30 CET = 02:30Z.
        "Europe/Berlin",
        "2026-10-24T22:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        id="berlin-october-dst",
    ),
    pytest.param(
        # +05:45: an end at 23:15 local is 17:30Z; due 18:30Z.
        "Asia/Kathmandu",
        "2026-07-15T19:00:00+05:45",
        "2026-07-15T23:15:00+05:45",
        datetime(2026, 7, 15, 18, 30, tzinfo=UTC),
        id="kathmandu-0545",
    ),
    pytest.param(
        # 01:45 EST on 8 March, spring forward at 02:00: due 03:45 EDT (07:45Z); the
        # wall-clock answer, 02:45, does not exist that night.
        "America/New_York",
        "2026-03-07T21:00:00-05:00",
        "2026-03-08T01:45:00-05:00",
        datetime(2026, 3, 8, 7, 45, tzinfo=UTC),
        id="new-york-march-dst",
    ),
]


@pytest.mark.parametrize(("zone", "start", "end", "due"), CASES)
def test_due_exactly_grace_after_the_end_instant(
    runtime: Runtime, sandbox: ServerThread, zone: str, start: str, end: str, due: datetime
) -> None:
    booking_id = book(
        runtime, booking_id=f"due-{zone}", start=start, end=end, timezone=zone, now=SYNCED
    )  # tenant acme: grace 60 minutes
    assert schedule.queue_due(runtime, now=due - timedelta(seconds=1)) == []
    assert deliveries(runtime, booking_id) == []
    assert schedule.queue_due(runtime, now=due) == [booking_id]
    [row] = deliveries(runtime, booking_id)
    assert row.due_at == due
    assert row.ends_at == datetime.fromisoformat(end)
    assert row.state == "pending"


def test_tenant_grace_or_the_default_setting(runtime: Runtime) -> None:
    tenants = runtime.tenants.tenants
    assert schedule.grace(runtime.settings, tenants["media"]) == timedelta(minutes=30)
    portal = tenants["acme"].portal
    assert portal is not None
    portal.grace_minutes = None
    settings = runtime.settings.model_copy(update={"portal_grace_minutes": 5})
    assert schedule.grace(settings, tenants["acme"]) == timedelta(minutes=5)


def test_the_beat_task_reads_the_clock_at_the_edge(
    runtime: Runtime, sandbox: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task itself takes no time argument: freezegun moves the clock it reads."""
    book(
        runtime,
        booking_id="due-beat",
        start="2026-07-15T18:00:00-04:00",
        end="2026-07-15T22:00:00-04:00",
        timezone="America/New_York",
        now=SYNCED,
    )
    monkeypatch.setattr(runtime_module, "_current", runtime)  # what the task uses
    due = datetime(2026, 7, 16, 3, 0, tzinfo=UTC)  # 02:00Z end + 60 min
    with freeze_time(due - timedelta(seconds=1), tick=True, real_asyncio=True, ignore=IGNORE):
        assert tasks.sweep_ended_events() == 0
    with freeze_time(due, tick=True, real_asyncio=True, ignore=IGNORE):
        assert tasks.sweep_ended_events() == 1
    with freeze_time(due + timedelta(minutes=1), tick=True, real_asyncio=True, ignore=IGNORE):
        assert tasks.sweep_ended_events() == 0  # queued once; its task is on its way


@pytest.mark.parametrize("name", ["bookwire.hand_off", "bookwire.deliver_event"])
def test_a_hand_off_queued_under_either_task_name_hands_the_album_link_off_once(
    runtime: Runtime,
    sandbox: ServerThread,
    portal: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """``bookwire.deliver_event`` is the hand-off's name before the rename: messages already
    queued under it still hand off, with the same retry and give-up policy."""
    booking_id = book(runtime, booking_id=f"due-{name}", now=SYNCED)
    monkeypatch.setattr(runtime_module, "_current", runtime)  # what the task uses
    due = datetime(2026, 7, 16, 3, 0, tzinfo=UTC)  # 02:00Z end + 60 min
    task = tasks.app.tasks[name]
    assert task.subject is tasks.HAND_OFF and task.throws == tasks.hand_off_event.throws
    with freeze_time(due, tick=True, real_asyncio=True, ignore=IGNORE):
        assert schedule.queue_due(runtime, now=due) == [booking_id]
        assert task(booking_id) == "delivered"
        assert task(booking_id) == "already delivered"
    assert len(received(portal)) == 1
    assert [row.state for row in deliveries(runtime, booking_id)] == ["delivered"]
