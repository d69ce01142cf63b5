"""Kill the worker at every step of every platform effect, then change the booking: the
platform ends with exactly one event, in the booking's latest state.

For each effect (create, update, cancel) and each crash point (``worker.crashpoints``) a real
process runs the sync and is SIGKILLed there; then a follow-up arrives (none, a reschedule, a
cancellation, a re-confirmation) and the restarted worker syncs. The platform is asked what it
holds. The same matrix runs on PostgreSQL, with the platform's 24 h key window expired before
the restart, and against a platform that answers 422 to a key reused with another body.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from integrations.booking import BookingMessage, booking_reference
from integrations.gomry.client import reference_line
from tests.crashes.conftest import die_at
from tests.support import GOMRY_KEY, ServerThread, booking, gomry_events
from worker.crashpoints import POINTS
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.models import Booking
from worker.sync import bookings as sync

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
FIRST = {"start": "2026-07-15T18:00:00-04:00", "end": "2026-07-15T22:00:00-04:00"}
MOVED = {"start": "2026-07-16T19:30:00-04:00", "end": "2026-07-16T23:00:00-04:00"}
MOVED_AGAIN = {"start": "2026-07-17T12:00:00-04:00", "end": "2026-07-17T15:00:00-04:00"}
EFFECTS = ("create", "update", "cancel")
FOLLOW_UPS = ("none", "reschedule", "cancel", "re-confirm")
MODES = {
    "replay": {},  # the platform replays a reused key's first answer (docs/platform-gomry.md)
    "refuse-422": {"key_reuse": "refuse"},  # …or refuses it when the body differs
}


def publish(runtime: Runtime, booking_id: str, day: int, **fields: Any) -> int:
    body = booking(booking_id, updated_at=f"2026-06-{day:02d}T10:00:00+00:00", **fields)
    receipt = publish_booking(runtime, tenant="acme", booking=body)
    assert receipt.outcome == "accepted", receipt
    return receipt.bookings[0]


def prepare(runtime: Runtime, effect: str, booking_id: str) -> tuple[int, dict[str, Any]]:
    """The booking, up to the moment its ``effect`` is about to run; and its state then."""
    ours = publish(runtime, booking_id, 1, **FIRST)
    if effect == "create":
        return ours, {"status": "confirmed", **FIRST}
    assert sync.sync_booking(runtime, ours, now=NOW).outcome == "created"
    if effect == "update":
        publish(runtime, booking_id, 2, status="rescheduled", **MOVED)
        return ours, {"status": "confirmed", **MOVED}
    publish(runtime, booking_id, 2, status="cancelled", **FIRST)
    return ours, {"status": "cancelled", **FIRST}


def follow_up(runtime: Runtime, follow: str, booking_id: str, wanted: dict[str, Any]) -> dict:
    """A later change of the booking (day 3), and what the booking is then."""
    if follow == "reschedule":
        publish(runtime, booking_id, 3, status="rescheduled", **MOVED_AGAIN)
        return {"status": "confirmed", **MOVED_AGAIN}
    if follow == "cancel":
        publish(runtime, booking_id, 3, status="cancelled", **wanted_times(wanted))
        return {**wanted, "status": "cancelled"}
    if follow == "re-confirm":
        publish(runtime, booking_id, 3, status="confirmed", **FIRST)
        return {"status": "confirmed", **FIRST}
    return wanted


def wanted_times(wanted: dict[str, Any]) -> dict[str, str]:
    return {"start": wanted["start"], "end": wanted["end"]}


def restart(runtime: Runtime, ours: int, *, now: datetime) -> None:
    """The restarted worker (and a redelivered task) sync the booking until settled."""
    for _ in range(3):
        result = sync.sync_booking(runtime, ours, now=now)
        assert result.outcome != "busy"
    with runtime.store.transaction() as session:
        stored = session.get(Booking, ours)
        assert stored is not None and stored.applied_version == stored.version


def reference_of(runtime: Runtime, ours: int) -> str:
    with runtime.store.transaction() as session:
        stored = session.get(Booking, ours)
        assert stored is not None
        return booking_reference(BookingMessage.model_validate(stored.message).key)


def utc(value: str) -> str:
    instant = datetime.fromisoformat(value).astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:00.000Z")


def assert_platform_holds(sandbox: ServerThread, reference: str, wanted: dict[str, Any]) -> None:
    """Exactly one event for the booking, in its latest state (cancelled: none, or closed and
    hidden), and the customer holds exactly one ticket on an open one."""
    line = reference_line(reference)
    events = [e for e in gomry_events(sandbox.url) if line in (e.get("description") or "")]
    if wanted["status"] == "cancelled":
        assert len(events) <= 1, f"{len(events)} events for one booking"
        for event in events:
            assert (event["registration_status"], event["is_private"]) == ("closed", True)
        return
    assert len(events) == 1, f"{len(events)} events for one booking"
    [event] = events
    assert (event["registration_status"], event["is_private"]) == ("open", False)
    assert event["start"]["utc"] == utc(wanted["start"])
    assert event["end"]["utc"] == utc(wanted["end"])
    tickets = httpx.get(
        f"{sandbox.url}/api/v1/events/{event['id']}/attendees",
        headers={"X-API-KEY": GOMRY_KEY},
        timeout=10,
    ).json()["data"]
    assert len([t for t in tickets if t["status"] == "valid"]) == 1


def run_matrix(
    runtime: Runtime,
    sandbox: ServerThread,
    effect: str,
    point: str,
    *,
    mode: str = "replay",
    key_window_expired: bool = False,
) -> None:
    faults = {**MODES[mode], "clock_offset_s": 0}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=faults).raise_for_status()
    for follow in FOLLOW_UPS:
        name = f"crash-{effect}-{point}-{follow}"
        ours, wanted = prepare(runtime, effect, name)
        die_at(runtime, point, "sync", ours, now=NOW)
        wanted = follow_up(runtime, follow, name, wanted)
        later = NOW
        if key_window_expired:  # the restart comes a day later: the platform forgot the key
            later = NOW + timedelta(hours=25)
            httpx.post(f"{sandbox.url}/_sandbox/faults", json={"clock_offset_s": 25 * 3600})
        restart(runtime, ours, now=later)
        assert_platform_holds(sandbox, reference_of(runtime, ours), wanted)
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"clock_offset_s": 0})


@pytest.fixture(params=POINTS)
def point(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


@pytest.mark.parametrize("effect", EFFECTS)
def test_every_crash_point_converges(
    runtime: Runtime, sandbox: ServerThread, effect: str, point: str
) -> None:
    run_matrix(runtime, sandbox, effect, point)


@pytest.mark.parametrize("effect", EFFECTS)
def test_every_crash_point_converges_on_postgresql(
    pg_runtime: Runtime, sandbox: ServerThread, effect: str, point: str
) -> None:
    run_matrix(pg_runtime, sandbox, effect, point)


@pytest.mark.parametrize("effect", EFFECTS)
def test_every_crash_point_converges_after_the_key_window(
    runtime: Runtime, sandbox: ServerThread, effect: str, point: str
) -> None:
    run_matrix(runtime, sandbox, effect, point, key_window_expired=True)


@pytest.mark.parametrize("effect", EFFECTS)
def test_every_crash_point_converges_when_key_reuse_is_refused(
    runtime: Runtime, sandbox: ServerThread, effect: str, point: str
) -> None:
    run_matrix(runtime, sandbox, effect, point, mode="refuse-422")
