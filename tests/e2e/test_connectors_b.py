"""End to end for the thin-webhook connectors (HubSpot, Acuity, Square).

A signed webhook reaches the real ingress over HTTP, the worker-side parse fetches the rest
from the vendor stub (``deferred.ingest``), and the sync makes the event on the sandbox platform:
booked, then rescheduled (the same event moves), then cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.support import ServerThread, gomry_events
from tests.vendor_support import (
    acuity_headers,
    fixture,
    hubspot_headers,
    records,
    seed,
    seed_records,
    square_headers,
    vendor_secrets_env,
    vendor_tenants_toml,
)
from worker.ingress.app import create_app
from worker.intake import deferred
from worker.runtime import Runtime
from worker.store.models import Delivery
from worker.sync import bookings as sync

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(vendor_tenants_toml(sandbox.url), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in vendor_secrets_env().items()), "utf-8")
    return path


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    server = ServerThread(create_app(runtime))
    # HubSpot signs the public URL it called: the ingress rebuilds it from this setting
    runtime.settings.public_base_url = server.url
    with server:
        yield server


def deliver(
    ingress: ServerThread,
    runtime: Runtime,
    source: str,
    body: bytes,
    headers: Callable[[bytes, str], dict[str, str]],
    *,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """POST a signed webhook, then run the worker's parse and the sync of what it accepted."""
    url = f"{ingress.url}/webhooks/{source}/acme"
    answer = httpx.post(url, content=body, headers=headers(body, url), timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.json()["outcome"] == "received"
    receipt = deferred.ingest(runtime, answer.json()["inbox_id"], now=now)
    assert receipt is not None and receipt.outcome == "accepted", receipt
    [booking_id] = receipt.bookings
    outcome = sync.sync_booking(runtime, booking_id, now=now).outcome
    [event] = gomry_events(_sandbox_url(runtime))  # one event, whatever happened
    return outcome, event


def _sandbox_url(runtime: Runtime) -> str:
    return runtime.tenants.tenants["acme"].platform.base_url.removesuffix("/api/v1")


def test_hubspot_deal_booked_moved_and_lost(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    seed_records(sandbox.url, "hubspot")

    def signed(body: bytes, url: str) -> dict[str, str]:
        return hubspot_headers(body, url)

    outcome, event = deliver(
        ingress, runtime, "hubspot", fixture("hubspot", "stage_booked.json"), signed, now=NOW
    )
    assert outcome == "created"
    assert event["name"] == "Zoë Ångström – Summer Launch Party"
    assert event["start"] == {"utc": "2026-07-15T22:00:00.000Z", "timezone": "America/New_York"}
    assert event["end"]["utc"] == "2026-07-16T02:00:00.000Z"
    assert event["venue"]["name"] == "Convention Center, New York" and not event["is_virtual"]

    deal = next(d for d in records("hubspot")["deals"] if d["id"] == "1001")
    moved = {**deal, "updatedAt": "2026-06-17T06:00:00.000Z"}
    moved["properties"] = {**deal["properties"], "event_start": "2026-07-16T19:00:00"}
    seed(sandbox.url, "hubspot", {"deals": [moved]})
    outcome, rescheduled = deliver(
        ingress, runtime, "hubspot", fixture("hubspot", "start_changed.json"), signed, now=NOW
    )
    assert outcome == "updated" and rescheduled["id"] == event["id"]
    assert rescheduled["start"]["utc"] == "2026-07-16T23:00:00.000Z"
    assert rescheduled["end"]["utc"] == "2026-07-17T03:00:00.000Z"

    lost = {**moved, "updatedAt": "2026-06-18T06:00:00.000Z"}
    lost["properties"] = {**moved["properties"], "dealstage": "closedlost"}
    seed(sandbox.url, "hubspot", {"deals": [lost]})
    outcome, cancelled = deliver(
        ingress, runtime, "hubspot", fixture("hubspot", "stage_lost.json"), signed, now=NOW
    )
    assert outcome == "cancelled" and cancelled["id"] == event["id"]
    assert cancelled["registration_status"] == "closed" and cancelled["is_private"] is True


def test_acuity_appointment_scheduled_rescheduled_canceled(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    seed_records(sandbox.url, "acuity")

    def signed(body: bytes, url: str) -> dict[str, str]:
        return acuity_headers(body)

    outcome, event = deliver(
        ingress, runtime, "acuity", fixture("acuity", "scheduled.form"), signed, now=NOW
    )
    assert outcome == "created"
    assert event["name"] == "Zoë Ångström – Photo Booth – Premium (4h)"
    assert event["start"] == {"utc": "2026-07-15T22:00:00.000Z", "timezone": "America/New_York"}
    assert event["end"]["utc"] == "2026-07-16T02:00:00.000Z"
    assert event["venue"]["name"] == "Convention Center, 655 W 34th St, New York"

    appointment = next(a for a in records("acuity") if a["id"] == 5001)
    moved = {**appointment, "datetime": "2026-07-16T19:00:00-0400", "time": "4:00pm"}
    seed(sandbox.url, "acuity", {"appointments": [moved]})
    later = NOW + timedelta(minutes=1)
    outcome, rescheduled = deliver(
        ingress, runtime, "acuity", fixture("acuity", "rescheduled.form"), signed, now=later
    )
    assert outcome == "updated" and rescheduled["id"] == event["id"]
    assert rescheduled["start"]["utc"] == "2026-07-16T23:00:00.000Z"

    seed(sandbox.url, "acuity", {"appointments": [{**moved, "canceled": True}]})
    outcome, cancelled = deliver(
        ingress,
        runtime,
        "acuity",
        fixture("acuity", "canceled.form"),
        signed,
        now=later + timedelta(minutes=1),
    )
    assert outcome == "cancelled" and cancelled["id"] == event["id"]
    assert cancelled["registration_status"] == "closed"


def test_square_booking_accepted_rescheduled_cancelled(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    seed_records(sandbox.url, "square")

    def signed(body: bytes, url: str) -> dict[str, str]:
        return square_headers(body)  # signed over the registered URL, not the ingress's

    outcome, event = deliver(
        ingress, runtime, "square", fixture("square", "booking_created.json"), signed, now=NOW
    )
    assert outcome == "created"
    assert event["name"] == "Zoë Ångström – Photo Booth Rental (4 hours)"
    assert event["start"] == {"utc": "2026-07-15T22:00:00.000Z", "timezone": "America/New_York"}
    assert event["end"]["utc"] == "2026-07-16T02:00:00.000Z"
    assert event["venue"]["name"] == "Brooklyn Studio, 55 Water St, Brooklyn, NY 11201, US"

    booking = next(b for b in records("square")["bookings"] if b["id"] == "sq7bk1")
    moved = {
        **booking,
        "version": 2,
        "updated_at": "2026-06-17T06:00:00Z",
        "start_at": "2026-07-16T23:00:00Z",
    }
    seed(sandbox.url, "square", {"bookings": [moved]})
    outcome, rescheduled = deliver(
        ingress, runtime, "square", fixture("square", "booking_rescheduled.json"), signed, now=NOW
    )
    assert outcome == "updated" and rescheduled["id"] == event["id"]
    assert rescheduled["start"]["utc"] == "2026-07-16T23:00:00.000Z"
    assert rescheduled["end"]["utc"] == "2026-07-17T03:00:00.000Z"

    cancelled_booking = {
        **moved,
        "version": 3,
        "updated_at": "2026-06-18T06:00:00Z",
        "status": "CANCELLED_BY_CUSTOMER",
    }
    seed(sandbox.url, "square", {"bookings": [cancelled_booking]})
    outcome, cancelled = deliver(
        ingress, runtime, "square", fixture("square", "booking_cancelled.json"), signed, now=NOW
    )
    assert outcome == "cancelled" and cancelled["id"] == event["id"]
    assert cancelled["registration_status"] == "closed"


@pytest.mark.parametrize(
    ("source", "name", "headers"),
    [
        ("hubspot", "stage_booked.json", lambda b, u: hubspot_headers(b, u + "?other=1")),
        ("acuity", "scheduled.form", lambda b, u: acuity_headers(b, secret="not-the-key")),
        ("square", "booking_created.json", lambda b, u: square_headers(b, url=u)),
    ],
)
def test_a_delivery_signed_for_something_else_is_401_and_stores_nothing(
    runtime: Runtime, ingress: ServerThread, source: str, name: str, headers: Any
) -> None:
    url = f"{ingress.url}/webhooks/{source}/acme"
    body = fixture(source, name)
    answer = httpx.post(url, content=body, headers=headers(body, url), timeout=10)
    assert answer.status_code == 401
    with runtime.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_a_batch_about_nothing_bookwire_watches_is_answered_200_and_ignored(
    runtime: Runtime, ingress: ServerThread
) -> None:
    url = f"{ingress.url}/webhooks/hubspot/acme"
    body = fixture("hubspot", "unwatched_only.json")
    answer = httpx.post(url, content=body, headers=hubspot_headers(body, url), timeout=10)
    assert answer.status_code == 200 and answer.json()["outcome"] == "ignored"
