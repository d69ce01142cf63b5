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
