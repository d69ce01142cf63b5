"""Calendly backfill against the Calendly stub over real HTTP (paging, scope, errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from integrations.booking import BookingStatus
from integrations.calendly import client
from integrations.calendly.schemas import Options
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, TransientError
from integrations.subscriptions import state_of
from tests.support import FIXTURES, ServerThread

TOKEN = "calendly-pat-test"
ORG = "https://api.calendly.com/organizations/SANDBOXORG"
SINCE = datetime(2026, 6, 1, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / "calendly" / name).read_bytes())["payload"])


def as_api(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A webhook fixture split into the API's event and invitee objects."""
    invitee = payload(name)
    event = invitee.pop("scheduled_event")
    invitee["event"] = event["uri"]
    return event, invitee


def event_uuid(event: dict[str, Any]) -> str:
    return str(event["uri"]).rsplit("/", 1)[-1]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as session:
        yield session


def context(sandbox: ServerThread, http: httpx.Client, **options: Any) -> ParseContext:
    settings = Options(api_base_url=f"{sandbox.url}/calendly", **options)
    return ParseContext(
        tenant="acme",
        source="calendly",
        options=settings,
        credentials={"api_token": TOKEN},
        http=http,
    )


def seed(sandbox: ServerThread, *names: str, tokens: list[str] | None = None) -> None:
    events: dict[str, dict[str, Any]] = {}
    invitees: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        event, invitee = as_api(name)
        events[event["uri"]] = event
        invitees.setdefault(event_uuid(event), []).append(invitee)
    body = {"tokens": tokens or [TOKEN], "events": list(events.values()), "invitees": invitees}
    httpx.post(f"{sandbox.url}/calendly/_seed", json=body, timeout=5).raise_for_status()


def test_backfill_pages_through_events_and_invitees(
    sandbox: ServerThread, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "PAGE_SIZE", 1)  # every list is several pages
    seed(
        sandbox,
        "invitee_created.json",
        "invitee_canceled_rescheduled.json",
        "invitee_created_rescheduled.json",
        "invitee_created_dst.json",  # starts before SINCE: not listed
    )
    messages = list(client.backfill(context(sandbox, http, organization=ORG), since=SINCE))
    # the old invitee of the reschedule is skipped exactly as its webhook is
    assert [(m.booking_id, m.status, m.replaces) for m in messages] == [
        (
            "6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b",
            BookingStatus.rescheduled,
            "1f0a7a52-6d2b-4c1e-9b5e-2f7f3c1d9a10",
        )
    ]
    assert messages[0].start == datetime(2026, 7, 17, 23, 0, tzinfo=UTC)


def test_backfill_without_scope_lists_the_token_owners_events(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox, "invitee_created.json")
    [message] = client.backfill(context(sandbox, http), since=SINCE)
    assert message.status is BookingStatus.confirmed
    assert message.customer is not None and message.customer.name == "Zoë Ångström"


def test_a_canceled_event_backfills_as_a_cancellation(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox, "invitee_canceled.json")
    [message] = client.backfill(context(sandbox, http, organization=ORG), since=SINCE)
    assert message.status is BookingStatus.cancelled


def test_a_revoked_token_is_a_configuration_error(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox, "invitee_created.json", tokens=["another-token"])
    with pytest.raises(ConfigurationError, match="401"):
        list(client.backfill(context(sandbox, http, organization=ORG), since=SINCE))


def test_missing_token_is_a_configuration_error(sandbox: ServerThread, http: httpx.Client) -> None:
    bare = ParseContext(tenant="acme", source="calendly", options=Options(), http=http)
    with pytest.raises(ConfigurationError, match="api_token"):
        list(client.backfill(bare, since=SINCE))


def test_rate_limits_are_transient(sandbox: ServerThread, http: httpx.Client) -> None:
    seed(sandbox, "invitee_created.json")
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"burst_429": 1}, timeout=5
    ).raise_for_status()
    with pytest.raises(TransientError, match="429"):
        list(client.backfill(context(sandbox, http, organization=ORG), since=SINCE))


def test_subscriptions_report_each_state_and_need_the_organization(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox)
    ours = "https://hooks.acme.example/webhooks/calendly/acme"
    for url, state in ((ours, "disabled"), ("https://other.example/hook", "active")):
        body = {"callback_url": url, "state": state}
        httpx.post(
            f"{sandbox.url}/calendly/_subscriptions", json=body, timeout=5
        ).raise_for_status()
    found = client.subscriptions(context(sandbox, http, organization=ORG))
    assert [(s.callback_path, s.active) for s in found] == [
        ("/webhooks/calendly/acme", False),
        ("/hook", True),
    ]
    assert state_of(found, source="calendly", tenant="acme") == "disabled"
    assert state_of(found, source="calendly", tenant="other") == "disabled"  # none is its own
    # without an organization option the token owner's organization is used (user scope)
    assert client.subscriptions(context(sandbox, http)) == []
    url = f"{sandbox.url}/calendly/webhook_subscriptions"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(url, headers=headers, timeout=5).status_code == 400  # the stub is strict
