"""confirmed → rescheduled (another day's event) → cancelled on Gatsby through worker.sync.bookings,
with every fault knob on. Pass condition: each person once per guest list, in the right RSVP,
the link pointing at the latest target with the people's ids."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integrations.gatsby.conftest import OPTIONS, ORG
from tests.integrations.platforms import cancel, converge, faults, submit
from tests.support import GATSBY_TOKEN, ServerThread
from worker.runtime import Runtime
from worker.store.models import EventLink

KNOBS = {
    "calm": {},
    "latency": {"latency_ms": 40},
    "5xx": {"error_rate": 0.3, "seed": 11},
    "429-burst": {"burst_429": 3},
    "commit-then-drop": {"drop_rate": 0.5, "seed": 4},
    "clock+25h": {"clock_offset_s": 25 * 3600},
}
FIRED = {"5xx": "errors_5xx", "429-burst": "burst_429", "commit-then-drop": "dropped"}
PEOPLE: dict[str, Any] = {"attendees": [{"name": "Sam Lee", "email": "sam@example.com"}]}


def rsvps(sandbox: ServerThread, event_id: str) -> list[tuple[str, str]]:
    headers = {"Authorization": f"Bearer {GATSBY_TOKEN}", "organizationSlug": ORG}
    url = f"{sandbox.url}/gatsby/event/{event_id}/guestlist"
    return sorted(
        (g["email"], g["rsvpStatus"]) for g in httpx.get(url, headers=headers).json()["guests"]
    )


def lifecycle(runtime: Runtime) -> int:
    booking_id = submit(runtime, "gflow-1", **PEOPLE)
    converge(runtime, booking_id)
    submit(
        runtime,
        "gflow-1",
        status="rescheduled",
        start="2026-07-16T18:00:00-04:00",
        end="2026-07-16T22:00:00-04:00",
        updated_at="2026-06-02T00:00:00Z",
        **PEOPLE,
    )
    converge(runtime, booking_id)
    cancel(runtime, "gflow-1", "2026-06-03T00:00:00Z")
    converge(runtime, booking_id)
    return booking_id


@pytest.mark.parametrize("name", KNOBS)
def test_lifecycle_under_faults_moves_then_declines_each_person_once(
    runtime: Runtime, sandbox: ServerThread, name: str
) -> None:
    faults(sandbox, **KNOBS[name])
    booking_id = lifecycle(runtime)
    counters = faults(sandbox, error_rate=0.0, burst_429=0, drop_rate=0.0)["counters"]
    if name in FIRED:
        assert counters.get(FIRED[name], 0) > 0, counters
    declined = [("sam@example.com", "Declined"), ("zoe@example.com", "Declined")]
    assert rsvps(sandbox, "evt-0715") == declined  # moved away
    assert rsvps(sandbox, "evt-0716") == declined  # then cancelled
    with runtime.store.transaction() as session:
        link = session.get(EventLink, booking_id)
        assert link is not None and link.details is not None
        assert (link.event_id, link.event_state) == ("evt-0716", "cancelled")
        assert len(link.details["guests"]) == 2


@pytest.mark.parametrize("gatsby_options", [{**OPTIONS, "on_cancel": "remove"}])
def test_lifecycle_with_remove_on_cancel_leaves_both_lists_empty(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    faults(sandbox, drop_rate=0.3, seed=2)
    lifecycle(runtime)
    assert rsvps(sandbox, "evt-0715") == []
    assert rsvps(sandbox, "evt-0716") == []
