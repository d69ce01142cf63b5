"""Pipedrive API v2 against the Pipedrive stub: person look-ups and the won-deal backfill."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from integrations.booking import BookingStatus
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import ConfigurationError, TransientError
from integrations.pipedrive import client, webhook
from integrations.subscriptions import state_of
from tests.integrations.pipedrive.keys import DATE, END, MEETING, START, VENUE, ZONE, options
from tests.support import FIXTURES, ServerThread

TOKEN = "pipedrive-api-token-test"
SINCE = datetime(2026, 6, 1, tzinfo=UTC)
MARI = {
    "id": 17,
    "name": "Mari Tamm",
    "emails": [
        {"label": "home", "primary": False, "value": "mari@home.example"},
        {"label": "work", "primary": True, "value": "mari@example.ee"},
    ],
}


def api_deal(
    deal_id: int, status: str = "won", person_id: int | None = 17, **extra: Any
) -> dict[str, Any]:
    """A deal as API v2 returns it: custom fields as plain values or ``{"value", …}``."""
    return {
        "id": deal_id,
        "title": f"Deal {deal_id} – Tõnu's party",
        "status": status,
        "person_id": person_id,
        "org_id": None,
        "update_time": "2026-06-02T08:00:00Z",
        "custom_fields": {
            DATE: "2026-08-15",
            START: {"value": "18:30:00", "timezone_id": 310, "timezone_name": "Europe/Tallinn"},
            END: {"value": "23:30:00", "timezone_id": 310, "timezone_name": "Europe/Tallinn"},
            ZONE: "Europe/Tallinn",
            VENUE: {"value": "Tallinn", "formatted_address": "Tallinn, Estonia"},
        },
        **extra,
    }


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as session:
        yield session


def context(sandbox: ServerThread, http: httpx.Client, token: str | None = TOKEN) -> ParseContext:
    return ParseContext(
        tenant="acme",
        source="pipedrive",
        options=options(api_base_url=f"{sandbox.url}/pipedrive"),
        credentials={"api_token": token} if token else {},
        http=http,
    )


def seed(sandbox: ServerThread, **body: Any) -> None:
    body.setdefault("tokens", [TOKEN])
    httpx.post(f"{sandbox.url}/pipedrive/_seed", json=body, timeout=5).raise_for_status()


def counter(sandbox: ServerThread, name: str) -> int:
    return int(
        httpx.get(f"{sandbox.url}/_sandbox/faults", timeout=5).json()["counters"].get(name, 0)
    )


def test_the_worker_looks_up_the_person_a_v2_webhook_names_only_by_id(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox, persons=[MARI])
    delivery = WebhookRequest(
        "POST", "x", {}, (FIXTURES / "pipedrive" / "v2_deal_won.json").read_bytes()
    )
    [message] = webhook.parse(delivery, context=context(sandbox, http))
    assert message.customer is not None
    assert (message.customer.name, message.customer.email) == ("Mari Tamm", "mari@example.ee")


def test_a_deleted_person_falls_back_to_the_deal_title(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox)
    delivery = WebhookRequest(
        "POST", "x", {}, (FIXTURES / "pipedrive" / "v2_deal_won.json").read_bytes()
    )
    [message] = webhook.parse(delivery, context=context(sandbox, http))
    assert message.customer is not None and message.customer.name == "Jüri & Mari wedding"


def test_backfill_pages_through_won_deals_updated_since(
    sandbox: ServerThread, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "PAGE_SIZE", 1)
    seed(
        sandbox,
        persons=[MARI],
        deals=[
            api_deal(1),
            api_deal(2, person_id=None, org_id=None),
            api_deal(3, status="lost"),
            api_deal(4, update_time="2026-05-01T00:00:00Z"),  # before SINCE
            api_deal(5),
            api_deal(6, custom_fields={}),  # won before its event date was filled in: skipped
        ],
    )
    fetched = list(client.backfill(context(sandbox, http), since=SINCE))
    messages = [m for m in fetched if m.status is BookingStatus.confirmed]
    assert [m.booking_id for m in messages] == ["1", "2", "5"]
    # the lost deal is read too, as a cancellation (outage-time losses are applied)
    assert [(m.booking_id, m.status) for m in fetched[3:]] == [("3", BookingStatus.cancelled)]
    first = messages[0]
    assert first.start == datetime(2026, 8, 15, 15, 30, tzinfo=UTC)
    assert first.timezone == "Europe/Tallinn" and first.location == "Tallinn, Estonia"
    assert first.customer is not None and first.customer.name == "Mari Tamm"
    assert messages[1].customer is not None and messages[1].customer.name == "Deal 2 – Tõnu's party"
    assert first.updated_at == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    assert counter(sandbox, "pipedrive_person_reads") == 1  # one person, looked up once


def test_backfill_needs_a_token_and_base_url(sandbox: ServerThread, http: httpx.Client) -> None:
    with pytest.raises(ConfigurationError, match="api_token"):
        list(client.backfill(context(sandbox, http, token=None), since=SINCE))


def test_a_wrong_token_is_a_configuration_error(sandbox: ServerThread, http: httpx.Client) -> None:
    seed(sandbox, tokens=["another"], deals=[api_deal(1)])
    with pytest.raises(ConfigurationError, match="401"):
        list(client.backfill(context(sandbox, http), since=SINCE))


def test_rate_limits_during_a_look_up_are_transient(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox, persons=[MARI])
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"burst_429": 1}, timeout=5
    ).raise_for_status()
    delivery = WebhookRequest(
        "POST", "x", {}, (FIXTURES / "pipedrive" / "v2_deal_won.json").read_bytes()
    )
    with pytest.raises(TransientError, match="429"):
        webhook.parse(delivery, context=context(sandbox, http))


def test_a_v1_webhook_person_is_looked_up_for_the_email(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    """Webhooks v1 name the person (``person_name``) but carry no email: with a token the
    worker reads the person for it; the place keeps the hotel's name, and the deal's
    meeting-link field becomes the meeting link beside the physical venue."""
    sita = {
        "id": 31,
        "name": "Sita Sharma",
        "emails": [{"value": "sita@example.np", "primary": True}],
    }
    seed(sandbox, persons=[sita])
    body = (FIXTURES / "pipedrive" / "v1_deal_won_venue_and_link.json").read_bytes()
    ctx = context(sandbox, http)
    ctx = ParseContext(
        tenant=ctx.tenant,
        source=ctx.source,
        options=options(api_base_url=f"{sandbox.url}/pipedrive", meeting_url_field=MEETING),
        credentials=ctx.credentials,
        http=http,
    )
    [message] = webhook.parse(WebhookRequest("POST", "x", {}, body), context=ctx)
    assert message.customer is not None
    assert (message.customer.name, message.customer.email) == ("Sita Sharma", "sita@example.np")
    assert message.location == "Hôtel Plaza Athénée, 25 Avenue Montaigne, Paris"
    assert message.meeting_url == "https://meet.example.com/plaza-gala-stream"
    # without a token the name in the payload still makes the booking
    [bare] = webhook.parse(
        WebhookRequest("POST", "x", {}, body), context=context(sandbox, http, token=None)
    )
    assert bare.customer is not None and bare.customer.name == "Sita Sharma"
    assert bare.customer.email is None


def test_the_stub_refuses_a_deal_status_pipedrive_does_not_have(sandbox: ServerThread) -> None:
    """The stub is as strict as API v2: a backfill asking for another status would fail there."""
    seed(sandbox)
    url = f"{sandbox.url}/pipedrive/api/v2/deals"
    headers = {"x-api-token": TOKEN}
    assert httpx.get(url, params={"status": "won"}, headers=headers, timeout=5).status_code == 200
    refused = httpx.get(url, params={"status": "closed"}, headers=headers, timeout=5)
    assert refused.status_code == 400 and refused.json()["success"] is False


def test_webhooks_report_whether_pipedrive_still_delivers(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(sandbox)
    url = "https://hooks.acme.example/webhooks/pipedrive/acme?tenant=acme"
    planted = {
        "subscription_url": url,
        "is_active": 0,
        "last_delivery_time": "2026-06-02 08:00:00",
        "last_http_status": 503,
    }
    httpx.post(f"{sandbox.url}/pipedrive/_webhooks", json=planted, timeout=5).raise_for_status()
    [hook] = client.subscriptions(context(sandbox, http))
    assert (hook.active, hook.callback_path, hook.last_status) == (
        False,
        "/webhooks/pipedrive/acme",
        503,
    )
    assert hook.last_delivery == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    assert state_of([hook], source="pipedrive", tenant="acme") == "disabled"
    with pytest.raises(ConfigurationError):
        client.subscriptions(context(sandbox, http, token=None))


def test_backfill_cancels_lost_and_deleted_deals_and_never_books_a_deleted_one(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed(
        sandbox,
        persons=[MARI],
        deals=[
            api_deal(21, status="lost", update_time="2026-06-03T09:00:00Z"),
            api_deal(22, status="deleted", update_time="2026-06-04T09:00:00Z"),
            api_deal(23, is_deleted=True),  # listed as won by a lenient filter: not a booking
            api_deal(24, status="open"),  # never won: nothing to say
            api_deal(25, status="lost", update_time="2026-05-01T00:00:00Z"),  # before SINCE
        ],
    )
    fetched = list(client.backfill(context(sandbox, http), since=SINCE))
    assert [(m.booking_id, m.status, m.updated_at) for m in fetched] == [
        ("21", BookingStatus.cancelled, datetime(2026, 6, 3, 9, tzinfo=UTC)),
        ("22", BookingStatus.cancelled, datetime(2026, 6, 4, 9, tzinfo=UTC)),
    ]
