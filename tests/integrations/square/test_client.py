"""Square parsing in the worker: booking, customer, catalog and location from the vendor stub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from integrations.booking import BookingMessage, BookingStatus, Person
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import ConfigurationError, PayloadError
from integrations.square import client, webhook
from tests.support import ServerThread
from tests.vendor_support import context, fixture, records, seed, seed_records


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as session:
        yield session


@pytest.fixture
def ctx(sandbox: ServerThread, http: httpx.Client) -> ParseContext:
    seed_records(sandbox.url, "square")
    return context("square", sandbox.url, http)


def parse(ctx: ParseContext, body: bytes) -> list[BookingMessage]:
    return webhook.parse(WebhookRequest("POST", "", {}, body), context=ctx)


def about(booking_id: str) -> bytes:
    event = json.loads(fixture("square", "booking_created.json"))
    event["data"] = {"type": "booking", "id": f"{booking_id}:1"}  # no object: id only
    return json.dumps(event).encode()


def booking_record(booking_id: str) -> dict:  # type: ignore[type-arg]
    return next(b for b in records("square")["bookings"] if b["id"] == booking_id)


def test_an_accepted_booking_gets_title_end_customer_zone_and_place(ctx: ParseContext) -> None:
    [booking] = parse(ctx, fixture("square", "booking_created.json"))
    assert booking.booking_id == "sq7bk1"  # not data.id ("sq7bk1:1")
    assert booking.status is BookingStatus.confirmed
    assert booking.title == "Photo Booth Rental (4 hours)"
    assert booking.start == datetime(2026, 7, 15, 22, 0, tzinfo=UTC)
    assert booking.end == datetime(2026, 7, 16, 2, 0, tzinfo=UTC)
    assert booking.timezone == "America/New_York"
    assert booking.location == "Brooklyn Studio, 55 Water St, Brooklyn, NY 11201, US"
    assert booking.customer == Person(name="Zoë Ångström", email="zoe@example.com")


def test_several_services_across_a_dst_change(ctx: ParseContext) -> None:
    """Paris springs forward at 02:00 on 2026-03-29: two 60-minute services from 01:30 CET
    end at 04:30 CEST, two hours of real time later."""
    [booking] = parse(ctx, fixture("square", "booking_accepted_multi.json"))
    assert booking.title == "Photo Booth Rental (4 hours) + Glam Booth"
    assert booking.start == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert booking.end == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    assert booking.timezone == "Europe/Paris"
    assert booking.customer == Person(name="Łukasz", email=None)


def test_an_appointment_at_the_customers_address(ctx: ParseContext) -> None:
    [booking] = parse(ctx, about("sq7bk3"))
    assert booking.location == "8 Avenue Montaigne, Paris, 75008, FR"
    assert booking.customer == Person(
        name="Société Générale d'Événements", email="events@example.fr"
    )


def test_pending_is_ignored_and_cancellations_cancel(ctx: ParseContext) -> None:
    assert parse(ctx, about("sq7bk4")) == []
    [cancelled] = parse(ctx, about("sq7bk5"))
    assert cancelled.status is BookingStatus.cancelled


@pytest.mark.parametrize(
    "status", ["CANCELLED_BY_CUSTOMER", "CANCELLED_BY_SELLER", "DECLINED", "NO_SHOW"]
)
def test_every_cancelling_status_cancels(
    ctx: ParseContext, sandbox: ServerThread, status: str
) -> None:
    seed(sandbox.url, "square", {"bookings": [{**booking_record("sq7bk1"), "status": status}]})
    [booking] = parse(ctx, about("sq7bk1"))
    assert booking.status is BookingStatus.cancelled


def test_an_unknown_status_is_quarantined(ctx: ParseContext, sandbox: ServerThread) -> None:
    seed(
        sandbox.url, "square", {"bookings": [{**booking_record("sq7bk1"), "status": "TELEPORTED"}]}
    )
    with pytest.raises(PayloadError) as caught:
        parse(ctx, about("sq7bk1"))
    assert caught.value.field == "booking.status"


def test_the_version_breaks_ties_between_updates_in_one_second(
    ctx: ParseContext, sandbox: ServerThread
) -> None:
    [first] = parse(ctx, about("sq7bk1"))
    same_second = {**booking_record("sq7bk1"), "version": 2, "start_at": "2026-07-15T23:00:00Z"}
    seed(sandbox.url, "square", {"bookings": [same_second]})
    [second] = parse(ctx, about("sq7bk1"))
    assert second.updated_at > first.updated_at


def test_the_catalog_and_locations_are_read_once_per_parse(
    ctx: ParseContext, sandbox: ServerThread
) -> None:
    parse(ctx, fixture("square", "booking_accepted_multi.json"))
    counters = httpx.get(f"{sandbox.url}/_sandbox/faults").json()["counters"]
    assert counters["square_catalog_reads"] == 2 and counters["square_locations_reads"] == 1


def test_a_wrong_token_is_a_configuration_error(sandbox: ServerThread, http: httpx.Client) -> None:
    seed_records(sandbox.url, "square")
    ctx = context("square", sandbox.url, http)
    with pytest.raises(ConfigurationError):
        parse(
            ParseContext("acme", "square", ctx.options, {"access_token": "nope"}, http),
            about("sq7bk1"),
        )


def test_backfill_walks_31_day_windows_from_the_date(ctx: ParseContext) -> None:
    bookings = list(client.backfill(ctx, since=date(2026, 3, 1)))
    # sq7bk4 is pending: left for its ACCEPTED update
    assert [b.booking_id for b in bookings] == ["sq7bk2", "sq7bk1", "sq7bk5", "sq7bk3"]
    assert [b.booking_id for b in client.backfill(ctx, since=date(2026, 7, 18))] == [
        "sq7bk5",
        "sq7bk3",
    ]


def test_intermissions_between_segments_lengthen_the_appointment(ctx: ParseContext) -> None:
    """Square's ``intermission_minutes`` is the gap after a segment before the next one: a
    60-minute service, a 15-minute pause, then 240 minutes end 5 h 15 after the start. The
    last segment's intermission (10) and the seller's ``transition_time_minutes`` (30) fall
    after the appointment and are not part of the event."""
    body = fixture("square", "booking_accepted_intermission.json")
    seed(ctx_sandbox(ctx), "square", {"bookings": [json.loads(body)["data"]["object"]["booking"]]})
    [booking] = parse(ctx, body)
    assert booking.start == datetime(2026, 7, 15, 22, 0, tzinfo=UTC)
    assert booking.end == datetime(2026, 7, 16, 3, 15, tzinfo=UTC)
    assert booking.title == "Glam Booth + Photo Booth Rental (4 hours)"


def ctx_sandbox(ctx: ParseContext) -> str:
    return ctx.options.base_url.removesuffix("/square")
