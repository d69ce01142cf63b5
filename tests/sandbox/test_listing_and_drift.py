"""The sandboxes' event listings (paged as each contract documents, strict about parameters) and
their drift-planting routes, pinned here so the reconciler is tested against them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sandbox import test_gatsby_sandbox as gatsby
from tests.sandbox import test_gomry_sandbox as gomry
from tests.sandbox import test_guestmedia_sandbox as media
from tests.support import GOMRY_KEY, ServerThread

GOMRY = {"X-API-KEY": GOMRY_KEY}


def gomry_list(sandbox: ServerThread, **params: Any) -> httpx.Response:
    return httpx.get(f"{sandbox.url}/api/v1/events", params=params, headers=GOMRY, timeout=10)


@pytest.mark.parametrize(
    "params",
    [{"status": "active"}, {"page": "two"}, {"page_size": 201}, {"page": 0}],
    ids=["unknown-filter", "page-not-a-number", "page-size-over-200", "page-zero"],
)
def test_gomry_list_refuses_unknown_or_ill_typed_parameters(
    sandbox: ServerThread, params: dict[str, Any]
) -> None:
    answer = gomry_list(sandbox, **params)
    assert answer.status_code == 400 and "error" in answer.json()


def test_gomry_planted_copies_and_deletions_show_in_the_list(sandbox: ServerThread) -> None:
    event_id = gomry.post(sandbox, gomry.BODY).json()["data"]["id"]
    plant = f"{sandbox.url}/_sandbox/gomry/events/{event_id}"
    copies = httpx.post(f"{plant}/copies", json={"count": 3, "fields": {"name": "Copy"}}).json()
    assert len(copies["ids"]) == 3
    assert httpx.delete(plant).status_code == 200
    assert httpx.delete(plant).status_code == 404
    listed = gomry_list(sandbox, page=1, page_size=2).json()
    assert listed["pagination"] == {"total": 3, "page": 1, "page_size": 2, "total_pages": 2}
    assert [e["name"] for e in listed["data"]] == ["Copy", "Copy"]


@pytest.mark.parametrize(
    "params",
    [{"sort": "date"}, {"limit": "ten"}, {"includePastEvents": "yes"}],
    ids=["unknown-parameter", "limit-not-a-number", "flag-not-true-or-false"],
)
def test_gatsby_list_refuses_unknown_or_ill_typed_parameters(
    sandbox: ServerThread, params: dict[str, Any]
) -> None:
    gatsby.seed(sandbox)
    answer = gatsby.send(sandbox, "GET", "/gatsby/event", params=params)
    assert answer.status_code == 400 and "message" in answer.json()


def test_gatsby_list_takes_the_four_documented_parameters(sandbox: ServerThread) -> None:
    gatsby.seed(sandbox)
    params = {"limit": 5, "skip": 0, "includePastEvents": "true", "showOrganizationEvents": "true"}
    answer = gatsby.send(sandbox, "GET", "/gatsby/event", params=params)
    assert [e["eventId"] for e in answer.json()["events"]] == [gatsby.EVENT["eventId"]]


def media_list(sandbox: ServerThread, **params: Any) -> httpx.Response:
    return media.send(sandbox, "GET", "/v1/events", params=params)


@pytest.mark.parametrize(
    "params",
    [{"status": "scheduled"}, {"limit": 101}, {"limit": "many"}, {"ends_after": "tomorrow"}],
    ids=["unknown-parameter", "limit-over-100", "limit-not-a-number", "ends-after-not-a-time"],
)
def test_guest_media_list_refuses_unknown_or_ill_typed_parameters(
    sandbox: ServerThread, params: dict[str, Any]
) -> None:
    answer = media_list(sandbox, **params)
    assert answer.status_code == 400 and answer.json()["code"] == "validation_failed"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(total=st.integers(0, 12), limit=st.integers(1, 5))
def test_guest_media_pages_return_every_event_once_oldest_first(
    sandbox: ServerThread, total: int, limit: int
) -> None:
    for event in media_list(sandbox).json()["events"]:  # each example starts empty
        httpx.delete(f"{sandbox.url}/guestmedia/_sandbox/events/{event['id']}")
    made = [media.create(sandbox).json()["event"]["id"] for _ in range(total)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        page = media_list(sandbox, **params).json()
        assert len(page["events"]) <= limit
        seen += [e["id"] for e in page["events"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == made


def test_guest_media_ends_after_and_planted_drift(sandbox: ServerThread) -> None:
    event_id = media.create(sandbox).json()["event"]["id"]  # ends 2030-07-16T02:00Z
    plant = f"{sandbox.url}/guestmedia/_sandbox/events/{event_id}"
    early = {"fields": {"ends_at": "2030-07-01T00:00:00Z", "external_reference": "other"}}
    [copy_id] = httpx.post(f"{plant}/copies", json=early).json()["ids"]
    later = media_list(sandbox, ends_after="2030-07-10T00:00:00Z").json()["events"]
    assert [e["id"] for e in later] == [event_id]
    by_reference = media_list(sandbox, external_reference="other").json()["events"]
    assert [e["id"] for e in by_reference] == [copy_id]
    assert httpx.delete(plant).status_code == 200
    assert media.send(sandbox, "GET", f"/v1/events/{event_id}").status_code == 404
