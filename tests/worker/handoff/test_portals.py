"""Each portal against the portal stub over loopback: what arrives, signed how, and refusals.

The stub verifies signatures with the ``standardwebhooks`` package (not our code), so a
passing test means a client using any Standard Webhooks library accepts our deliveries.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from config.errors import SettingsError
from config.tenants import PortalConfig, SecretRef, Tenants, load_tenants
from integrations import tenants_check
from integrations.errors import ConfigurationError, PermanentError
from integrations.hubspot.portal import HubSpotPortal
from integrations.pipedrive.portal import PipedrivePortal
from integrations.platform import AttendeeRecord, Deliverable
from integrations.portal import PortalMessage, delivery_key
from integrations.portal_webhook.client import WebhookPortal, payload
from integrations.portal_webhook.schemas import EventEnded
from tests.support import ServerThread
from tests.worker.handoff.conftest import HUBSPOT_TOKEN, PIPEDRIVE_TOKEN, PORTAL_SECRET, received

END = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
ALBUM = Deliverable(ready=True, status="ended", album_url="https://photos.example.com/albums/1")
PEOPLE = Deliverable(
    ready=True,
    status="active",
    attendees=(
        AttendeeRecord("Zoë Ångström", "zoe@example.com", "checked_in", True, END),
        AttendeeRecord("Bob", "bob@example.com", "No Show", False),
        AttendeeRecord(None, None, "valid", None),
    ),
)


def message(deliverable: Deliverable = ALBUM, source: str = "generic", **kw: Any) -> PortalMessage:
    fields: dict[str, Any] = {
        "key": delivery_key("acme:generic:bk-1", END),
        "tenant": "acme",
        "source": source,
        "booking_id": "12345",
        "reference": "bw-0123",
        "platform": "guestmedia",
        "event_id": "gm_1",
        "starts_at": END - timedelta(hours=4),
        "ends_at": END,
        "timezone": "Europe/Berlin",
        "deliverable": deliverable,
    }
    return PortalMessage(**{**fields, **kw})


def config(
    kind: str, url: str | None = None, options: dict[str, Any] | None = None, **secrets: str
) -> PortalConfig:
    refs = {}
    for name, value in secrets.items():
        ref = SecretRef(env="X")
        ref._value = SecretStr(value)  # resolved, as load_tenants leaves it
        refs[name] = ref
    return PortalConfig(kind=kind, url=url, credentials=refs, options=options or {})


def webhook_portal(portal: ServerThread, secret: str = PORTAL_SECRET, **kw: Any) -> WebhookPortal:
    cfg = config("webhook", f"{portal.url}/portal/webhook", signing_secret=secret)
    return WebhookPortal(cfg, httpx.Client(timeout=5), **kw)


def test_webhook_posts_a_signed_album_link(portal: ServerThread) -> None:
    sent = message()
    assert webhook_portal(portal).deliver(sent).outcome == "delivered"
    [hook] = received(portal)
    assert hook["target"] == sent.key == hook["idempotency_key"]
    body = EventEnded.model_validate(hook["body"])
    assert body.data.kind == "album" and body.data.album_url == ALBUM.album_url
    assert body.timestamp == END and body.data.event.ends_at == END
    assert body.data.booking.id == "12345" and body.data.attendance is None


def test_webhook_attendance_with_or_without_people(portal: ServerThread) -> None:
    webhook_portal(portal).deliver(message(PEOPLE))
    cfg = config(
        "webhook",
        f"{portal.url}/portal/webhook",
        {"include_attendees": False},
        signing_secret=PORTAL_SECRET,
    )
    WebhookPortal(cfg, httpx.Client(timeout=5)).deliver(message(PEOPLE, key="bwd_other"))
    full, counts = (EventEnded.model_validate(h["body"]).data for h in received(portal))
    assert full.kind == "attendance" and full.attendance is not None
    assert (full.attendance.total, full.attendance.attended, full.attendance.no_show) == (3, 1, 1)
    assert full.attendance.attendees[0].name == "Zoë Ångström"
    assert full.attendance.attendees[0].checked_in_at == END
    assert counts.attendance is not None and counts.attendance.attendees == []


def test_webhook_with_the_wrong_secret_is_a_configuration_error(portal: ServerThread) -> None:
    wrong = "whsec_" + "A" * 43 + "="
    with pytest.raises(ConfigurationError, match="HTTP 401"):
        webhook_portal(portal, secret=wrong).deliver(message())
    assert received(portal) == []


def test_a_stale_timestamp_is_refused_by_the_client(portal: ServerThread) -> None:
    """The signature covers the time of the attempt: a retry signs afresh (never replays an
    old header), and a receiver refuses an old one."""
    stale = webhook_portal(portal, clock=lambda: datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(ConfigurationError):
        stale.deliver(message())


def test_hubspot_writes_the_property_then_a_note(portal: ServerThread) -> None:
    options = {
        "base_url": f"{portal.url}/portal/hubspot",
        "album_property": "album_link",
        "attendance_property": "attendance",
        "note": True,
    }
    hub = HubSpotPortal(
        config("hubspot", None, options, access_token=HUBSPOT_TOKEN), httpx.Client(timeout=5)
    )
    both = Deliverable(
        ready=True, status="ended", album_url=ALBUM.album_url, attendees=PEOPLE.attendees
    )
    assert hub.deliver(message(both, source="hubspot")).outcome == "delivered"
    [deal] = received(portal, "hubspot.deal")
    assert deal["target"] == "12345"
    assert deal["body"]["properties"] == {
        "album_link": ALBUM.album_url,
        "attendance": "1 of 3 attended, 1 no-show",
    }
    [note] = received(portal, "hubspot.note")
    assert note["target"] == "12345"
    assert note["body"]["properties"]["hs_timestamp"] == "2026-10-25T00:30:00.000Z"
    assert ALBUM.album_url in note["body"]["properties"]["hs_note_body"]
    assert message().key in note["body"]["properties"]["hs_note_body"]
    [assoc] = note["body"]["associations"]
    assert assoc["types"] == [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}]


def test_hubspot_skips_bookings_that_are_not_deals(portal: ServerThread) -> None:
    options = {"base_url": f"{portal.url}/portal/hubspot", "album_property": "album_link"}
    hub = HubSpotPortal(
        config("hubspot", None, options, access_token=HUBSPOT_TOKEN), httpx.Client(timeout=5)
    )
    receipt = hub.deliver(message(source="calendly"))
    assert receipt.outcome == "skipped" and "calendly" in (receipt.reason or "")
    assert hub.deliver(message(PEOPLE, source="hubspot")).outcome == "skipped"  # no album
    assert received(portal, "hubspot.deal") == []


def test_pipedrive_writes_the_custom_field_then_a_note(portal: ServerThread) -> None:
    field = "a" * 40
    options = {"api_base_url": f"{portal.url}/portal/pipedrive", "album_field": field, "note": True}
    pipe = PipedrivePortal(
        config("pipedrive", None, options, api_token=PIPEDRIVE_TOKEN), httpx.Client(timeout=5)
    )
    assert pipe.deliver(message(source="pipedrive")).outcome == "delivered"
    [deal] = received(portal, "pipedrive.deal")
    assert deal["target"] == "12345"
    assert deal["body"] == {"custom_fields": {field: ALBUM.album_url}}
    [note] = received(portal, "pipedrive.note")
    assert note["body"]["deal_id"] == 12345 and ALBUM.album_url in note["body"]["content"]


def test_pipedrive_refusal_is_permanent(portal: ServerThread) -> None:
    options = {"api_base_url": f"{portal.url}/portal/pipedrive", "album_field": "b" * 40}
    pipe = PipedrivePortal(
        config("pipedrive", None, options, api_token=PIPEDRIVE_TOKEN), httpx.Client(timeout=5)
    )
    httpx.post(f"{portal.url}/portal/_respond", json={"status": 404})
    with pytest.raises(PermanentError, match="HTTP 404"):
        pipe.deliver(message(source="pipedrive"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    album=st.one_of(st.none(), st.text(min_size=1, max_size=80).map(lambda t: f"https://x/{t}")),
    names=st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=5),
    booking_id=st.text(min_size=1, max_size=60),
)
def test_any_payload_is_valid_json_and_verifies(
    album: str | None, names: list[str | None], booking_id: str
) -> None:
    """Whatever names, ids and links contain, the body is one schema-valid JSON document and
    its signature verifies with a stock Standard Webhooks library."""
    people = tuple(AttendeeRecord(n, None, "valid", None) for n in names)
    sent = message(
        Deliverable(True, "ended", album_url=album, attendees=people), booking_id=booking_id
    )
    body = payload(sent)
    parsed = EventEnded.model_validate(json.loads(body))
    assert parsed.data.booking.id == booking_id and parsed.data.album_url == album
    assert payload(sent) == body  # the same bytes on every attempt
    now = datetime.now(UTC)
    from integrations.generic.webhook import sign

    headers = {
        "webhook-id": sent.key,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(PORTAL_SECRET, sent.key, now, body),
    }
    Webhook(PORTAL_SECRET).verify(body.encode(), headers)


def test_delivery_keys_are_stable_per_booking_and_end() -> None:
    key = delivery_key("acme:generic:bk-1", END)
    assert key == delivery_key("acme:generic:bk-1", END.astimezone())  # same instant
    assert key != delivery_key("acme:generic:bk-1", END + timedelta(minutes=1))
    assert key != delivery_key("acme:generic:bk-2", END)
    assert key.startswith("bwd_") and len(key) == 36


PORTAL_TOML = """
[tenants.acme]
[tenants.acme.platform]
kind = "gomry"
base_url = "http://127.0.0.1:1/api/v1"
credentials = {{ api_key = {{ env = "K" }} }}
[tenants.acme.portal]
{portal}
"""


@pytest.mark.parametrize(
    ("portal", "where", "says"),
    [
        ('kind = "email"', "tenants.acme.portal.kind", "unknown portal"),
        (
            'kind = "webhook"\ncredentials = { signing_secret = { env = "S" } }',
            "tenants.acme.portal",
            "needs url",
        ),
        (
            'kind = "webhook"\nurl = "https://p.example/hook"\n'
            'credentials = { signing_secret = { env = "K" } }',
            "tenants.acme.portal",
            "signing_secret must be a Standard Webhooks secret",
        ),
        (
            'kind = "hubspot"\ncredentials = { access_token = { env = "K" } }',
            "tenants.acme.portal.options",
            "album_property",
        ),
        (
            'kind = "pipedrive"\noptions = { api_base_url = "https://x.pipedrive.com", '
            'album_field = "short" }\ncredentials = { api_token = { env = "K" } }',
            "tenants.acme.portal.options.album_field",
            "String should match",
        ),
        ('kind = "webhook"\nurl = "ftp://p.example"', "tenants.acme.portal.url", "http"),
    ],
)
def test_check_config_names_the_portal_problem(
    tmp_path: Any, portal: str, where: str, says: str
) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(PORTAL_TOML.format(portal=portal))
    environ = {"K": "key", "S": PORTAL_SECRET}
    with pytest.raises(SettingsError) as caught:
        tenants: Tenants = load_tenants(path, environ=environ)
        tenants_check.check_tenants(tenants)
    problems = caught.value.problems
    assert any(p.field == where and says in p.problem for p in problems), problems
