"""Backfill through the intake: stable delivery keys, repeats are duplicates, and overlapping a
backfill with live webhooks creates nothing twice."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from integrations import registry
from integrations.booking import BookingMessage, BookingStatus
from integrations.connector import WebhookRequest
from tests.conftest import settings_env
from tests.support import ServerThread, gomry_events
from tests.vendor_support import (
    SQUARE_URL,
    acuity_headers,
    fixture,
    hubspot_headers,
    seed_records,
    square_headers,
    vendor_secrets_env,
    vendor_tenants_toml,
)
from worker.cli import main
from worker.intake import deferred
from worker.intake import record as intake
from worker.intake.backfill import backfill, delivery_key
from worker.runtime import Runtime
from worker.store.models import Booking, Delivery
from worker.sync import bookings as sync

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
SINCE = {"hubspot": date(2026, 6, 16), "acuity": date(2026, 7, 1), "square": date(2026, 3, 1)}
WEBHOOK = {  # one live delivery per vendor and the booking it is about
    "hubspot": ("stage_booked.json", "1001"),
    "acuity": ("scheduled.form", "5001"),
    "square": ("booking_created.json", "sq7bk1"),
}


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


def deliveries(runtime: Runtime, source: str) -> list[Delivery]:
    with runtime.store.transaction() as session:
        return list(session.scalars(select(Delivery).where(Delivery.source == source)))


def booking_ids(runtime: Runtime) -> list[int]:
    with runtime.store.transaction() as session:
        return list(session.scalars(select(Booking.id).order_by(Booking.id)))


def live_webhook(runtime: Runtime, vendor: str) -> intake.Receipt | None:
    """A signed live delivery taken in as the ingress would, then parsed as the worker would."""
    name, _ = WEBHOOK[vendor]
    body = fixture(vendor, name)
    url = "https://hooks.acme.example/webhooks/hubspot/acme"
    headers = {
        "hubspot": lambda: hubspot_headers(body, url),
        "acuity": lambda: acuity_headers(body),
        "square": lambda: square_headers(body, url=SQUARE_URL),
    }[vendor]()
    connector = registry.SOURCES[vendor]
    received = intake.receive(
        runtime,
        tenant="acme",
        source=vendor,
        request=WebhookRequest("POST", url, headers, body),
        connector=connector,
        options=runtime.source_options("acme", vendor),
        now=NOW,
    )
    if received.outcome != "received":  # a retry of a delivery already taken in
        return received
    return deferred.ingest(runtime, received.delivery_id, now=NOW)


@pytest.mark.parametrize("vendor", ["hubspot", "acuity", "square"])
def test_a_second_run_records_nothing_new(
    runtime: Runtime, sandbox: ServerThread, vendor: str
) -> None:
    seed_records(sandbox.url, vendor)
    first = backfill(runtime, vendor, "acme", since=SINCE[vendor], now=NOW, batch_size=2)
    assert first.fetched >= 3 and first.accepted == first.fetched == first.published
    assert all(d.delivery_key.startswith("backfill:") for d in deliveries(runtime, vendor))
    again = backfill(runtime, vendor, "acme", since=SINCE[vendor], now=NOW.replace(hour=13))
    assert (again.duplicates, again.accepted, again.published) == (first.fetched, 0, 0)
    assert len(deliveries(runtime, vendor)) == first.fetched


@pytest.mark.parametrize("vendor", ["hubspot", "acuity", "square"])
def test_overlapping_a_backfill_with_live_webhooks_creates_nothing_twice(
    runtime: Runtime, sandbox: ServerThread, vendor: str
) -> None:
    seed_records(sandbox.url, vendor)
    live = live_webhook(runtime, vendor)
    assert live is not None and live.outcome == "accepted"
    for booking_id in booking_ids(runtime):
        sync.sync_booking(runtime, booking_id, now=NOW)
    report = backfill(runtime, vendor, "acme", since=SINCE[vendor], now=NOW.replace(minute=5))
    assert report.fetched >= 3
    retry = live_webhook(runtime, vendor)  # the vendor retries the webhook after the backfill
    assert retry is not None and retry.outcome in ("duplicate", "accepted", "stale")
    for booking_id in booking_ids(runtime):
        sync.sync_booking(runtime, booking_id, now=NOW)
    with runtime.store.transaction() as session:
        same = session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.external_id == WEBHOOK[vendor][1])
        )
        confirmed = session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.status != BookingStatus.cancelled.value)
        )
    assert same == 1
    events = gomry_events(sandbox.url)
    assert len(events) == confirmed  # one event per confirmed booking, none twice


def test_states_read_at_different_times_are_keyed_by_content_when_updated_at_is_observed() -> None:
    message = BookingMessage(
        tenant="acme",
        source="acuity",
        booking_id="5005",
        status=BookingStatus.cancelled,
        updated_at=NOW,
    )
    later = message.model_copy(update={"updated_at": NOW.replace(hour=13)})
    assert delivery_key(message, observed=True) == delivery_key(later, observed=True)
    assert delivery_key(message) != delivery_key(later)
    assert delivery_key(message) == f"backfill:5005:{NOW.isoformat()}"


def test_unknown_source_or_tenant_is_refused(runtime: Runtime) -> None:
    with pytest.raises(LookupError, match="has no backfill"):
        backfill(runtime, "generic", "acme", since=date(2026, 1, 1), now=NOW)
    with pytest.raises(LookupError, match="no 'hubspot' source"):
        backfill(runtime, "hubspot", "nobody", since=date(2026, 1, 1), now=NOW)


def test_the_cli_prints_the_report(
    runtime: Runtime,
    sandbox: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_records(sandbox.url, "square")
    for name, value in settings_env(runtime.settings).items():
        monkeypatch.setenv(name, value)
    assert main(["backfill", "square", "acme", "--since", "2026-03-01"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "square" and report["accepted"] == 4
    assert main(["backfill", "generic", "acme", "--since", "2026-03-01"]) == 2
    with pytest.raises(SystemExit):
        main(["backfill", "square", "acme", "--since", "March"])
