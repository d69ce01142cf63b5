"""A booking whose task keeps killing its worker is dead-lettered, not redelivered forever."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.support import ServerThread, booking, gomry_events
from worker import poison
from worker import runtime as runtime_module
from worker.intake.api import publish_booking
from worker.records.failures import GaveUp
from worker.runtime import Runtime
from worker.store.models import Booking, Failure
from worker.tasks import sync_booking


@pytest.fixture
def installed(runtime: Runtime) -> Iterator[Runtime]:
    previous = runtime_module._current
    runtime_module.install(runtime)
    yield runtime
    runtime_module._current = previous


def test_crashing_starts_are_dead_lettered_after_the_limit(
    installed: Runtime, sandbox: ServerThread
) -> None:
    booking_id = publish_booking(installed, tenant="acme", booking=booking("poison-1")).bookings[0]
    for _ in range(installed.settings.poison_after):  # each start died: never finished
        poison.started(installed, "booking", booking_id)
    with pytest.raises(GaveUp):
        sync_booking(booking_id)  # the task function, called directly
    with installed.store.transaction() as session:
        stored = session.get(Booking, booking_id)
        failure = session.scalar(select(Failure).where(Failure.booking_id == booking_id))
        assert stored is not None and stored.state == "failed"
        assert failure is not None and "dead-lettered" in failure.reason
    assert gomry_events(sandbox.url) == []  # it never ran


def test_finished_starts_never_count(installed: Runtime, sandbox: ServerThread) -> None:
    booking_id = publish_booking(installed, tenant="acme", booking=booking("poison-2")).bookings[0]
    for _ in range(installed.settings.poison_after + 2):
        assert sync_booking(booking_id) in ("created", "up-to-date")
    assert len(gomry_events(sandbox.url)) == 1
