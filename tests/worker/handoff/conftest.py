"""Delivery fixtures: a portal stub over real HTTP, tenants with portals, bookings with events.

Tenants (one tenants file, the shared sandbox as their platforms):

- ``acme``: Gomry events with the customer's ticket, portal webhook (attendees and check-ins),
  grace 60 min;
- ``media``: guest-media events, portal webhook (album link), grace 30 min;
- ``plain``: Gomry events and no portal (never delivers).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from config.settings import Settings
from config.tenants import load_tenants
from sandbox.vendors.portal import create_app as create_portal
from tests.support import ServerThread, booking, secrets_env
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.db import _normalise
from worker.store.migrate import migrate
from worker.store.models import HandOff
from worker.sync import bookings as sync

PORTAL_SECRET = "whsec_" + base64.b64encode(b"bookwire-portal-secret-0123456789").decode()
HUBSPOT_TOKEN = "pat-test-hubspot"
PIPEDRIVE_TOKEN = "test-pipedrive-token"


@pytest.fixture
def portal() -> Iterator[ServerThread]:
    """The portal stub alone (its own fault knobs), verifying signatures with the secret."""
    keys = {"portal": {PORTAL_SECRET}, "hubspot": {HUBSPOT_TOKEN}, "pipedrive": {PIPEDRIVE_TOKEN}}
    with ServerThread(create_portal(keys)) as server:
        yield server


@pytest.fixture
def pg_runtime(settings: Settings, postgres_url: str) -> Iterator[Runtime]:
    """The same runtime on a fresh PostgreSQL database (row locks instead of SQLite's one
    writer: the claim must hold under real concurrency)."""
    name = f"bw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_normalise(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, query = postgres_url.partition("?")
    url = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    pg = settings.model_copy(update={"database_url": url})
    assert pg.tenants_file is not None
    tenants = load_tenants(pg.tenants_file, secrets_file=pg.secrets_file)
    rt = Runtime(pg, tenants=tenants)
    migrate(rt.store)
    try:
        yield rt
    finally:
        rt.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread, portal: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(tenants(sandbox.url, portal.url), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    values = {**secrets_env(), "TEST_PORTAL_SECRET": PORTAL_SECRET}
    path = tmp_path / "secrets.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def tenants(sandbox_url: str, portal_url: str) -> str:
    generic = '[tenants.{t}.sources.generic]\nsecrets = [{{ env = "TEST_WEBHOOK_SECRET" }}]\n'
    gomry = (
        '[tenants.{t}.platform]\nkind = "gomry"\n'
        f'base_url = "{sandbox_url}/api/v1"\n'
        'credentials = {{ api_key = {{ env = "TEST_GOMRY_KEY" }} }}\n'
    )
    webhook = (
        '[tenants.{t}.portal]\nkind = "webhook"\n'
        f'url = "{portal_url}/portal/webhook"\n'
        'credentials = {{ signing_secret = {{ env = "TEST_PORTAL_SECRET" }} }}\n'
    )
    media = (
        '[tenants.{t}.platform]\nkind = "guestmedia"\n'
        f'base_url = "{sandbox_url}/guestmedia/v1"\n'
        'credentials = {{ api_key = {{ env = "TEST_GUESTMEDIA_KEY" }} }}\n'
    )
    return "\n".join(
        [
            "[tenants.acme]",
            gomry.format(t="acme") + "options = { add_customer_as_attendee = true }\n",
            generic.format(t="acme"),
            webhook.format(t="acme") + "grace_minutes = 60\n",
            "[tenants.media]",
            media.format(t="media"),
            generic.format(t="media"),
            webhook.format(t="media") + "grace_minutes = 30\n",
            "[tenants.plain]",
            gomry.format(t="plain"),
            generic.format(t="plain"),
        ]
    )


def book(runtime: Runtime, tenant: str = "acme", *, now: datetime, **fields: Any) -> int:
    """A booking recorded and synced to its platform event; returns our booking id."""
    receipt = publish_booking(runtime, tenant=tenant, booking=booking(**fields))
    assert receipt.outcome == "accepted", receipt
    booking_id = receipt.bookings[0]
    assert sync.sync_booking(runtime, booking_id, now=now).outcome in ("created", "updated")
    return booking_id


def change(runtime: Runtime, tenant: str, *, now: datetime, **fields: Any) -> int:
    """A newer version of a booking (reschedule, cancel), recorded and synced."""
    receipt = publish_booking(runtime, tenant=tenant, booking=booking(**fields))
    assert receipt.outcome == "accepted", receipt
    booking_id = receipt.bookings[0]
    sync.sync_booking(runtime, booking_id, now=now)
    return booking_id


def received(portal: ServerThread, kind: str = "webhook") -> list[dict[str, Any]]:
    """What the portal stub recorded, of one kind (webhook, hubspot.deal, …)."""
    rows = httpx.get(f"{portal.url}/portal/_received", timeout=10).json()["received"]
    return [r for r in rows if r["kind"] == kind]


def deliveries(runtime: Runtime, booking_id: int) -> list[HandOff]:
    with runtime.store.transaction() as session:
        query = select(HandOff).where(HandOff.booking_id == booking_id)
        return list(session.scalars(query.order_by(HandOff.ends_at)))
