"""The sandbox honours Gomry's documented contract, so the client is tested against it."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest

from tests.support import GOMRY_KEY, ServerThread

BODY: dict[str, Any] = {
    "name": "Summer Launch Party",
    "start": {"utc": "2026-07-15T18:00", "timezone": "America/New_York"},
    "end": {"utc": "2026-07-15T22:00", "timezone": "America/New_York"},
    "location": "Convention Center, New York",
    "capacity": 250,
    "ticket_price": 0,
}


def post(sandbox: ServerThread, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}/api/v1/events",
        json=body,
        headers={"X-API-KEY": GOMRY_KEY, **headers},
        timeout=10,
    )


def test_seed_example_wall_clock_becomes_true_utc(sandbox: ServerThread) -> None:
    response = post(sandbox, BODY)
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["start"] == {"utc": "2026-07-15T22:00:00.000Z", "timezone": "America/New_York"}
    assert data["end"]["utc"] == "2026-07-16T02:00:00.000Z"
    assert data["venue"]["address"] == "Convention Center, New York"
    assert data["currency"] == "usd" and data["registration_status"] == "open"


def test_missing_or_wrong_key_is_401(sandbox: ServerThread) -> None:
    assert httpx.post(f"{sandbox.url}/api/v1/events", json=BODY).json() == {
        "error": "Missing X-API-KEY header"
    }
    response = httpx.post(f"{sandbox.url}/api/v1/events", json=BODY, headers={"X-API-KEY": "nope"})
    assert response.status_code == 401


def test_unknown_fields_and_long_names_are_400(sandbox: ServerThread) -> None:
    assert post(sandbox, {**BODY, "colour": "red"}).status_code == 400
    assert post(sandbox, {**BODY, "name": "x" * 201}).status_code == 400


def test_idempotency_key_replays_verbatim(sandbox: ServerThread) -> None:
    first = post(sandbox, BODY, **{"Idempotency-Key": "k1"})
    again = post(sandbox, BODY, **{"Idempotency-Key": "k1"})
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replay"] == "true"
    assert "idempotent-replay" not in first.headers


def test_concurrent_same_key_gets_409_in_progress(sandbox: ServerThread) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 300})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: post(sandbox, BODY, **{"Idempotency-Key": "k2"}), range(2))
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409]
    assert "idempotent_request_in_progress" in min(answers, key=lambda a: -a.status_code).text


def test_keys_expire_after_24_hours_on_the_platform_clock(sandbox: ServerThread) -> None:
    first = post(sandbox, BODY, **{"Idempotency-Key": "k3"}).json()["data"]["id"]
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"clock_offset_s": 25 * 3600})
    second = post(sandbox, BODY, **{"Idempotency-Key": "k3"}).json()["data"]["id"]
    assert first != second  # faithful: an expired key creates again


def test_patch_rules(sandbox: ServerThread) -> None:
    event_id = post(sandbox, BODY).json()["data"]["id"]
    url = f"{sandbox.url}/api/v1/events/{event_id}"
    headers = {"X-API-KEY": GOMRY_KEY}
    empty = httpx.patch(url, json={}, headers=headers)
    assert empty.status_code == 400
    assert empty.json() == {"error": "At least one field is required"}
    assert httpx.patch(url, json={"colour": "red"}, headers=headers).status_code == 400
    mismatched = {"start": BODY["start"], "end": {"utc": "2026-07-15T23:00", "timezone": "UTC"}}
    assert httpx.patch(url, json=mismatched, headers=headers).status_code == 400
    backwards = {"start": BODY["end"], "end": BODY["start"]}
    assert httpx.patch(url, json=backwards, headers=headers).status_code == 400
    venue = httpx.patch(url, json={"venue": {"city": "Boston"}}, headers=headers).json()["data"]
    assert venue["venue"] == {
        "name": None,
        "address": None,
        "city": "Boston",
        "state": None,
        "country": None,
    }
    closed = httpx.patch(
        url, json={"registration_status": "closed", "is_private": True}, headers=headers
    ).json()["data"]
    assert closed["registration_status"] == "closed" and closed["is_private"] is True


def test_other_keys_cannot_see_an_event(sandbox: ServerThread) -> None:
    event_id = post(sandbox, BODY).json()["data"]["id"]
    app = sandbox.server.config.app
    app.state.platform._keys["gomry"].add("other")
    response = httpx.get(f"{sandbox.url}/api/v1/events/{event_id}", headers={"X-API-KEY": "other"})
    assert response.status_code == 404


@pytest.mark.parametrize("knob", [{"error_rate": 1.0}, {"burst_429": 1}])
def test_fault_knobs_answer_before_doing_any_work(
    sandbox: ServerThread, knob: dict[str, Any]
) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=knob)
    assert post(sandbox, BODY).status_code in (429, 503)
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 0.0, "burst_429": 0})
    listed = httpx.get(f"{sandbox.url}/api/v1/events", headers={"X-API-KEY": GOMRY_KEY}).json()
    assert listed["pagination"]["total"] == 0


def test_drop_commits_then_breaks_the_connection(sandbox: ServerThread) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"drop_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        post(sandbox, BODY, **{"Idempotency-Key": "k4"})
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"drop_rate": 0.0})
    replay = post(sandbox, BODY, **{"Idempotency-Key": "k4"})
    assert replay.headers["idempotent-replay"] == "true"
    listed = httpx.get(f"{sandbox.url}/api/v1/events", headers={"X-API-KEY": GOMRY_KEY}).json()
    assert listed["pagination"]["total"] == 1


@pytest.mark.parametrize(
    ("wall", "zone", "error"),
    [
        ("2026-10-25T01:30", "Europe/London", "Local time is ambiguous in this time zone"),
        ("2026-04-05T01:45", "Australia/Lord_Howe", "Local time is ambiguous in this time zone"),
        ("2026-03-29T01:30", "Europe/London", "Local time does not exist in this time zone"),
        ("2026-10-04T02:15", "Australia/Lord_Howe", "Local time does not exist in this time zone"),
    ],
    ids=["london-fall-back", "lord-howe-half-hour-back", "london-spring-gap", "lord-howe-gap"],
)
def test_a_local_time_that_happens_twice_or_never_is_refused_not_guessed(
    sandbox: ServerThread, wall: str, zone: str, error: str
) -> None:
    for field in ("start", "end"):
        body = {
            **BODY,
            "start": {"utc": "2026-01-01T00:00", "timezone": zone},
            "end": {"utc": "2026-12-31T23:00", "timezone": zone},
            field: {"utc": wall, "timezone": zone},
        }
        response = post(sandbox, body)
        assert response.status_code == 400
        assert response.json() == {
            "error": "Validation failed",
            "details": {"fieldErrors": {f"{field}.utc": [error]}},
        }
    created = post(sandbox, BODY).json()["data"]
    url = f"{sandbox.url}/api/v1/events/{created['id']}"
    patch = {"start": {"utc": wall, "timezone": zone}, "end": BODY["end"] | {"timezone": zone}}
    refused = httpx.patch(url, json=patch, headers={"X-API-KEY": GOMRY_KEY})
    assert refused.status_code == 400 and refused.json()["details"]["fieldErrors"] == {
        "start.utc": [error]
    }


def test_end_at_or_before_start_is_refused_on_create(sandbox: ServerThread) -> None:
    same = {**BODY, "end": BODY["start"]}
    response = post(sandbox, same)
    assert response.status_code == 400
    assert response.json()["details"]["fieldErrors"] == {"end": ["End must be after start"]}


def test_the_same_instants_in_utc_are_accepted_across_a_clock_change(
    sandbox: ServerThread,
) -> None:
    body = {
        **BODY,
        "start": {"utc": "2026-10-25T00:30", "timezone": "UTC"},
        "end": {"utc": "2026-10-25T01:30", "timezone": "UTC"},
    }
    data = post(sandbox, body).json()["data"]
    assert data["start"] == {"utc": "2026-10-25T00:30:00.000Z", "timezone": "UTC"}
    assert data["end"]["utc"] == "2026-10-25T01:30:00.000Z"
