"""Acuity parsing in the worker: appointments fetched from the vendor stub over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import httpx
import pytest

from integrations.acuity import client, webhook
from integrations.acuity.schemas import AcuityOptions
from integrations.booking import BookingMessage, BookingStatus, Person
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import ConfigurationError, PermanentError
from tests.support import ServerThread
from tests.vendor_support import context, fixture, seed, seed_records

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as session:
        yield session


@pytest.fixture
def ctx(sandbox: ServerThread, http: httpx.Client) -> ParseContext:
    seed_records(sandbox.url, "acuity")
    return context("acuity", sandbox.url, http, now=NOW)


def parse(ctx: ParseContext, body: bytes) -> list[BookingMessage]:
    return webhook.parse(WebhookRequest("POST", "", {}, body), context=ctx)


def about(appointment_id: int) -> bytes:
    return (
        f"action=appointment.changed&id={appointment_id}&calendarID=1&appointmentTypeID=2".encode()
    )


def test_an_appointment_becomes_a_booking_in_the_calendars_zone(ctx: ParseContext) -> None:
    [booking] = parse(ctx, fixture("acuity", "scheduled.form"))
    assert booking.booking_id == "5001" and booking.status is BookingStatus.confirmed
    assert booking.title == "Photo Booth – Premium (4h)"
    # "-0400" has no colon; endTime ("7:00pm", the client's LA time) is never read
    assert booking.start == datetime(2026, 7, 15, 22, 0, tzinfo=UTC)
    assert booking.end == datetime(2026, 7, 16, 2, 0, tzinfo=UTC)
    assert booking.timezone == "America/New_York"  # calendarTimezone, not the client's zone
    assert booking.location == "Convention Center, 655 W 34th St, New York"
    assert booking.customer == Person(name="Zoë Ångström", email="zoe@example.com")
    assert booking.updated_at == NOW  # Acuity has no modification time: when we read it


def test_acuitys_own_video_link_becomes_the_meeting_url(ctx: ParseContext) -> None:
    [booking] = parse(ctx, fixture("acuity", "static_scheduled.form"))
    assert booking.location is None
    assert booking.meeting_url is not None and booking.meeting_url.startswith(
        "https://app.acuityscheduling.com/schedule.php?owner=11145481&action=meet"
    )
    assert booking.start == datetime(2026, 9, 1, 4, 15, tzinfo=UTC)  # +0545 Kathmandu
    assert booking.timezone == "Asia/Kathmandu"


def test_the_repeated_hour_after_fall_back_is_the_offset_acuity_sent(ctx: ParseContext) -> None:
    """01:30 happens twice in New York on 2026-11-01; -0500 says it is the second (EST)."""
    [booking] = parse(ctx, about(5003))
    assert booking.start == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert booking.end == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)


def test_missing_optional_fields(ctx: ParseContext) -> None:
    [booking] = parse(ctx, fixture("acuity", "changed.form"))
    assert booking.timezone == "America/New_York"  # no calendarTimezone: the client's zone
    assert booking.location is None and booking.meeting_url is None
    assert booking.customer == Person(name="Ólafur", email=None)


def test_a_cancelled_appointment_cancels(ctx: ParseContext) -> None:
    [booking] = parse(ctx, about(5005))
    assert booking.status is BookingStatus.cancelled and booking.booking_id == "5005"


def test_a_reschedule_keeps_the_booking_id_and_a_later_read_wins(
    ctx: ParseContext, sandbox: ServerThread, http: httpx.Client
) -> None:
    [first] = parse(ctx, fixture("acuity", "scheduled.form"))
    moved = {**fixture_appointment(5001), "datetime": "2026-07-16T19:00:00-0400"}
    seed(sandbox.url, "acuity", {"appointments": [moved]})
    later = context("acuity", sandbox.url, http, now=NOW.replace(hour=13))
    [second] = parse(later, fixture("acuity", "rescheduled.form"))
    assert second.booking_id == first.booking_id == "5001"
    assert second.start == datetime(2026, 7, 16, 23, 0, tzinfo=UTC)
    assert second.updated_at > first.updated_at


def test_orders_are_ignored_in_the_worker_too(ctx: ParseContext) -> None:
    assert parse(ctx, fixture("acuity", "order_completed.form")) == []


def test_wrong_credentials_are_a_configuration_error(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    seed_records(sandbox.url, "acuity")
    wrong = ParseContext(
        "acme",
        "acuity",
        AcuityOptions(base_url=f"{sandbox.url}/acuity"),
        {"user_id": "1", "api_key": "x"},
        http,
    )
    with pytest.raises(ConfigurationError):
        parse(wrong, about(5001))


def test_an_unknown_appointment_is_a_permanent_error(ctx: ParseContext) -> None:
    with pytest.raises(PermanentError) as caught:
        parse(ctx, about(99999))
    assert caught.value.status == 404


def test_backfill_lists_active_and_cancelled_appointments_from_the_date(ctx: ParseContext) -> None:
    bookings = list(client.backfill(ctx, since=date(2026, 8, 1)))
    assert sorted(b.booking_id for b in bookings) == ["5002", "5003", "5004", "5005"]
    assert {b.booking_id for b in bookings if b.status is BookingStatus.cancelled} == {"5005"}


def test_backfill_halves_a_window_that_comes_back_full(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    """Acuity's list has no cursor: a page of exactly ``max`` may hide more."""
    seed_records(sandbox.url, "acuity")
    ctx = context("acuity", sandbox.url, http, now=NOW)
    small = ParseContext(
        ctx.tenant,
        ctx.source,
        ctx.options.model_copy(update={"backfill_page_max": 2}),
        ctx.credentials,
        http,
        NOW,
    )
    found = sorted(b.booking_id for b in client.backfill(small, since=date(2026, 7, 1)))
    assert found == ["5001", "5002", "5003", "5004", "5005"]


def fixture_appointment(appointment_id: int) -> dict:  # type: ignore[type-arg]
    return next(
        a for a in json.loads(fixture("acuity", "appointments.json")) if a["id"] == appointment_id
    )
