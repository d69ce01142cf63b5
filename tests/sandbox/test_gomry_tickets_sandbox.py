"""Gomry's ticket classes and attendees in the sandbox, as gomry.md §5–6 documents them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.sandbox.test_gomry_sandbox import BODY, post
from tests.support import GOMRY_KEY, ServerThread

HEADERS = {"X-API-KEY": GOMRY_KEY}
JANE = {"email": "Jane@Example.com", "first_name": "Jane", "last_name": "Doe"}


def event(sandbox: ServerThread, **fields: Any) -> str:
    return str(post(sandbox, {**BODY, **fields}).json()["data"]["id"])


def send(sandbox: ServerThread, method: str, path: str, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("headers", HEADERS)
    return httpx.request(method, f"{sandbox.url}/api/v1{path}", timeout=10, **kwargs)


def general_admission(sandbox: ServerThread, event_id: str) -> dict[str, Any]:
    [ticket_class] = send(sandbox, "GET", f"/events/{event_id}/ticket-classes").json()["data"]
    return dict(ticket_class)


def issue(sandbox: ServerThread, event_id: str, **extra: Any) -> httpx.Response:
    body = {"ticket_class_id": general_admission(sandbox, event_id)["id"], "contact": JANE}
    headers = {**HEADERS, **extra.pop("headers", {})}
    return send(
        sandbox, "POST", f"/events/{event_id}/attendees", json={**body, **extra}, headers=headers
    )


def test_every_event_has_a_general_admission_class_priced_from_the_event(
    sandbox: ServerThread,
) -> None:
    ticket_class = general_admission(sandbox, event(sandbox, ticket_price=25, currency="EUR"))
    assert ticket_class["name"] == "General Admission" and ticket_class["id"].startswith("prod_")
    assert (ticket_class["cost"], ticket_class["free"], ticket_class["currency"]) == (
        25.0,
        False,
        "EUR",
    )
    assert send(sandbox, "GET", "/events/nope/ticket-classes").status_code == 404


def test_create_attendee_issues_a_ticket_and_does_not_deduplicate(sandbox: ServerThread) -> None:
    event_id = event(sandbox)
    first = issue(sandbox, event_id)
    assert first.status_code == 201
    [ticket] = first.json()["data"]
    assert (ticket["status"], ticket["email"], first.json()["quantity"]) == (
        "valid",
        "jane@example.com",
        1,
    )
    issue(sandbox, event_id)  # the API issues another: callers look first
    listed = send(sandbox, "GET", f"/events/{event_id}/attendees").json()
    assert listed["pagination"]["total"] == 2


def test_an_idempotency_key_makes_the_retry_safe(sandbox: ServerThread) -> None:
    event_id = event(sandbox)
    first = issue(sandbox, event_id, headers={"Idempotency-Key": "t-1"})
    again = issue(sandbox, event_id, headers={"Idempotency-Key": "t-1"})
    assert again.content == first.content and again.headers["idempotent-replay"] == "true"
    assert send(sandbox, "GET", f"/events/{event_id}/attendees").json()["pagination"]["total"] == 1


def test_an_invited_ticket_is_upgraded_not_duplicated(sandbox: ServerThread) -> None:
    event_id = event(sandbox)
    [invited] = issue(sandbox, event_id, status="invited").json()["data"]
    [upgraded] = issue(sandbox, event_id).json()["data"]
    assert upgraded["id"] == invited["id"] and upgraded["status"] == "valid"


def test_check_in_then_lists_filter_by_status_and_delete_is_soft(sandbox: ServerThread) -> None:
    event_id = event(sandbox)
    [ticket] = issue(sandbox, event_id).json()["data"]
    path = f"/events/{event_id}/attendees/{ticket['id']}"
    checked = send(sandbox, "PATCH", path, json={"status": "checked_in"}).json()["data"]
    assert checked["status"] == "checked_in" and checked["checked_in_at"]
    only = send(sandbox, "GET", f"/events/{event_id}/attendees", params={"status": "valid"})
    assert only.json()["data"] == []
    assert send(sandbox, "PATCH", path, json={"colour": "red"}).status_code == 400
    assert send(sandbox, "DELETE", path).json() == {"deleted": True, "id": ticket["id"]}
    assert send(sandbox, "GET", path).json()["data"]["status"] == "deleted"
    assert send(sandbox, "GET", f"/events/{event_id}/attendees").json()["data"] == []
    assert send(sandbox, "PATCH", path, json={"status": "valid"}).status_code == 422


def test_capacity_and_validation(sandbox: ServerThread) -> None:
    event_id = event(sandbox, capacity=1)
    assert issue(sandbox, event_id).status_code == 201
    assert issue(sandbox, event_id).status_code == 422
    other = event(sandbox)
    assert issue(sandbox, other, quantity=0).status_code == 400
    assert issue(sandbox, other, seat="A1").status_code == 400
    bad_class = {"ticket_class_id": "prod_nope", "contact": JANE}
    assert send(sandbox, "POST", f"/events/{other}/attendees", json=bad_class).status_code == 400


@pytest.mark.parametrize(("knob", "status"), [({"error_rate": 1.0}, 503), ({"burst_429": 1}, 429)])
def test_fault_knobs_apply_to_attendees(
    sandbox: ServerThread, knob: dict[str, Any], status: int
) -> None:
    event_id = event(sandbox)
    class_id = general_admission(sandbox, event_id)["id"]
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=knob)
    body = {"ticket_class_id": class_id, "contact": JANE}
    assert send(sandbox, "POST", f"/events/{event_id}/attendees", json=body).status_code == status
