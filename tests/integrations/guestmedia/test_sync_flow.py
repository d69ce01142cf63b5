"""confirmed → rescheduled → cancelled on a guest-media provider through worker.sync.bookings, with
every fault knob on; then the album link of an event that has ended."""

from __future__ import annotations

import httpx
import pytest

from integrations.booking import booking_key, booking_reference
from integrations.platform import LinkedEvent
from tests.integrations.guestmedia.conftest import at
from tests.integrations.platforms import cancel, converge, faults, submit
from tests.support import GUESTMEDIA_KEY, ServerThread
from worker.runtime import Runtime
from worker.store.models import Booking, EventLink

KNOBS = {
    "calm": {},
    "latency": {"latency_ms": 40},
    "5xx": {"error_rate": 0.3, "seed": 7},
    "429-burst": {"burst_429": 3},
    "commit-then-drop": {"drop_rate": 0.5, "seed": 3},
}
FIRED = {"5xx": "errors_5xx", "429-burst": "burst_429", "commit-then-drop": "dropped"}
HEADERS = {"Authorization": f"Bearer {GUESTMEDIA_KEY}"}


def events(sandbox: ServerThread, reference: str) -> list[dict[str, object]]:
    url = f"{sandbox.url}/guestmedia/v1/events"
    found = httpx.get(url, params={"external_reference": reference}, headers=HEADERS)
    return list(found.json()["events"])


def link(runtime: Runtime, booking_id: int) -> EventLink:
    with runtime.store.transaction() as session:
        found = session.get(EventLink, booking_id)
        assert found is not None
        return found


@pytest.mark.parametrize("name", KNOBS)
def test_lifecycle_under_faults_leaves_one_event_in_the_latest_state(
    runtime: Runtime, sandbox: ServerThread, name: str
) -> None:
    faults(sandbox, **KNOBS[name])
    booking_id = submit(runtime, "mflow-1", client="bigco")
    converge(runtime, booking_id)
    submit(
        runtime,
        "mflow-1",
        client="bigco",
        status="rescheduled",
        start="2026-07-18T12:00:00-04:00",
        end="2026-07-18T16:00:00-04:00",
        updated_at="2026-06-02T00:00:00Z",
    )
    converge(runtime, booking_id)
    cancel(runtime, "mflow-1", "2026-06-03T00:00:00Z")
    converge(runtime, booking_id)
    counters = faults(sandbox, error_rate=0.0, burst_429=0, drop_rate=0.0)["counters"]
    if name in FIRED:
        assert counters.get(FIRED[name], 0) > 0, counters
    stored = link(runtime, booking_id)
    [event] = events(sandbox, _reference(runtime, booking_id))
    assert (event["id"], event["status"], event["date"]) == (
        stored.event_id,
        "cancelled",
        "2026-07-18",
    )
    assert event["branding"]["custom_domain"] == "memories.bigco.test"  # type: ignore[index]


def test_an_ended_event_yields_its_album_link(runtime: Runtime, sandbox: ServerThread) -> None:
    booking_id = submit(runtime, "mflow-2")
    converge(runtime, booking_id)
    stored = link(runtime, booking_id)
    tenant = runtime.tenant("acme")
    assert tenant is not None and stored.ends_at is not None
    platform = runtime.platform(tenant)
    assert not platform.fetch_deliverable(LinkedEvent(stored.event_id)).ready
    at(sandbox, stored.ends_at.timestamp() + 60)  # a minute after the party
    delivered = platform.fetch_deliverable(LinkedEvent(stored.event_id))
    assert delivered.ready and delivered.status == "ended"
    assert delivered.album_url == f"https://photos.acme.test/albums/{stored.event_id}"


def _reference(runtime: Runtime, booking_id: int) -> str:
    with runtime.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        assert booking is not None
        return booking_reference(booking_key(booking.tenant, booking.source, booking.external_id))
