"""The sandbox honours Gatsby's documented contract (docs/platform-gatsby.md): the client is
tested against it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import GATSBY_TOKEN, ServerThread

ORG = "gatsby-labs"
AUTH = {"Authorization": f"Bearer {GATSBY_TOKEN}", "organizationSlug": ORG}
EVENT = {
    "eventId": "e8dj2ns9-34kd-9j3b",
    "name": "Annual Conference 2030",
    "primarySlug": "annual-conference-2030",
    "primaryDate": "2030-11-15T09:00:00Z",
    "timezone": "America/Los_Angeles",
}
GUESTLIST = f"/gatsby/event/{EVENT['eventId']}/guestlist"
JANE = {"firstName": "Jane", "lastName": "Smith", "email": "jane@example.com", "company": "Acme"}


def seed(sandbox: ServerThread, *events: dict[str, Any]) -> None:
    body = {"organizationSlug": ORG, "events": list(events) or [EVENT]}
    httpx.post(f"{sandbox.url}/gatsby/_seed", json=body).raise_for_status()


def send(sandbox: ServerThread, method: str, path: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", AUTH)
    return httpx.request(method, f"{sandbox.url}{path}", timeout=10, **kwargs)


def test_every_call_needs_the_bearer_token_and_the_organization(sandbox: ServerThread) -> None:
    seed(sandbox)
    assert send(sandbox, "GET", "/gatsby/event", headers={}).status_code == 401
    bad = {"Authorization": "Bearer nope", "organizationSlug": ORG}
    assert send(sandbox, "GET", "/gatsby/event", headers=bad).status_code == 401
    missing = send(
        sandbox, "GET", "/gatsby/event", headers={"Authorization": AUTH["Authorization"]}
    )
    assert missing.status_code == 400
    assert missing.json() == {"message": "Missing required header: organizationSlug"}
    other = {**AUTH, "organizationSlug": "someone-else"}
    assert send(sandbox, "GET", "/gatsby/event", headers=other).json() == {"events": []}
    assert send(sandbox, "GET", GUESTLIST, headers=other).status_code == 404


def test_events_page_with_limit_and_skip_and_hide_the_past_by_default(
    sandbox: ServerThread,
) -> None:
    future = [{**EVENT, "eventId": f"f{i:02d}", "primarySlug": f"f{i}"} for i in range(12)]
    past = {**EVENT, "eventId": "old", "primarySlug": "old", "primaryDate": "2020-01-01T09:00:00Z"}
    seed(sandbox, past, *future)
    first = send(sandbox, "GET", "/gatsby/event").json()["events"]
    assert [e["eventId"] for e in first] == [f"f{i:02d}" for i in range(10)]  # default 10
    rest = send(sandbox, "GET", "/gatsby/event", params={"skip": 10, "limit": 10}).json()
    assert [e["eventId"] for e in rest["events"]] == ["f10", "f11"]
    everything = send(
        sandbox, "GET", "/gatsby/event", params={"limit": 50, "includePastEvents": "true"}
    ).json()["events"]
    assert len(everything) == 13 and everything[0]["eventId"] == "old"
    assert set(first[0]) >= {"eventId", "primarySlug", "primaryDate", "timezone", "isPublic"}


def test_adding_guests_by_email_creates_people_and_never_merges(sandbox: ServerThread) -> None:
    seed(sandbox)
    added = send(sandbox, "POST", GUESTLIST, json={"guests": [JANE]}).json()["guests"]
    assert added[0]["rsvpStatus"] == "Invited" and added[0]["email"] == "jane@example.com"
    assert [h["status"] for h in added[0]["rsvpStatusHistory"]] == ["Invited"]
    send(sandbox, "POST", GUESTLIST, json={"guests": [JANE]})
    listed = send(sandbox, "GET", GUESTLIST).json()["guests"]
    assert [g["email"] for g in listed] == ["jane@example.com"] * 2  # look before you add
    again = send(sandbox, "POST", GUESTLIST, json={"guests": [{"personId": added[0]["personId"]}]})
    assert again.status_code == 422


def test_update_sets_rsvp_and_attendance_and_refuses_unknown_words(sandbox: ServerThread) -> None:
    seed(sandbox)
    [jane] = send(sandbox, "POST", GUESTLIST, json={"guests": [JANE]}).json()["guests"]
    change = {
        "personId": jane["personId"],
        "rsvpStatus": "Accepted",
        "attendanceStatus": "Attended",
    }
    [updated] = send(sandbox, "PUT", GUESTLIST, json={"guests": [change]}).json()["guests"]
    assert (updated["rsvpStatus"], updated["attendanceStatus"]) == ("Accepted", "Attended")
    assert [h["status"] for h in updated["rsvpStatusHistory"]] == ["Invited", "Accepted"]
    odd = {"personId": jane["personId"], "rsvpStatus": "Sure"}
    assert send(sandbox, "PUT", GUESTLIST, json={"guests": [odd]}).status_code == 422
    stranger = {"personId": "nobody", "rsvpStatus": "Declined"}
    assert send(sandbox, "PUT", GUESTLIST, json={"guests": [stranger]}).status_code == 404


def test_remove_takes_a_json_body_and_is_idempotent(sandbox: ServerThread) -> None:
    seed(sandbox)
    [jane] = send(sandbox, "POST", GUESTLIST, json={"guests": [JANE]}).json()["guests"]
    body = {"guests": [{"personId": jane["personId"]}]}
    assert send(sandbox, "DELETE", GUESTLIST, json=body).json() == {"success": True}
    assert send(sandbox, "DELETE", GUESTLIST, json=body).json() == {"success": True}
    assert send(sandbox, "GET", GUESTLIST).json() == {"guests": []}
    assert send(sandbox, "DELETE", GUESTLIST).status_code == 400  # the body is required


@pytest.mark.parametrize(("knob", "status"), [({"error_rate": 1.0}, 503), ({"burst_429": 1}, 429)])
def test_fault_knobs_answer_before_doing_any_work(
    sandbox: ServerThread, knob: dict[str, Any], status: int
) -> None:
    seed(sandbox)
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=knob)
    assert send(sandbox, "POST", GUESTLIST, json={"guests": [JANE]}).status_code == status
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 0.0})
    assert send(sandbox, "GET", GUESTLIST).json() == {"guests": []}


def test_drop_commits_then_breaks_the_connection(sandbox: ServerThread) -> None:
    seed(sandbox)
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"drop_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        send(sandbox, "POST", GUESTLIST, json={"guests": [JANE]})
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"drop_rate": 0.0})
    assert len(send(sandbox, "GET", GUESTLIST).json()["guests"]) == 1


def test_the_platform_clock_decides_what_is_past(sandbox: ServerThread) -> None:
    seed(sandbox)
    assert len(send(sandbox, "GET", "/gatsby/event").json()["events"]) == 1
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"clock_offset_s": 10 * 366 * 86400})
    assert send(sandbox, "GET", "/gatsby/event").json()["events"] == []
