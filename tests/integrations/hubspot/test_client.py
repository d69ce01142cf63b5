"""HubSpot parsing in the worker: deals and contacts fetched from the vendor stub over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from integrations.booking import BookingStatus, Person
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import ConfigurationError, PayloadError, TransientError
from integrations.hubspot import client, webhook
from tests.support import ServerThread
from tests.vendor_support import context, fixture, seed_records


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as session:
        yield session


@pytest.fixture
def ctx(sandbox: ServerThread, http: httpx.Client) -> ParseContext:
    seed_records(sandbox.url, "hubspot")
    return context("hubspot", sandbox.url, http)


def parse(ctx: ParseContext, body: bytes) -> list:  # type: ignore[type-arg]
    return webhook.parse(WebhookRequest("POST", "", {}, body), context=ctx)


def event(deal_id: int, *, kind: str = "deal.propertyChange", at: int = 1781589600000) -> bytes:
    return json.dumps(
        [
            {
                "eventId": deal_id * 10,
                "subscriptionType": kind,
                "objectId": deal_id,
                "occurredAt": at,
                "propertyName": "dealstage",
                "propertyValue": "appointmentscheduled",  # the deal itself is re-read
            }
        ]
    ).encode()


def reads(sandbox: ServerThread) -> int:
    return int(
        httpx.get(f"{sandbox.url}/_sandbox/faults").json()["counters"].get("hubspot_deal_reads", 0)
    )


def test_a_deal_in_the_booked_stage_becomes_a_booking_with_its_contacts(ctx: ParseContext) -> None:
    [booking] = parse(ctx, fixture("hubspot", "stage_booked.json"))
    assert booking.booking_id == "1001" and booking.status is BookingStatus.confirmed
    assert booking.title == "Summer Launch Party"
    assert booking.start == datetime(2026, 7, 15, 22, 0, tzinfo=UTC)  # 18:00 New York
    assert booking.end == datetime(2026, 7, 16, 2, 0, tzinfo=UTC)  # + 240 minutes
    assert booking.timezone == "America/New_York"
    assert booking.location == "Convention Center, New York" and booking.meeting_url is None
    assert booking.customer == Person(name="Zoë Ångström", email="zoe@example.com")
    # the repeated association is dropped, the contact that no longer exists skipped
    assert booking.attendees == [Person(name="Jürgen Groß", email="juergen@example.de")]
    assert booking.updated_at == datetime(2026, 6, 16, 6, 0, tzinfo=UTC)


def test_a_batch_fetches_each_deal_once_and_keeps_occurrence_order(
    ctx: ParseContext, sandbox: ServerThread
) -> None:
    bookings = parse(ctx, fixture("hubspot", "batch_unordered.json"))
    assert [b.booking_id for b in bookings] == ["1003", "1002"]  # 1005 is not booked
    assert reads(sandbox) == 3


def test_a_virtual_deal_in_a_custom_pipeline_with_numeric_ids(ctx: ParseContext) -> None:
    [booking] = parse(ctx, event(1002))
    assert booking.meeting_url == "https://meet.example.com/launch" and booking.location is None
    assert (booking.start, booking.end) == (
        datetime(2026, 8, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 8, 1, 11, 0, tzinfo=UTC),
    )
    assert booking.timezone == "Europe/Berlin"
    assert booking.customer == Person(name="李 小龍", email=None)  # invalid address dropped


def test_a_date_plus_wall_clock_time_in_the_spring_forward_gap(ctx: ParseContext) -> None:
    """02:30 on 2026-03-08 does not exist in New York: read with the pre-change offset
    (EST), i.e. 07:30 UTC, which is 03:30 EDT."""
    [booking] = parse(ctx, event(1003))
    assert booking.start == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert booking.end == datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


def test_missing_optional_properties_fall_back_to_the_tenant_defaults(ctx: ParseContext) -> None:
    [booking] = parse(ctx, event(1004))
    assert booking.timezone == "America/Chicago"
    assert booking.start == datetime(2026, 9, 10, 22, 0, tzinfo=UTC)  # 17:00 CDT
    assert booking.end == datetime(2026, 9, 11, 0, 0, tzinfo=UTC)  # default 120 minutes
    assert booking.location is None and booking.customer == Person(name="Ada", email=None)


def test_epoch_milliseconds_are_instants(ctx: ParseContext) -> None:
    [booking] = parse(ctx, event(1008))
    assert booking.start == datetime(2026, 7, 15, 18, 0, tzinfo=UTC)
    assert booking.timezone == "Europe/Berlin"


def test_a_cancelled_stage_cancels_and_other_stages_are_ignored(ctx: ParseContext) -> None:
    [cancelled] = parse(ctx, event(1006))
    assert cancelled.status is BookingStatus.cancelled and cancelled.booking_id == "1006"
    assert parse(ctx, event(1005)) == []


def test_a_deletion_cancels_without_a_look_up(ctx: ParseContext, sandbox: ServerThread) -> None:
    [cancelled] = parse(ctx, fixture("hubspot", "deal_deletion.json"))
    assert cancelled.status is BookingStatus.cancelled and cancelled.booking_id == "1001"
    assert cancelled.updated_at == datetime(2026, 6, 19, 6, 0, tzinfo=UTC)
    assert reads(sandbox) == 0


def test_a_deal_that_no_longer_exists_is_skipped(ctx: ParseContext) -> None:
    assert parse(ctx, event(9999)) == []


def test_a_booked_deal_without_a_contact_is_refused_naming_the_field(ctx: ParseContext) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(ctx, event(1007))
    assert caught.value.field == "associations"


def test_a_wrong_token_is_a_configuration_error(sandbox: ServerThread, http: httpx.Client) -> None:
    seed_records(sandbox.url, "hubspot")
    ctx = context("hubspot", sandbox.url, http)
    wrong = ParseContext(ctx.tenant, ctx.source, ctx.options, {"access_token": "nope"}, http)
    with pytest.raises(ConfigurationError):
        parse(wrong, event(1001))


def test_an_unavailable_api_is_transient(ctx: ParseContext, sandbox: ServerThread) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 1.0})
    with pytest.raises(TransientError):
        parse(ctx, event(1001))


def test_backfill_finds_booked_and_cancelled_deals_changed_since(ctx: ParseContext) -> None:
    bookings = list(client.backfill(ctx, since=date(2026, 6, 16)))
    # oldest change first; 1005 is in no configured stage; 1007 has no contact (skipped)
    assert [b.booking_id for b in bookings] == ["1001", "1003", "1002", "1004", "1006", "1008"]
    assert {b.booking_id for b in bookings if b.status is BookingStatus.cancelled} == {"1006"}
    assert (
        list(client.backfill(ctx, since=datetime(2026, 6, 16, 6, 3, tzinfo=UTC))) == bookings[-2:]
    )
