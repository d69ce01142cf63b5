"""The Gatsby client against the sandbox (docs/platform-gatsby.md) over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integrations.errors import ConfigurationError, PermanentError, TransientError
from integrations.gatsby.client import GatsbyPlatform, slugify
from integrations.http import Attempt, recording
from integrations.platform import LinkedEvent
from tests.integrations.gatsby.conftest import OPTIONS, ORG, seed
from tests.integrations.platforms import client, faults, spec
from tests.support import GATSBY_TOKEN, ServerThread

PEOPLE = {"attendees": [{"name": "Sam Lee", "email": "SAM@example.com"}, {"name": "No Mail"}]}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.fixture
def gatsby(sandbox: ServerThread, http: httpx.Client) -> GatsbyPlatform:
    seed(sandbox)
    return make(sandbox, http)


def make(sandbox: ServerThread, http: httpx.Client, **options: Any) -> GatsbyPlatform:
    return client(sandbox, "gatsby", http, options={**OPTIONS, **options})  # type: ignore[no-any-return]


def guests(sandbox: ServerThread, event_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {GATSBY_TOKEN}", "organizationSlug": ORG}
    url = f"{sandbox.url}/gatsby/event/{event_id}/guestlist"
    return list(httpx.get(url, headers=headers).json()["guests"])


def by_email(sandbox: ServerThread, event_id: str) -> dict[str, str]:
    return {g["email"]: g["rsvpStatus"] for g in guests(sandbox, event_id)}


def methods(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    seen: list[Attempt] = []
    with recording(seen.append):
        result = fn(*args, **kwargs)
    return result, [f"{a.method} {a.path.removeprefix('/gatsby')}" for a in seen]


def test_the_bookings_people_join_accepted_once_and_their_ids_are_kept(
    gatsby: GatsbyPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("gb-1", **PEOPLE)
    linked = gatsby.create_event(wanted, idempotency_key=wanted.reference)
    assert linked.event_id == "evt-0715"
    assert by_email(sandbox, "evt-0715") == {
        "zoe@example.com": "Accepted",
        "sam@example.com": "Accepted",
    }
    ids = {g["personId"] for g in guests(sandbox, "evt-0715")}
    assert set(linked.details["guests"].values()) == ids
    assert "example.com" not in str(linked.details)  # hashed keys, no addresses
    # a retry that lost what we stored: looks first, adds no one
    again, sent = methods(gatsby.create_event, wanted, idempotency_key=wanted.reference)
    assert not any(m.startswith(("POST", "PUT")) for m in sent)
    assert again.details == linked.details and len(guests(sandbox, "evt-0715")) == 2


def test_a_dropped_add_is_retried_without_duplicating_anyone(
    gatsby: GatsbyPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("gb-2", **PEOPLE)
    faults(sandbox, drop_rate=1.0)  # the guests are added, then the answer is lost
    with pytest.raises(TransientError):
        gatsby.create_event(wanted, idempotency_key=wanted.reference)
    faults(sandbox, drop_rate=0.0)
    gatsby.create_event(wanted, idempotency_key=wanted.reference)
    emails = sorted(g["email"] for g in guests(sandbox, "evt-0715"))
    assert emails == ["sam@example.com", "zoe@example.com"]


def test_the_slug_rule_pages_through_events_once_then_remembers(
    gatsby: GatsbyPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("gb-3")
    _, sent = methods(gatsby.create_event, wanted, idempotency_key=wanted.reference)
    assert sent.count("GET /event") == 3  # 25 other events, pages of 10
    _, sent = methods(gatsby.update_event, LinkedEvent("evt-0715"), wanted)
    assert "GET /event" not in sent


def test_a_past_target_event_is_still_found(gatsby: GatsbyPlatform) -> None:
    old = spec("gb-4", start="2020-01-01T15:00:00-05:00", end="2020-01-01T18:00:00-05:00")
    assert gatsby.create_event(old, idempotency_key="x").event_id == "evt-past"


def test_reschedule_to_another_day_moves_the_people(
    gatsby: GatsbyPlatform, sandbox: ServerThread
) -> None:
    first = spec("gb-5", **PEOPLE)
    linked = gatsby.create_event(first, idempotency_key=first.reference)
    moved_spec = spec(
        "gb-5", start="2026-07-16T18:00:00-04:00", end="2026-07-16T22:00:00-04:00", **PEOPLE
    )
    moved = gatsby.update_event(linked, moved_spec)
    assert moved.event_id == "evt-0716"
    assert set(by_email(sandbox, "evt-0716").values()) == {"Accepted"}
    assert set(by_email(sandbox, "evt-0715").values()) == {"Declined"}
    # the same persons, added by personId: nobody was created twice
    assert {g["personId"] for g in guests(sandbox, "evt-0716")} == set(
        linked.details["guests"].values()
    )


def test_cancel_declines_and_reconfirming_accepts_again(
    gatsby: GatsbyPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("gb-6")
    linked = gatsby.create_event(wanted, idempotency_key=wanted.reference)
    gatsby.cancel_event(linked)
    [guest] = guests(sandbox, "evt-0715")
    assert guest["rsvpStatus"] == "Declined"
    assert [h["status"] for h in guest["rsvpStatusHistory"]] == ["Invited", "Accepted", "Declined"]
    _, sent = methods(gatsby.cancel_event, linked)
    assert sent == ["GET /event/evt-0715/guestlist"]  # already declined: nothing written
    gatsby.update_event(linked, wanted)
    assert by_email(sandbox, "evt-0715") == {"zoe@example.com": "Accepted"}


def test_cancel_can_remove_instead_and_reconfirming_adds_the_same_person(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox)
    gatsby = make(sandbox, http, on_cancel="remove")
    wanted = spec("gb-7")
    linked = gatsby.create_event(wanted, idempotency_key=wanted.reference)
    gatsby.cancel_event(linked)
    assert guests(sandbox, "evt-0715") == []
    gatsby.update_event(linked, wanted)
    [guest] = guests(sandbox, "evt-0715")
    assert guest["personId"] == next(iter(linked.details["guests"].values()))


def test_people_dropped_from_the_booking_are_released(
    gatsby: GatsbyPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("gb-8", **PEOPLE)
    linked = gatsby.create_event(wanted, idempotency_key=wanted.reference)
    fewer = gatsby.update_event(linked, spec("gb-8"))
    assert by_email(sandbox, "evt-0715") == {
        "zoe@example.com": "Accepted",
        "sam@example.com": "Declined",
    }
    assert len(fewer.details["guests"]) == 1


def test_attendance_is_read_back_for_the_bookings_people_only(
    gatsby: GatsbyPlatform, sandbox: ServerThread
) -> None:
    wanted = spec("gb-9", **PEOPLE)
    linked = gatsby.create_event(wanted, idempotency_key=wanted.reference)
    stranger = spec("gb-10", customer={"name": "Other Guest", "email": "other@example.com"})
    gatsby.create_event(stranger, idempotency_key=stranger.reference)
    ids = {g["email"]: g["personId"] for g in guests(sandbox, "evt-0715")}
    marks = [
        {"personId": ids["zoe@example.com"], "attendanceStatus": "Attended"},
        {"personId": ids["sam@example.com"], "attendanceStatus": "No Show"},
    ]
    headers = {"Authorization": f"Bearer {GATSBY_TOKEN}", "organizationSlug": ORG}
    url = f"{sandbox.url}/gatsby/event/evt-0715/guestlist"
    httpx.put(url, json={"guests": marks}, headers=headers).raise_for_status()
    delivered = gatsby.fetch_deliverable(linked)
    assert delivered.ready
    assert sorted((r.email, r.status, r.attended) for r in delivered.attendees) == [
        ("sam@example.com", "No Show", False),
        ("zoe@example.com", "Attended", True),
    ]


def test_an_unknown_slug_is_permanent_and_a_bad_token_is_configuration(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox)
    with pytest.raises(PermanentError, match="no event with primarySlug 'party-2026-07-15'"):
        make(sandbox, http, organization_slug="empty-org").create_event(spec(), idempotency_key="k")
    revoked = client(sandbox, "gatsby", http, options=OPTIONS, secret="revoked")
    with pytest.raises(ConfigurationError):
        revoked.create_event(spec(), idempotency_key="k")


def test_a_fixed_event_id_needs_no_listing_and_nothing_is_ever_found_by_reference(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox)
    options = {"organization_slug": ORG, "event_id": "evt-0716"}
    gatsby = client(sandbox, "gatsby", http, options=options)
    linked, sent = methods(gatsby.create_event, spec("gb-11"), idempotency_key="k")
    assert linked.event_id == "evt-0716" and "GET /event" not in sent
    assert gatsby.find_event(spec("gb-11").reference) is None


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Party {2026-07-15}", "party-2026-07-15"), ("  Zoë & Sam!  ", "zo-sam"), ("---", "")],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug
