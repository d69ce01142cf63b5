"""The crash-point matrix on the other two platforms: guest media (one keyed event per booking,
like Gomry) and Gatsby (the booking's people on the guest list of the event for its date).

Kill at every point of every effect, follow up with every kind of change, restart: guest media
holds exactly one event for the booking, in its latest state; on Gatsby the customer is an
accepted guest of exactly the event for the booking's latest date (and of none once cancelled).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.crashes.conftest import die_at
from tests.crashes.test_sync_crash_points import (
    EFFECTS,
    FIRST,
    MOVED,
    MOVED_AGAIN,
    NOW,
    reference_of,
    restart,
)
from tests.integrations.gatsby.conftest import EVENTS, ORG
from tests.integrations.platforms import tenant_toml
from tests.support import GATSBY_TOKEN, GUESTMEDIA_KEY, ServerThread, booking
from worker.crashpoints import POINTS
from worker.intake.api import publish_booking
from worker.runtime import Runtime

FOLLOW_UPS = ("none", "reschedule", "cancel", "re-confirm")
GATSBY_OPTIONS = {"organization_slug": ORG, "slug_template": "party-{date}", "page_size": 10}
JULY_17 = {
    "eventId": "evt-0717",
    "name": "Summer party, July 17",
    "primarySlug": "party-2026-07-17",
    "primaryDate": "2026-07-17T22:00:00Z",
    "timezone": "America/New_York",
}
EVENT_OF = {
    FIRST["start"]: "evt-0715",
    MOVED["start"]: "evt-0716",
    MOVED_AGAIN["start"]: "evt-0717",
}


@pytest.fixture(params=["guestmedia", "gatsby"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread, kind: str) -> Path:
    options = GATSBY_OPTIONS if kind == "gatsby" else {}
    if kind == "gatsby":
        body = {"organizationSlug": ORG, "events": [*EVENTS, JULY_17]}
        httpx.post(f"{sandbox.url}/gatsby/_seed", json=body, timeout=10).raise_for_status()
    else:  # the platform's clock in June 2026, before the booked events end
        offset = (NOW - datetime.now(UTC)).total_seconds()
        faults = {"clock_offset_s": offset}
        httpx.post(f"{sandbox.url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()
    path = tmp_path / "tenants.toml"
    path.write_text(tenant_toml(sandbox.url, kind, options=options), encoding="utf-8")
    return path


def publish(runtime: Runtime, name: str, day: int, **fields: Any) -> int:
    customer = {"name": "Zoë Ångström", "email": f"{name}@example.com"}
    body = booking(name, customer=customer, updated_at=f"2026-06-0{day}T10:00:00+00:00", **fields)
    receipt = publish_booking(runtime, tenant="acme", booking=body)
    assert receipt.outcome == "accepted", receipt
    return receipt.bookings[0]


def media_events(sandbox: ServerThread, reference: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{sandbox.url}/guestmedia/v1/events",
        params={"external_reference": reference, "limit": 100},
        headers={"Authorization": f"Bearer {GUESTMEDIA_KEY}"},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json()["events"])


def accepted_on(sandbox: ServerThread, email: str) -> list[str]:
    """The Gatsby events on which ``email`` is an accepted (or invited) guest."""
    headers = {"Authorization": f"Bearer {GATSBY_TOKEN}", "organizationSlug": ORG}
    found = []
    for event_id in EVENT_OF.values():
        guests = httpx.get(
            f"{sandbox.url}/gatsby/event/{event_id}/guestlist", headers=headers, timeout=10
        ).json()["guests"]
        if any(g["email"] == email and g["rsvpStatus"] in ("Accepted", "Invited") for g in guests):
            found.append(event_id)
    return found


def assert_platform_holds(
    sandbox: ServerThread, kind: str, name: str, reference: str, wanted: dict[str, Any]
) -> None:
    cancelled = wanted["status"] == "cancelled"
    if kind == "gatsby":
        expected = [] if cancelled else [EVENT_OF[wanted["start"]]]
        assert accepted_on(sandbox, f"{name}@example.com") == expected
        return
    events = media_events(sandbox, reference)
    if cancelled:
        assert len(events) <= 1 and all(e["status"] == "cancelled" for e in events), events
        return
    assert len(events) == 1, f"{len(events)} events for one booking"
    assert events[0]["status"] != "cancelled"
    starts = datetime.fromisoformat(events[0]["starts_at"].replace("Z", "+00:00"))
    assert starts == datetime.fromisoformat(wanted["start"])


@pytest.mark.parametrize("effect", EFFECTS)
@pytest.mark.parametrize("point", POINTS)
def test_every_crash_point_converges_on_every_platform(
    runtime: Runtime, sandbox: ServerThread, kind: str, effect: str, point: str
) -> None:
    for follow in FOLLOW_UPS:
        name = f"{kind}-{effect}-{point}-{follow}"
        ours = publish(runtime, name, 1, **FIRST)
        wanted: dict[str, Any] = {"status": "confirmed", **FIRST}
        if effect != "create":
            restart(runtime, ours, now=NOW)
            if effect == "update":
                publish(runtime, name, 2, status="rescheduled", **MOVED)
                wanted = {"status": "confirmed", **MOVED}
            else:
                publish(runtime, name, 2, status="cancelled", **FIRST)
                wanted = {"status": "cancelled", **FIRST}
        die_at(runtime, point, "sync", ours, now=NOW)
        if follow == "reschedule":
            publish(runtime, name, 3, status="rescheduled", **MOVED_AGAIN)
            wanted = {"status": "confirmed", **MOVED_AGAIN}
        elif follow == "cancel":
            publish(runtime, name, 3, status="cancelled", start=wanted["start"], end=wanted["end"])
            wanted = {**wanted, "status": "cancelled"}
        elif follow == "re-confirm":
            publish(runtime, name, 3, status="confirmed", **FIRST)
            wanted = {"status": "confirmed", **FIRST}
        restart(runtime, ours, now=NOW)
        assert_platform_holds(sandbox, kind, name, reference_of(runtime, ours), wanted)
