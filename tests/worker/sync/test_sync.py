"""Syncing a booking to its one event, called directly (no broker needed for the logic)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from integrations.booking import booking_reference
from integrations.errors import ConfigurationError, TransientError
from integrations.platform import event_spec
from tests.support import ServerThread, booking, gomry_events, signed
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.models import AttemptRow, Booking, EventLink
from worker.sync import bookings as sync

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def submit(runtime: Runtime, **fields: object) -> int:
    receipt = publish_booking(runtime, tenant="acme", booking=booking(**fields))  # type: ignore[arg-type]
    assert receipt.outcome == "accepted", receipt
    return receipt.bookings[0]


def test_confirmed_booking_creates_one_branded_event(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = submit(runtime, booking_id="s-1")
    assert sync.sync_booking(runtime, booking_id, now=NOW).outcome == "created"
    assert sync.sync_booking(runtime, booking_id, now=NOW).outcome == "up-to-date"
    [event] = gomry_events(sandbox.url)
    assert event["name"] == "Zoë Ångström – Summer Launch Party"
    assert event["start"] == {"utc": "2026-07-15T22:00:00.000Z", "timezone": "America/New_York"}
    assert event["end"]["utc"] == "2026-07-16T02:00:00.000Z"
    with runtime.store.transaction() as session:
        link = session.get(EventLink, booking_id)
        assert link is not None and link.event_id == event["id"]
        calls = session.scalars(select(AttemptRow).where(AttemptRow.booking_id == booking_id)).all()
        assert [(a.method, a.status) for a in calls] == [("POST", 201)]


def test_crash_between_platform_answer_and_commit_replays(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = submit(runtime, booking_id="s-2")
    tenant = runtime.tenant("acme")
    assert tenant is not None
    platform = runtime.platform(tenant)
    from integrations.booking import BookingMessage

    with runtime.store.transaction() as session:
        stored = session.get(Booking, booking_id)
        assert stored is not None
        message = BookingMessage.model_validate(stored.message)
    # The "first run" reached the platform and died before recording anything.
    first = platform.create_event(
        event_spec(message, tenant.brand, name_max=200),
        idempotency_key=booking_reference(message.key),
    )
    result = sync.sync_booking(runtime, booking_id, now=NOW)
    assert result.event_id == first.event_id
    assert len(gomry_events(sandbox.url)) == 1


def test_reschedule_moves_the_event_and_cancel_closes_it(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = submit(runtime, booking_id="s-3")
    sync.sync_booking(runtime, booking_id, now=NOW)
    submit(
        runtime,
        booking_id="s-3",
        status="rescheduled",
        start="2026-07-16T19:30:00-04:00",
        end="2026-07-16T23:00:00-04:00",
        updated_at="2026-06-02T00:00:00Z",
    )
    assert sync.sync_booking(runtime, booking_id, now=NOW).outcome == "updated"
    [event] = gomry_events(sandbox.url)
    assert event["start"]["utc"] == "2026-07-16T23:30:00.000Z"
    publish_booking(
        runtime,
        tenant="acme",
        booking={"booking_id": "s-3", "status": "cancelled", "updated_at": "2026-06-03T00:00:00Z"},
    )
    assert sync.sync_booking(runtime, booking_id, now=NOW).outcome == "cancelled"
    [event] = gomry_events(sandbox.url)
    assert event["registration_status"] == "closed" and event["is_private"] is True


def test_reconfirmed_after_cancel_reopens_the_same_event(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = submit(runtime, booking_id="s-4")
    sync.sync_booking(runtime, booking_id, now=NOW)
    publish_booking(
        runtime,
        tenant="acme",
        booking={"booking_id": "s-4", "status": "cancelled", "updated_at": "2026-06-02T00:00:00Z"},
    )
    sync.sync_booking(runtime, booking_id, now=NOW)
    submit(runtime, booking_id="s-4", updated_at="2026-06-03T00:00:00Z")
    assert sync.sync_booking(runtime, booking_id, now=NOW).outcome == "updated"
    [event] = gomry_events(sandbox.url)
    assert event["registration_status"] == "open" and event["is_private"] is False


def test_cancelled_before_creation_creates_nothing(runtime: Runtime, sandbox: ServerThread) -> None:
    receipt = publish_booking(
        runtime,
        tenant="acme",
        booking={"booking_id": "s-5", "status": "cancelled", "updated_at": "2026-06-02T00:00:00Z"},
    )
    assert sync.sync_booking(runtime, receipt.bookings[0], now=NOW).event_id is None
    assert gomry_events(sandbox.url) == []


def test_names_over_200_characters_are_cut_not_sent_to_fail(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = submit(runtime, booking_id="s-6", title="Ω" * 400)
    sync.sync_booking(runtime, booking_id, now=NOW)
    [event] = gomry_events(sandbox.url)
    assert len(event["name"]) == 200 and event["name"].endswith("…")


def test_5xx_is_transient_and_a_later_try_creates_once(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = submit(runtime, booking_id="s-7")
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 1.0})
    with pytest.raises(TransientError):
        sync.sync_booking(runtime, booking_id, now=NOW)
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 0.0})
    assert sync.sync_booking(runtime, booking_id, now=NOW).outcome == "created"
    assert len(gomry_events(sandbox.url)) == 1


def test_wrong_api_key_is_a_configuration_error_not_a_retry(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    booking_id = submit(runtime, booking_id="s-8")
    tenant = runtime.tenant("acme")
    assert tenant is not None
    from pydantic import SecretStr

    tenant.platform.credentials["api_key"]._value = SecretStr("revoked-key")
    runtime.config.platforms.clear()
    with pytest.raises(ConfigurationError, match="Invalid or revoked API key"):
        sync.sync_booking(runtime, booking_id, now=NOW)
    sync.fail(runtime, booking_id, "gomry: HTTP 401", now=NOW)
    with runtime.store.transaction() as session:
        stored = session.get(Booking, booking_id)
        assert stored is not None and stored.state == "failed"


def test_ingress_signed_delivery_shape_is_what_sync_reads(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    body, _headers = signed(booking("s-10"))
    assert publish_booking(runtime, tenant="acme", booking=body).outcome == "accepted"
