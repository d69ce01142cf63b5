"""Source health: a silent or disabled source is found (failure record + gauge) and its gap is
backfilled by bookwire itself; the failure resolves once the source is healthy again.

Real components: the ingress and the vendor stubs over loopback, SQLite, the Redis-protocol
server; webhooks are signed and posted like the vendor's, the gap is read from the stubs' list
APIs, and the events end up on the Gomry sandbox.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from integrations.booking import BookingStatus
from integrations.calendly import webhook as calendly
from tests.conftest import settings_env
from tests.integrations.pipedrive.keys import DATE, END, START, VENUE, ZONE
from tests.support import FIXTURES, ServerThread, gomry_events
from tests.vendor_support import (
    CALENDLY_KEY,
    CALENDLY_TOKEN,
    PIPEDRIVE_TOKEN,
    calendly_toml,
    pipedrive_headers,
    pipedrive_toml,
    write_secrets,
    write_tenants,
)
from worker import runtime as runtime_module
from worker.celery_app import create_celery
from worker.cli import main
from worker.ingress.app import create_app
from worker.intake import deferred, source_health
from worker.ops import state_metrics
from worker.runtime import Runtime
from worker.store.models import Booking, Failure
from worker.sync.bookings import sync_booking
from worker.tasks import check_sources

MISSED = "5b9d1c3e-0f2a-4b6c-8d7e-9a1b2c3d4e5f"  # the invitee no webhook ever brought


def sources(sandbox_url: str) -> tuple[str, str]:
    """Calendly and Pipedrive, each read from its stub and expected to deliver every 6 h."""
    return calendly_toml(sandbox_url, expect="6h"), pipedrive_toml(sandbox_url, expect="6h")


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    return write_tenants(tmp_path, sandbox.url, *sources(sandbox.url))


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    return write_secrets(tmp_path)


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


def calendly_webhook(ingress: ServerThread) -> datetime:
    """Calendly delivers one signed ``invitee.created``; returns when."""
    body = (FIXTURES / "calendly" / "invitee_created.json").read_bytes()
    sent = datetime.now(UTC)
    answer = httpx.post(
        f"{ingress.url}/webhooks/calendly/acme",
        content=body,
        headers={
            "content-type": "application/json",
            calendly.HEADER: calendly.sign(CALENDLY_KEY, body, sent),
        },
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return sent


def missed_booking(starts: datetime) -> dict[str, Any]:
    """A Calendly booking made while webhooks were failing: only the list API has it."""
    raw = json.loads((FIXTURES / "calendly" / "invitee_created.json").read_bytes())["payload"]
    event = copy.deepcopy(raw.pop("scheduled_event"))
    event["uri"] = "https://api.calendly.com/scheduled_events/0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
    event["start_time"] = starts.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    event["end_time"] = (starts + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    event["name"] = "Autumn Gala"
    raw["uri"] = f"{event['uri']}/invitees/{MISSED}"
    raw["event"] = event["uri"]
    uuid = event["uri"].rsplit("/", 1)[-1]
    return {"tokens": [CALENDLY_TOKEN], "events": [event], "invitees": {uuid: [raw]}}


def plant_subscription(sandbox: ServerThread, ingress: ServerThread, state: str) -> None:
    body = {"callback_url": f"{ingress.url}/webhooks/calendly/acme", "state": state}
    httpx.post(f"{sandbox.url}/calendly/_subscriptions", json=body, timeout=5).raise_for_status()


def open_failures(runtime: Runtime, source: str) -> list[Failure]:
    with runtime.store.transaction() as session:
        return list(
            session.scalars(
                select(Failure).where(
                    Failure.stage == "source",
                    Failure.source == source,
                    Failure.resolved_at.is_(None),
                )
            )
        )


def gauge(runtime: Runtime, name: str, source: str) -> float | None:
    text = state_metrics.collect(runtime).decode()
    prefix = f'{name}{{source="{source}"}} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0].removeprefix(prefix)) if found else None


def sync_all(runtime: Runtime, now: datetime) -> None:
    with runtime.store.transaction() as session:
        ids = list(session.scalars(select(Booking.id).order_by(Booking.id)))
    for booking_id in ids:
        sync_booking(runtime, booking_id, now=now)


def test_a_silent_source_is_found_and_its_gap_backfilled_without_an_operator(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    sent = calendly_webhook(ingress)
    plant_subscription(sandbox, ingress, "active")
    later = sent + timedelta(hours=8)  # longer than the 6 h expectation
    # made during the silence, for an evening next month: nobody told bookwire
    seed = missed_booking(starts=sent + timedelta(days=30))
    httpx.post(f"{sandbox.url}/calendly/_seed", json=seed, timeout=5).raise_for_status()

    assert source_health.sweep(runtime, now=later) == 2  # calendly and pipedrive are silent

    [failure] = open_failures(runtime, "calendly")
    assert failure.tenant == "acme" and "expected within 6h" in failure.reason
    assert "backfilled since" in failure.reason and "1 new" in failure.reason
    assert "zoe@example.com" not in failure.reason and "Zoë" not in failure.reason
    assert gauge(runtime, "bookwire_source_silent", "calendly") == 1
    assert gauge(runtime, "bookwire_source_disabled", "calendly") == 0
    sync_all(runtime, later)
    names = sorted(e["name"] for e in gomry_events(sandbox.url))
    assert names == ["Zoë Ångström – Autumn Gala", "Zoë Ångström – Summer Launch Party"]

    # a second check while still silent bumps the same record and creates nothing twice
    assert source_health.sweep(runtime, now=later + timedelta(minutes=15)) == 2
    [again] = open_failures(runtime, "calendly")
    assert again.id == failure.id and again.attempts == 2 and "0 new" in again.reason
    sync_all(runtime, later)
    assert len(gomry_events(sandbox.url)) == 2

    lines = source_health.lines(runtime, now=later)
    calendly_line = next(line for line in lines if line.startswith("acme calendly:"))
    assert "expected within 6h" in calendly_line and "subscription active" in calendly_line


def test_a_disabled_calendly_subscription_is_found_and_resolves_once_active(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    httpx.post(
        f"{sandbox.url}/calendly/_seed", json={"tokens": [CALENDLY_TOKEN]}, timeout=5
    ).raise_for_status()
    sent = calendly_webhook(ingress)  # not silent: delivered just now
    plant_subscription(sandbox, ingress, "disabled")
    soon = sent + timedelta(minutes=30)
    source_health.sweep(runtime, now=soon)
    [failure] = open_failures(runtime, "calendly")
    assert "subscription is disabled" in failure.reason and "expected within" not in failure.reason
    assert gauge(runtime, "bookwire_source_disabled", "calendly") == 1
    assert gauge(runtime, "bookwire_source_silent", "calendly") == 0

    plant_subscription(sandbox, ingress, "active")  # someone re-enabled it
    source_health.sweep(runtime, now=soon + timedelta(minutes=15))
    assert open_failures(runtime, "calendly") == []
    with runtime.store.transaction() as session:
        resolved = session.get(Failure, failure.id)
        assert resolved is not None and resolved.resolved_at is not None
    assert gauge(runtime, "bookwire_source_disabled", "calendly") == 0


def test_a_silent_source_resolves_when_webhooks_arrive_again(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    httpx.post(
        f"{sandbox.url}/calendly/_seed", json={"tokens": [CALENDLY_TOKEN]}, timeout=5
    ).raise_for_status()
    now = datetime.now(UTC)
    source_health.sweep(runtime, now=now)  # never delivered: silent
    assert len(open_failures(runtime, "calendly")) == 1
    calendly_webhook(ingress)
    source_health.sweep(runtime, now=datetime.now(UTC))
    assert open_failures(runtime, "calendly") == []
    assert len(open_failures(runtime, "pipedrive")) == 1  # still silent: still open


def test_a_pipedrive_deal_lost_during_the_outage_is_cancelled_by_the_backfill(
    runtime: Runtime, ingress: ServerThread, sandbox: ServerThread
) -> None:
    person = {
        "id": 17,
        "name": "Mari Tamm",
        "emails": [{"value": "mari@example.ee", "primary": True}],
    }
    seeded = {"tokens": [PIPEDRIVE_TOKEN], "persons": [person]}
    httpx.post(f"{sandbox.url}/pipedrive/_seed", json=seeded, timeout=10).raise_for_status()
    body = (FIXTURES / "pipedrive" / "v2_deal_won.json").read_bytes()
    answer = httpx.post(
        f"{ingress.url}/webhooks/pipedrive/acme",
        content=body,
        headers={
            "content-type": "application/json",
            **pipedrive_headers(),
        },
        timeout=10,
    )
    assert answer.status_code == 202
    sent = datetime.now(UTC)
    if answer.json()["outcome"] == "received":
        deferred.ingest(runtime, answer.json()["inbox_id"], now=sent)
    sync_all(runtime, sent)
    [event] = gomry_events(sandbox.url)
    assert event["registration_status"] == "open"

    # webhooks fail; meanwhile the deal is lost (Pipedrive gives up on the delivery)
    lost_at = sent + timedelta(hours=2)
    deal = {
        "id": 4711,
        "title": "Jüri & Mari wedding",
        "status": "lost",
        "person_id": 17,
        "update_time": lost_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "custom_fields": {DATE: "2026-08-15", START: None, END: None, ZONE: None, VENUE: None},
    }
    httpx.post(f"{sandbox.url}/pipedrive/_seed", json={"deals": [deal]}, timeout=5)
    later = sent + timedelta(hours=8)
    source_health.sweep(runtime, now=later)
    [failure] = open_failures(runtime, "pipedrive")
    assert "1 new" in failure.reason
    sync_all(runtime, later)
    [closed] = gomry_events(sandbox.url)
    assert closed["id"] == event["id"] and closed["registration_status"] == "closed"
    with runtime.store.transaction() as session:
        booking = session.scalar(select(Booking).where(Booking.external_id == "4711"))
        assert booking is not None and booking.status == BookingStatus.cancelled.value


def test_beat_checks_sources_on_the_configured_interval(runtime: Runtime) -> None:
    app = create_celery(runtime.settings.model_copy(update={"source_health_interval": 300.0}))
    assert app.conf.beat_schedule["check-sources"] == {
        "task": "bookwire.check_sources",
        "schedule": 300.0,
    }


def test_status_shows_a_line_per_watched_source(
    runtime: Runtime,
    ingress: ServerThread,
    sandbox: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    httpx.post(
        f"{sandbox.url}/calendly/_seed", json={"tokens": [CALENDLY_TOKEN]}, timeout=5
    ).raise_for_status()
    calendly_webhook(ingress)
    plant_subscription(sandbox, ingress, "disabled")
    source_health.sweep(runtime, now=datetime.now(UTC))
    for name, value in settings_env(runtime.settings).items():
        monkeypatch.setenv(name, value)
    assert main(["status", "--sources"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2  # calendly and pipedrive; generic has no expectation and no API
    calendly_line, pipedrive_line = out
    assert calendly_line.startswith("acme calendly: last delivery 20")
    assert "subscription disabled" in calendly_line and "disabled at the vendor" in calendly_line
    assert pipedrive_line.startswith("acme pipedrive: last delivery never, expected within 6h")
    assert "no delivery ever recorded" in pipedrive_line


def test_the_beat_task_checks_every_watched_source(
    runtime: Runtime, sandbox: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpx.post(
        f"{sandbox.url}/calendly/_seed", json={"tokens": [CALENDLY_TOKEN]}, timeout=5
    ).raise_for_status()
    monkeypatch.setattr(runtime_module, "_current", runtime)  # the worker's runtime
    assert check_sources() == 2  # neither source ever delivered: both silent
    assert len(open_failures(runtime, "calendly")) == len(open_failures(runtime, "pipedrive")) == 1
    assert gauge(runtime, "bookwire_source_silent", "pipedrive") == 1


def test_a_webhook_only_source_without_expectation_is_not_watched(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    calendly_source = runtime.tenants.tenants["acme"].sources["calendly"]
    calendly_source.credentials = {}  # no API token: its subscription cannot be read
    calendly_source.expect_delivery_within = None
    watched = [(tenant, source) for tenant, source, _ in source_health.watched(runtime)]
    assert watched == [("acme", "pipedrive")]
    source_health.sweep(runtime, now=datetime.now(UTC))
    assert open_failures(runtime, "calendly") == []
    assert gauge(runtime, "bookwire_source_silent", "calendly") is None
