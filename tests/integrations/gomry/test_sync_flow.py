"""confirmed → rescheduled → cancelled through worker.sync.bookings on Gomry, with every fault knob
on.

Pass condition: one event, in the booking's latest state, one ticket for the customer.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integrations.platforms import cancel, converge, faults, submit
from tests.support import GOMRY_KEY, ServerThread, gomry_events
from worker.runtime import Runtime
from worker.store.models import Booking, EventLink

KNOBS = {
    "calm": {},
    "latency": {"latency_ms": 40},
    "5xx": {"error_rate": 0.3, "seed": 7},
    "429-burst": {"burst_429": 3},
    "commit-then-drop": {"drop_rate": 0.5, "seed": 3},
    "clock+25h": {"clock_offset_s": 25 * 3600},
}
FIRED = {"5xx": "errors_5xx", "429-burst": "burst_429", "commit-then-drop": "dropped"}


@pytest.mark.parametrize("name", KNOBS)
def test_lifecycle_under_faults_leaves_one_event_in_the_latest_state(
    runtime: Runtime, sandbox: ServerThread, name: str
) -> None:
    faults(sandbox, **KNOBS[name])
    booking_id = submit(runtime, "flow-1")
    # a replayed create (its answer lost) is read back and updated: "recovered"
    assert converge(runtime, booking_id).outcome in ("created", "recovered", "up-to-date")
    submit(
        runtime,
        "flow-1",
        status="rescheduled",
        start="2026-07-16T19:30:00-04:00",
        end="2026-07-16T23:00:00-04:00",
        location="Pier 17, New York",
        updated_at="2026-06-02T00:00:00Z",
    )
    converge(runtime, booking_id)
    cancel(runtime, "flow-1", "2026-06-03T00:00:00Z")
    converge(runtime, booking_id)

    counters = faults(sandbox, error_rate=0.0, burst_429=0, drop_rate=0.0)["counters"]
    if name in FIRED:
        assert counters.get(FIRED[name], 0) > 0, counters  # the fault really happened
    [event] = gomry_events(sandbox.url)
    assert event["start"]["utc"] == "2026-07-16T23:30:00.000Z"
    assert event["venue"]["address"] == "Pier 17, New York"
    assert (event["registration_status"], event["is_private"]) == ("closed", True)
    url = f"{sandbox.url}/api/v1/events/{event['id']}/attendees"
    held = httpx.get(
        url,
        params={"status": "valid,checked_in,pending_approval"},
        headers={"X-API-KEY": GOMRY_KEY},
    ).json()["data"]
    assert [t["email"] for t in held] == ["zoe@example.com"]
    with runtime.store.transaction() as session:
        link = session.get(EventLink, booking_id)
        stored = session.get(Booking, booking_id)
        assert link is not None and stored is not None
        assert (link.event_id, link.event_state) == (event["id"], "cancelled")
        assert link.details is not None and link.details["attendee"]["id"] == held[0]["id"]
        assert stored.applied_version == stored.version


def test_client_brand_override_names_the_event(runtime: Runtime, sandbox: ServerThread) -> None:
    converge(runtime, submit(runtime, "flow-2", client="bigco"))
    converge(runtime, submit(runtime, "flow-3", client="unknown-client"))
    names = sorted(e["name"] for e in gomry_events(sandbox.url))
    assert names == ["BigCo: Summer Launch Party", "Zoë Ångström – Summer Launch Party"]
