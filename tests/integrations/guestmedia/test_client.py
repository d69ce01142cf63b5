"""The guest-media client against the sandbox provider (docs/guest-media-contract.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.tenants import Tenants, load_tenants
from integrations.errors import ConfigurationError, PermanentError, TransientError
from integrations.guestmedia.client import GuestMediaPlatform
from integrations.http import Attempt, recording
from integrations.platform import EventSpec
from tests.integrations.guestmedia.conftest import at
from tests.integrations.platforms import NOW, client, faults, spec
from tests.support import GUESTMEDIA_KEY, ServerThread, secrets_env

HEADERS = {"Authorization": f"Bearer {GUESTMEDIA_KEY}"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.fixture
def media(sandbox: ServerThread, http: httpx.Client) -> GuestMediaPlatform:
    return client(sandbox, "guestmedia", http)  # type: ignore[no-any-return]


@pytest.fixture
def tenants(tenants_file: Path) -> Tenants:
    return load_tenants(tenants_file, environ=secrets_env())


def branded(tenants: Tenants, booking_id: str = "m-1", **fields: Any) -> EventSpec:
    return spec(booking_id, tenants=tenants, name_max=GuestMediaPlatform.name_max, **fields)


def event(sandbox: ServerThread, event_id: str) -> dict[str, Any]:
    url = f"{sandbox.url}/guestmedia/v1/events/{event_id}"
    return dict(httpx.get(url, headers=HEADERS).json()["event"])


def test_create_makes_a_branded_event_with_its_qr_sign(
    media: GuestMediaPlatform, sandbox: ServerThread, tenants: Tenants
) -> None:
    wanted = branded(tenants)
    linked = media.create_event(wanted, idempotency_key=wanted.reference)
    doc = event(sandbox, linked.event_id)
    assert doc["name"] == "Zoë Ångström – Summer Launch Party"
    assert (doc["date"], doc["timezone"]) == ("2026-07-15", "America/New_York")
    assert (doc["starts_at"], doc["ends_at"]) == ("2026-07-15T22:00:00Z", "2026-07-16T02:00:00Z")
    assert doc["branding"] == {
        "logo_url": "https://cdn.acme.test/logo.png",
        "primary_color": "#112233",
        "secondary_color": "#ffffff",
        "custom_domain": "photos.acme.test",
        "qr_text": "Scan to share your photos of Summer Launch Party",
    }
    assert doc["guest_url"].startswith("https://photos.acme.test/e/")
    assert doc["external_reference"] == wanted.reference and doc["status"] == "scheduled"
    again = media.create_event(wanted, idempotency_key=wanted.reference)
    assert again.replayed and again.event_id == linked.event_id


def test_client_override_brands_the_event_and_long_texts_fit_the_limits(
    media: GuestMediaPlatform, sandbox: ServerThread, tenants: Tenants
) -> None:
    wanted = branded(tenants, "m-2", client="bigco", title="Ω" * 300)
    doc = event(sandbox, media.create_event(wanted, idempotency_key="k-m-2").event_id)
    assert doc["branding"]["custom_domain"] == "memories.bigco.test"
    assert doc["branding"]["logo_url"] == "https://cdn.bigco.test/logo.png"
    assert doc["branding"]["secondary_color"] == "#ffffff"  # inherited from the tenant
    assert len(doc["name"]) == 120 and len(doc["branding"]["qr_text"]) == 80


def test_update_patches_only_changes_and_cancel_then_update_restores(
    media: GuestMediaPlatform, sandbox: ServerThread, tenants: Tenants
) -> None:
    wanted = branded(tenants, "m-3")
    linked = media.create_event(wanted, idempotency_key=wanted.reference)
    seen: list[Attempt] = []
    with recording(seen.append):
        media.update_event(linked, wanted)
    assert [a.method for a in seen] == ["GET"]
    later = branded(
        tenants, "m-3", start="2026-07-17T01:00:00+02:00", end="2026-07-17T05:00:00+02:00"
    )
    media.cancel_event(linked)
    assert event(sandbox, linked.event_id)["status"] == "cancelled"
    media.cancel_event(linked)  # idempotent
    media.update_event(linked, later)
    doc = event(sandbox, linked.event_id)
    assert (doc["status"], doc["starts_at"], doc["date"]) == (
        "scheduled",
        "2026-07-16T23:00:00Z",
        "2026-07-16",  # the local date in New York
    )


def test_the_album_link_is_delivered_once_the_event_has_ended(
    media: GuestMediaPlatform, sandbox: ServerThread, tenants: Tenants
) -> None:
    wanted = branded(tenants, "m-4")
    linked = media.create_event(wanted, idempotency_key=wanted.reference)
    pending = media.fetch_deliverable(linked)
    assert (pending.ready, pending.status, pending.album_url) == (False, "scheduled", None)
    album = "https://photos.acme.test/albums/summer"
    knob = f"{sandbox.url}/guestmedia/_sandbox/events/{linked.event_id}/end"
    httpx.post(knob, json={"album_url": album, "media_count": 212}).raise_for_status()
    delivered = media.fetch_deliverable(linked)
    assert (delivered.ready, delivered.status, delivered.album_url) == (True, "ended", album)
    with pytest.raises(PermanentError, match="409"):
        media.update_event(linked, branded(tenants, "m-4", title="Too late"))


def test_events_end_by_themselves_on_the_platform_clock(
    media: GuestMediaPlatform, sandbox: ServerThread, tenants: Tenants
) -> None:
    wanted = branded(tenants, "m-5")
    linked = media.create_event(wanted, idempotency_key=wanted.reference)
    at(sandbox, wanted.end.timestamp() - 1)
    assert media.fetch_deliverable(linked).status == "live"
    at(sandbox, wanted.end.timestamp())
    delivered = media.fetch_deliverable(linked)
    assert delivered.ready and delivered.album_url == (
        f"https://photos.acme.test/albums/{linked.event_id}"
    )


def test_find_event_by_reference_after_a_lost_answer_and_an_expired_key(
    media: GuestMediaPlatform, sandbox: ServerThread, tenants: Tenants
) -> None:
    wanted = branded(tenants, "m-6")
    faults(sandbox, drop_rate=1.0)
    with pytest.raises(TransientError):
        media.create_event(wanted, idempotency_key=wanted.reference)
    faults(sandbox, drop_rate=0.0)
    at(sandbox, NOW.timestamp() + 25 * 3600)
    found = media.find_event(wanted.reference)
    assert found is not None and event(sandbox, found.event_id)["name"] == wanted.name
    assert media.find_event(branded(tenants, "m-none").reference) is None


def test_a_wrong_key_is_a_configuration_error(sandbox: ServerThread, http: httpx.Client) -> None:
    revoked = client(sandbox, "guestmedia", http, secret="revoked")
    with pytest.raises(ConfigurationError, match="401"):
        revoked.create_event(spec("m-7"), idempotency_key="k")
