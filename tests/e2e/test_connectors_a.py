"""End to end for Calendly, Cal.com and Pipedrive: a signed delivery over real HTTP → the
ingress → the intake → ``sync_booking`` → the event on the Gomry sandbox.

Pass condition: each booking has exactly one event, in its latest state — a reschedule moves
that event (never a second one), a cancellation closes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from integrations.calcom import webhook as calcom
from integrations.calendly import webhook as calendly
from integrations.pipedrive import webhook as pipedrive
from tests.support import FIXTURES, ServerThread, gomry_events
from tests.vendor_support import (
    CALCOM_SECRET,
    CALCOM_TOML,
    PIPEDRIVE_TOKEN,
    calendly_headers,
    calendly_toml,
    pipedrive_headers,
    pipedrive_toml,
    write_secrets,
    write_tenants,
)
from worker.ingress.app import create_app
from worker.intake import deferred
from worker.runtime import Runtime
from worker.store.models import Booking
from worker.sync.bookings import sync_booking


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    return write_tenants(
        tmp_path, sandbox.url, calendly_toml(), CALCOM_TOML, pipedrive_toml(sandbox.url)
    )


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    return write_secrets(tmp_path)


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


def fixture(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


def post(
    ingress: ServerThread, source: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(
        f"{ingress.url}/webhooks/{source}/acme",
        content=body,
        headers={"content-type": "application/json", **headers},
        timeout=10,
    )


def sync(runtime: Runtime, source: str, external_id: str) -> str:
    with runtime.store.transaction() as session:
        booking_id = session.scalar(
            select(Booking.id).where(Booking.source == source, Booking.external_id == external_id)
        )
    assert booking_id is not None, f"no booking {source}:{external_id}"
    return sync_booking(runtime, booking_id, now=datetime.now(UTC)).outcome


def bookings(runtime: Runtime, source: str) -> int:
    with runtime.store.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Booking).where(Booking.source == source)
            )
            or 0
        )


def only_event(sandbox: ServerThread) -> dict[str, Any]:
    events = gomry_events(sandbox.url)
    assert len(events) == 1, f"expected exactly one event, found {len(events)}"
    return events[0]


def test_calendly_booking_reschedule_and_cancellation_keep_one_event(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    def send(name: str) -> httpx.Response:
        body = fixture("calendly", name)
        return post(
            ingress,
            "calendly",
            body,
            calendly_headers(body),
        )

    first = "1f0a7a52-6d2b-4c1e-9b5e-2f7f3c1d9a10"
    assert send("invitee_created.json").status_code == 202
    assert sync(runtime, "calendly", first) == "created"
    event = only_event(sandbox)
    assert event["name"] == "Zoë Ångström – Summer Launch Party"
    assert event["start"] == {"utc": "2026-07-15T22:00:00.000Z", "timezone": "America/New_York"}
    assert event["end"] == {"utc": "2026-07-16T02:00:00.000Z", "timezone": "America/New_York"}
    assert event["venue"]["address"] == "Convention Center, 655 W 34th St, New York"

    # the reschedule's canceled half arrives first: ignored, nothing cancelled
    ignored = send("invitee_canceled_rescheduled.json")
    assert (ignored.status_code, ignored.json()["outcome"]) == (200, "ignored")
    assert send("invitee_created_rescheduled.json").status_code == 202
    assert sync(runtime, "calendly", first) == "updated"  # the new invitee is an alias
    moved = only_event(sandbox)
    assert moved["id"] == event["id"] and moved["registration_status"] == "open"
    assert moved["start"]["utc"] == "2026-07-17T23:00:00.000Z"
    assert bookings(runtime, "calendly") == 1

    assert send("invitee_canceled.json").status_code == 202
    assert sync(runtime, "calendly", first) == "cancelled"
    assert only_event(sandbox)["registration_status"] == "closed"

    wrong = fixture("calendly", "invitee_created.json")
    refused = post(
        ingress,
        "calendly",
        wrong,
        {calendly.HEADER: calendly.sign("intruder", wrong, datetime.now(UTC))},
    )
    assert refused.status_code == 401


def test_calcom_booking_reschedule_and_cancellation_keep_one_event(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    def send(name: str, signature: str | None = None) -> httpx.Response:
        body = fixture("calcom", name)
        return post(
            ingress, "calcom", body, {calcom.HEADER: signature or calcom.sign(CALCOM_SECRET, body)}
        )

    assert send("booking_created.json", calcom.UNSIGNED).status_code == 401  # not opted out
    assert send("booking_created.json").status_code == 202
    assert sync(runtime, "calcom", "bK7pQ2xV9mN4rT6yW1zA3c") == "created"
    event = only_event(sandbox)
    assert event["name"] == "Zoë Ångström – Photo Booth Evening"
    assert event["start"] == {"utc": "2026-09-12T16:00:00.000Z", "timezone": "Europe/Berlin"}
    assert event["end"]["utc"] == "2026-09-12T21:00:00.000Z"
    assert event["venue"]["address"] == "Kulturbrauerei, Schönhauser Allee 36, 10435 Berlin"

    assert send("booking_rescheduled.json").status_code == 202  # new uid, rescheduleUid = old
    assert sync(runtime, "calcom", "bK7pQ2xV9mN4rT6yW1zA3c") == "updated"
    moved = only_event(sandbox)
    assert moved["id"] == event["id"]
    assert moved["start"]["utc"] == "2026-09-19T15:00:00.000Z"
    assert bookings(runtime, "calcom") == 1

    assert send("booking_cancelled.json").status_code == 202  # cancels the new uid
    assert sync(runtime, "calcom", "bK7pQ2xV9mN4rT6yW1zA3c") == "cancelled"
    assert only_event(sandbox)["registration_status"] == "closed"


def test_pipedrive_won_deal_edit_and_loss_keep_one_event(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    person = {
        "id": 17,
        "name": "Mari Tamm",
        "emails": [{"value": "mari@example.ee", "primary": True}],
    }
    seeded = {"tokens": [PIPEDRIVE_TOKEN], "persons": [person]}
    httpx.post(f"{sandbox.url}/pipedrive/_seed", json=seeded, timeout=10).raise_for_status()

    def deliver(name: str) -> str:
        body = fixture("pipedrive", name)
        answer = post(ingress, "pipedrive", body, pipedrive_headers())
        assert (answer.status_code, answer.json()["outcome"]) == (202, "received")
        receipt = deferred.ingest(runtime, answer.json()["inbox_id"], now=datetime.now(UTC))
        assert receipt is not None and receipt.outcome == "accepted"
        return sync(runtime, "pipedrive", "4711")

    assert (
        post(
            ingress, "pipedrive", b"{}", {"authorization": pipedrive.basic_auth("bookwire:nope")}
        ).status_code
        == 401
    )
    assert deliver("v2_deal_won.json") == "created"
    event = only_event(sandbox)
    assert event["name"] == "Mari Tamm – Jüri & Mari wedding"  # the person, looked up by id
    assert event["start"] == {"utc": "2026-08-15T15:30:00.000Z", "timezone": "Europe/Tallinn"}
    assert event["end"]["utc"] == "2026-08-15T20:30:00.000Z"
    assert event["venue"]["address"] == "Mustamäe tee 3a, 10616 Tallinn, Estonia"

    assert deliver("v2_deal_won_edit.json") == "updated"
    moved = only_event(sandbox)
    assert moved["id"] == event["id"] and moved["start"]["utc"] == "2026-08-22T14:00:00.000Z"

    assert deliver("v2_deal_lost.json") == "cancelled"
    assert only_event(sandbox)["registration_status"] == "closed"
