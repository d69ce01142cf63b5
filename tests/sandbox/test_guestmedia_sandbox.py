"""The sandbox provider keeps docs/guest-media-contract.md, checked with raw HTTP."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support import GUESTMEDIA_KEY, ServerThread

AUTH = {"Authorization": f"Bearer {GUESTMEDIA_KEY}"}
BODY: dict[str, Any] = {
    "name": "Summer Launch Party",
    "starts_at": "2030-07-15T18:00:00-04:00",
    "ends_at": "2030-07-15T22:00:00-04:00",
    "timezone": "America/New_York",
    "branding": {"custom_domain": "photos.example.com", "qr_text": "Scan me"},
    "external_reference": "bw-123",
}


def send(sandbox: ServerThread, method: str, path: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", AUTH)
    return httpx.request(method, f"{sandbox.url}/guestmedia{path}", timeout=10, **kwargs)


def create(sandbox: ServerThread, **headers: str) -> httpx.Response:
    return send(sandbox, "POST", "/v1/events", json=BODY, headers={**AUTH, **headers})


def clock(sandbox: ServerThread, iso: str) -> None:
    when = datetime.fromisoformat(iso).timestamp()
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"clock_offset_s": when - time.time()})


def test_create_answers_the_event_in_utc_with_local_date_and_guest_url(
    sandbox: ServerThread,
) -> None:
    response = create(sandbox)
    assert response.status_code == 201
    event = response.json()["event"]
    assert (event["starts_at"], event["ends_at"]) == (
        "2030-07-15T22:00:00Z",
        "2030-07-16T02:00:00Z",
    )
    assert event["date"] == "2030-07-15" and event["status"] == "scheduled"
    assert event["guest_url"].startswith("https://photos.example.com/e/")
    assert event["album_url"] is None and event["branding"]["logo_url"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"name": "x" * 121}, "name"),
        ({"ends_at": "2030-07-15T17:00:00-04:00"}, "ends_at"),
        ({"starts_at": "2030-07-15T18:00:00"}, "starts_at"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"branding": {"primary_color": "red"}}, "branding.primary_color"),
        ({"branding": {"qr_text": "q" * 81}}, "branding.qr_text"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(
    sandbox: ServerThread, change: dict[str, Any], field: str
) -> None:
    response = send(sandbox, "POST", "/v1/events", json={**BODY, **change})
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed" and response.json()["field"] == field


def test_auth_and_other_keys(sandbox: ServerThread) -> None:
    assert send(sandbox, "GET", "/v1/events/x", headers={}).json()["code"] == "unauthorized"
    event_id = create(sandbox).json()["event"]["id"]
    app = sandbox.server.config.app
    app.state.platform._keys["guestmedia"].add("other")
    other = {"Authorization": "Bearer other"}
    assert send(sandbox, "GET", f"/v1/events/{event_id}", headers=other).status_code == 404


def test_idempotency_key_replays_and_concurrent_repeats_get_409(sandbox: ServerThread) -> None:
    first = create(sandbox, **{"Idempotency-Key": "k1"})
    again = create(sandbox, **{"Idempotency-Key": "k1"})
    assert again.content == first.content and again.headers["idempotent-replay"] == "true"
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 300})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: create(sandbox, **{"Idempotency-Key": "k2"}), range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409]
    found = send(sandbox, "GET", "/v1/events", params={"external_reference": "bw-123"})
    assert len(found.json()["events"]) == 2  # k1 once, k2 once


def test_patch_merges_branding_cancels_and_restores(sandbox: ServerThread) -> None:
    event_id = create(sandbox).json()["event"]["id"]
    path = f"/v1/events/{event_id}"
    assert send(sandbox, "PATCH", path, json={}).status_code == 400
    patched = send(
        sandbox, "PATCH", path, json={"branding": {"qr_text": None, "primary_color": "#000000"}}
    ).json()["event"]
    assert patched["branding"]["qr_text"] is None
    assert patched["branding"]["custom_domain"] == "photos.example.com"  # merged, not replaced
    assert patched["branding"]["primary_color"] == "#000000"
    backwards = {"ends_at": "2030-07-15T17:00:00-04:00"}  # before the stored start
    assert send(sandbox, "PATCH", path, json=backwards).status_code == 400
    cancelled = send(sandbox, "PATCH", path, json={"status": "cancelled"}).json()["event"]
    assert cancelled["status"] == "cancelled"
    restored = send(sandbox, "PATCH", path, json={"status": "scheduled"}).json()["event"]
    assert restored["status"] == "scheduled"


def test_status_follows_the_platform_clock_and_ended_is_final(sandbox: ServerThread) -> None:
    event_id = create(sandbox).json()["event"]["id"]
    path = f"/v1/events/{event_id}"
    clock(sandbox, "2030-07-15T23:00:00+00:00")
    assert send(sandbox, "GET", path).json()["event"]["status"] == "live"
    clock(sandbox, "2030-07-16T02:00:00+00:00")
    ended = send(sandbox, "GET", path).json()["event"]
    assert ended["status"] == "ended"
    assert ended["album_url"] == f"https://photos.example.com/albums/{event_id}"
    refused = send(sandbox, "PATCH", path, json={"name": "Later"})
    assert (refused.status_code, refused.json()["code"]) == (409, "event_ended")


def test_a_cancelled_event_stays_cancelled_after_its_end(sandbox: ServerThread) -> None:
    event_id = create(sandbox).json()["event"]["id"]
    send(sandbox, "PATCH", f"/v1/events/{event_id}", json={"status": "cancelled"})
    clock(sandbox, "2030-08-01T00:00:00+00:00")
    event = send(sandbox, "GET", f"/v1/events/{event_id}").json()["event"]
    assert (event["status"], event["album_url"]) == ("cancelled", None)
    restore = send(sandbox, "PATCH", f"/v1/events/{event_id}", json={"status": "scheduled"})
    assert restore.status_code == 409


def test_the_end_knob_attaches_an_album_now(sandbox: ServerThread) -> None:
    event_id = create(sandbox).json()["event"]["id"]
    album = {"album_url": "https://photos.example.com/a/xyz", "media_count": 42}
    httpx.post(f"{sandbox.url}/guestmedia/_sandbox/events/{event_id}/end", json=album)
    event = send(sandbox, "GET", f"/v1/events/{event_id}").json()["event"]
    assert (event["status"], event["album_url"], event["media_count"]) == (
        "ended",
        album["album_url"],
        42,
    )
    assert datetime.fromisoformat(event["ended_at"]) <= datetime.now(UTC)


@pytest.mark.parametrize(("knob", "status"), [({"error_rate": 1.0}, 503), ({"burst_429": 1}, 429)])
def test_fault_knobs_answer_before_doing_any_work(
    sandbox: ServerThread, knob: dict[str, Any], status: int
) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=knob)
    assert create(sandbox).status_code == status
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 0.0})
    found = send(sandbox, "GET", "/v1/events", params={"external_reference": "bw-123"})
    assert found.json() == {"events": [], "next_cursor": None}


def test_drop_commits_then_breaks_the_connection_and_the_key_replays(
    sandbox: ServerThread,
) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"drop_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        create(sandbox, **{"Idempotency-Key": "k3"})
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"drop_rate": 0.0})
    assert create(sandbox, **{"Idempotency-Key": "k3"}).headers["idempotent-replay"] == "true"
