"""The Gomry client against the sandbox over real HTTP: fields, PATCH rules, cancel, tickets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integrations.errors import PermanentError, TransientError
from integrations.gomry.client import GomryPlatform, reference_line
from integrations.http import Attempt, recording
from integrations.platform import LinkedEvent
from tests.integrations.gomry.conftest import OPTIONS
from tests.integrations.platforms import client, faults, spec
from tests.support import GOMRY_KEY, ServerThread

HEADERS = {"X-API-KEY": GOMRY_KEY}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.fixture
def gomry(sandbox: ServerThread, http: httpx.Client) -> GomryPlatform:
    return client(sandbox, "gomry", http, options=OPTIONS)  # type: ignore[no-any-return]


def event(sandbox: ServerThread, event_id: str) -> dict[str, Any]:
    response = httpx.get(f"{sandbox.url}/api/v1/events/{event_id}", headers=HEADERS)
    return dict(response.json()["data"])


def tickets(sandbox: ServerThread, event_id: str, status: str = "valid,checked_in") -> list[Any]:
    url = f"{sandbox.url}/api/v1/events/{event_id}/attendees"
    return list(httpx.get(url, params={"status": status}, headers=HEADERS).json()["data"])


def calls(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[tuple[str, str]]]:
    seen: list[Attempt] = []
    with recording(seen.append):
        result = fn(*args, **kwargs)
    return result, [(a.method, a.path.rsplit("/", 1)[-1]) for a in seen]


def test_create_sends_every_field_the_booking_and_brand_fill(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-1", title="Summer Launch Party")
    linked = gomry.create_event(wanted, idempotency_key=wanted.reference)
    doc = event(sandbox, linked.event_id)
    assert doc["start"] == {"utc": "2026-07-15T22:00:00.000Z", "timezone": "America/New_York"}
    assert doc["end"]["utc"] == "2026-07-16T02:00:00.000Z"
    assert doc["venue"]["address"] == "Convention Center, New York"
    assert (doc["capacity"], doc["ticket_price"], doc["currency"]) == (120, 25.0, "eur")
    assert doc["space_identifier"] == "WEDDINGS" and doc["is_private"] is False
    assert doc["require_approval"] is False
    assert doc["description"].endswith(reference_line(wanted.reference))


def test_meeting_link_alone_makes_a_virtual_event_and_with_an_address_joins_the_text(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    online = spec("g-2", location=None, meeting_url="https://meet.example.com/abc")
    doc = event(sandbox, gomry.create_event(online, idempotency_key="k-g-2").event_id)
    assert doc["is_virtual"] is True and doc["meeting_url"] == "https://meet.example.com/abc"
    both = spec("g-3", meeting_url="https://meet.example.com/xyz")
    doc = event(sandbox, gomry.create_event(both, idempotency_key="k-g-3").event_id)
    assert doc["is_virtual"] is False
    assert "Join online: https://meet.example.com/xyz" in doc["description"]


def test_update_reads_first_and_patches_only_what_changed(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-4")
    linked = gomry.create_event(wanted, idempotency_key=wanted.reference)
    _, sent = calls(gomry.update_event, linked, wanted)
    assert ("PATCH", linked.event_id) not in sent  # nothing differs: nothing written
    moved = spec(
        "g-4",
        start="2026-07-16T09:00:00+01:00",
        end="2026-07-16T11:00:00+01:00",
        timezone=("Europe/London"),
    )
    gomry.update_event(linked, moved)
    doc = event(sandbox, linked.event_id)
    assert doc["start"] == {"utc": "2026-07-16T08:00:00.000Z", "timezone": "Europe/London"}
    assert doc["end"] == {"utc": "2026-07-16T10:00:00.000Z", "timezone": "Europe/London"}


def test_venue_is_read_modified_and_written_whole(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-5")
    linked = gomry.create_event(wanted, idempotency_key=wanted.reference)
    venue = {"name": "Convention Center, New York", "address": "Convention Center, New York"}
    organiser = {"venue": {**venue, "city": "New York", "state": "NY", "country": "US"}}
    httpx.patch(f"{sandbox.url}/api/v1/events/{linked.event_id}", json=organiser, headers=HEADERS)
    gomry.update_event(linked, spec("g-5", location="Pier 17, New York"))
    assert event(sandbox, linked.event_id)["venue"] == {
        "name": "Pier 17, New York",
        "address": "Pier 17, New York",
        "city": "New York",
        "state": "NY",
        "country": "US",
    }


def test_cancel_closes_and_hides_and_an_update_reopens(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-6")
    linked = gomry.create_event(wanted, idempotency_key=wanted.reference)
    gomry.cancel_event(linked)
    doc = event(sandbox, linked.event_id)
    assert (doc["registration_status"], doc["is_private"], doc["status"]) == (
        "closed",
        True,
        "active",
    )
    gomry.update_event(linked, wanted)
    doc = event(sandbox, linked.event_id)
    assert (doc["registration_status"], doc["is_private"]) == ("open", False)


def test_customer_gets_one_ticket_however_often_and_it_is_remembered(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-7")
    first = gomry.create_event(wanted, idempotency_key=wanted.reference)
    again = gomry.create_event(wanted, idempotency_key=wanted.reference)  # replay
    assert again.replayed and again.event_id == first.event_id
    [ticket] = tickets(sandbox, first.event_id)
    assert ticket["email"] == "zoe@example.com" and ticket["first_name"] == "Zoë"
    assert first.details["attendee"]["id"] == ticket["id"]
    assert "zoe@example.com" not in str(first.details)  # a hash, never the address
    _, sent = calls(gomry.update_event, first, wanted)
    assert [m for m, _ in sent] == ["GET"]  # known ticket, unchanged event: one read


def test_customer_ticket_survives_a_dropped_answer_without_a_duplicate(
    gomry: GomryPlatform, sandbox: ServerThread, http: httpx.Client
) -> None:
    wanted = spec("g-8")
    plain = client(sandbox, "gomry", http, options={**OPTIONS, "add_customer_as_attendee": False})
    linked = plain.create_event(wanted, idempotency_key=wanted.reference)
    assert tickets(sandbox, linked.event_id) == []
    bare = LinkedEvent(linked.event_id)
    faults(sandbox, drop_rate=1.0)  # the ticket is issued, then the connection drops
    with pytest.raises(TransientError):
        gomry.update_event(bare, wanted)
    faults(sandbox, drop_rate=0.0)
    placed = gomry.update_event(bare, wanted)
    assert len(tickets(sandbox, linked.event_id)) == 1
    assert placed.details["attendee"]["id"] == tickets(sandbox, linked.event_id)[0]["id"]


def test_attendees_and_check_ins_come_back_after_the_event(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-9")
    linked = gomry.create_event(wanted, idempotency_key=wanted.reference)
    ticket_id = linked.details["attendee"]["id"]
    url = f"{sandbox.url}/api/v1/events/{linked.event_id}/attendees/{ticket_id}"
    httpx.patch(url, json={"status": "checked_in"}, headers=HEADERS).raise_for_status()
    delivered = gomry.fetch_deliverable(linked)
    [record] = delivered.attendees
    assert delivered.ready and record.attended is True and record.checked_in_at is not None
    assert (record.name, record.email, record.status) == (
        "Zoë Ångström",
        "zoe@example.com",
        "checked_in",
    )


def test_find_event_by_reference_after_the_idempotency_window(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-10")
    faults(sandbox, drop_rate=1.0)
    with pytest.raises(TransientError):  # created, but the answer was lost
        gomry.create_event(wanted, idempotency_key=wanted.reference)
    faults(sandbox, drop_rate=0.0, clock_offset_s=25 * 3600)
    found = gomry.find_event(wanted.reference)
    assert found is not None
    assert reference_line(wanted.reference) in event(sandbox, found.event_id)["description"]
    assert gomry.find_event(spec("never-created").reference) is None


def test_429_without_retry_after_is_transient_and_leaves_the_backoff_to_the_policy(
    gomry: GomryPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("g-11")
    faults(sandbox, burst_429=1)
    with pytest.raises(TransientError) as raised:
        gomry.create_event(wanted, idempotency_key=wanted.reference)
    assert raised.value.status == 429 and raised.value.retry_after is None
    assert gomry.create_event(wanted, idempotency_key=wanted.reference).event_id


def test_a_missing_ticket_class_is_a_permanent_error(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    gomry = client(sandbox, "gomry", http, options={**OPTIONS, "ticket_class": "VIP"})
    wanted = spec("g-12")
    with pytest.raises(PermanentError, match="no ticket class 'VIP'"):
        gomry.create_event(wanted, idempotency_key=wanted.reference)
