"""HubSpot workflow webhooks ("Send a webhook"): authentication, property mapping, options."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from config.errors import SettingsError
from config.tenants import load_tenants
from integrations import tenants_check
from integrations.booking import BookingStatus, Person
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from integrations.hubspot import workflow
from integrations.hubspot.schemas import HubSpotWorkflowOptions
from tests.vendor_support import HUBSPOT_OLD_SECRET, HUBSPOT_SECRET, fixture, hubspot_headers

URL = "https://hooks.acme.example/webhooks/hubspot-workflow/acme"
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
API_KEY = "wf-api-key-0001"

DEAL: dict[str, Any] = {
    "object_type": "deal",
    "start_property": "event_start",
    "end_property": "event_end",
    "duration_property": "event_duration",
    "timezone_property": "event_timezone",
    "timezone": "America/Chicago",
    "location_property": "event_venue",
    "name_properties": ["contact_name"],
    "email_property": "contact_email",
}
MEETING: dict[str, Any] = {
    "object_type": "meeting",
    "timezone": "Europe/Paris",
    "name_properties": ["attendee_name"],
    "email_property": "attendee_email",
}
CONTACT: dict[str, Any] = {
    "object_type": "contact",
    "start_property": "shoot_start",
    "duration_property": "shoot_length",
    "timezone": "Europe/Berlin",
}


def options(base: dict[str, Any], **changes: Any) -> HubSpotWorkflowOptions:
    return HubSpotWorkflowOptions.model_validate({**base, **changes})


def request(body: bytes, headers: dict[str, str], url: str = URL) -> WebhookRequest:
    return WebhookRequest("POST", url, {k.lower(): v for k, v in headers.items()}, body)


def parse(name: str, base: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    context = ParseContext("acme", "hubspot-workflow", options(base), now=NOW)
    return workflow.parse(request(fixture("hubspot", name), headers or {}), context=context)


# --- authentication -------------------------------------------------------------------------


def test_a_v3_signed_workflow_body_verifies_with_the_client_secret() -> None:
    body = fixture("hubspot", "workflow_deal_custom.json")
    signed = request(body, hubspot_headers(body, URL, at_ms=NOW_MS))
    workflow.verify(signed, secrets=[HUBSPOT_SECRET], now=NOW, options=options(DEAL))
    workflow.verify(signed, secrets=[HUBSPOT_OLD_SECRET, HUBSPOT_SECRET], now=NOW)  # rotation


def v2_headers(body: bytes, secret: str = HUBSPOT_SECRET) -> dict[str, str]:
    return {
        "X-HubSpot-Signature": workflow.sign_v2(secret, "POST", URL, body),
        "X-HubSpot-Signature-Version": "v2",
    }


def test_the_v2_signature_is_sha256_of_secret_method_uri_and_body() -> None:
    """HubSpot's documented v2 example: secret + POST + URI + body, hex SHA-256."""
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    body = b'{"example_field":"example_value"}'
    expected = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
    assert workflow.sign_v2(secret, "POST", "https://www.example.com/webhook_uri", body) == (
        expected
    )
    source = (secret + "POST" + "https://www.example.com/webhook_uri").encode() + body
    assert hashlib.sha256(source).hexdigest() == expected


def test_v2_signatures_are_accepted_only_when_the_tenant_opts_in() -> None:
    body = fixture("hubspot", "workflow_deal_custom.json")
    signed = request(body, v2_headers(body))
    with pytest.raises(SignatureError, match="missing"):
        workflow.verify(signed, secrets=[HUBSPOT_SECRET], now=NOW, options=options(DEAL))
    opted = options(DEAL, accept_signature_v2=True)
    workflow.verify(signed, secrets=[HUBSPOT_SECRET], now=NOW, options=opted)
    with pytest.raises(SignatureError):
        workflow.verify(
            request(body + b" ", v2_headers(body)), secrets=[HUBSPOT_SECRET], now=NOW, options=opted
        )
    stale_v3 = {**v2_headers(body), **hubspot_headers(body, URL, at_ms=NOW_MS - 600_000)}
    with pytest.raises(SignatureError, match="tolerance"):  # a v3 header is never bypassed
        workflow.verify(request(body, stale_v3), secrets=[HUBSPOT_SECRET], now=NOW, options=opted)


def test_an_api_key_in_a_header_or_the_query_string() -> None:
    body = fixture("hubspot", "workflow_deal_custom.json")
    in_header = options(DEAL, auth="api_key", api_key_name="X-Acme-Key")
    workflow.verify(
        request(body, {"X-Acme-Key": API_KEY}), secrets=["old", API_KEY], now=NOW, options=in_header
    )
    in_query = options(DEAL, auth="api_key", api_key_name="key", api_key_location="query")
    workflow.verify(
        request(body, {}, f"{URL}?key={API_KEY}"), secrets=[API_KEY], now=NOW, options=in_query
    )
    with pytest.raises(SignatureError, match="missing"):  # the header is not the query
        workflow.verify(
            request(body, {"key": API_KEY}), secrets=[API_KEY], now=NOW, options=in_query
        )


@pytest.mark.parametrize(
    ("headers", "secrets"),
    [
        pytest.param({}, [API_KEY], id="missing-key"),
        pytest.param({"X-Bookwire-Token": "wrong"}, [API_KEY], id="wrong-key"),
        pytest.param({"X-Bookwire-Token": ""}, [API_KEY], id="empty-key"),
        pytest.param({"X-Bookwire-Token": API_KEY}, [], id="no-secret-configured"),
        pytest.param({"X-Bookwire-Token": ""}, [""], id="empty-secret-never-skips"),
        pytest.param({"X-Bookwire-Token": API_KEY + "x"}, [API_KEY], id="longer-key"),
    ],
)
def test_anything_but_the_configured_api_key_is_refused(
    headers: dict[str, str], secrets: list[str]
) -> None:
    body = fixture("hubspot", "workflow_deal_custom.json")
    with pytest.raises(SignatureError):
        workflow.verify(
            request(body, headers), secrets=secrets, now=NOW, options=options(DEAL, auth="api_key")
        )


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b, h: (b + b" ", h), id="tampered-body"),
        pytest.param(lambda b, h: (b, {}), id="missing-headers"),
        pytest.param(
            lambda b, h: (b, {**h, "X-HubSpot-Request-Timestamp": str(NOW_MS - 301_000)}),
            id="stale-timestamp",
        ),
        pytest.param(lambda b, h: (b, {**h, "X-HubSpot-Signature-v3": "AAAA"}), id="wrong-sig"),
    ],
)
def test_signature_mode_refuses_anything_but_the_signed_request(mutate) -> None:  # type: ignore[no-untyped-def]
    body = fixture("hubspot", "workflow_deal_custom.json")
    sent, headers = mutate(body, hubspot_headers(body, URL, at_ms=NOW_MS))
    with pytest.raises(SignatureError):
        workflow.verify(
            request(sent, headers), secrets=[HUBSPOT_SECRET], now=NOW, options=options(DEAL)
        )


# --- reading the body -----------------------------------------------------------------------


def test_a_custom_deal_body_is_a_booking() -> None:
    [booking] = parse("workflow_deal_custom.json", DEAL)
    assert booking.booking_id == "1001" and booking.status is BookingStatus.confirmed
    assert booking.title == "Summer Launch Party"
    assert booking.start == datetime(2026, 7, 15, 22, 0, tzinfo=UTC)  # 18:00 in New York
    assert booking.end == datetime(2026, 7, 16, 2, 0, tzinfo=UTC)  # + 240 minutes
    assert booking.timezone == "America/New_York"
    assert booking.location == "Convention Center, New York"
    assert booking.customer == Person(name="Zoë Ångström", email="zoe@example.com")
    assert booking.updated_at == datetime(2026, 6, 16, 6, 0, tzinfo=UTC)


def test_the_legacy_all_properties_deal_body_reads_value_objects() -> None:
    [booking] = parse("workflow_deal_all_properties.json", DEAL)
    assert booking.booking_id == "1002" and booking.title == "Berlin Product Webinar"
    assert (booking.start, booking.end) == (
        datetime(2026, 8, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 8, 1, 11, 0, tzinfo=UTC),
    )
    assert booking.location is None and booking.meeting_url == "https://meet.example.com/launch"
    assert booking.customer == Person(name="Berlin Product Webinar")  # no person in the body
    assert booking.updated_at == datetime.fromtimestamp(1781589600, tz=UTC)


def test_a_meeting_uses_hubspots_meeting_properties_by_default() -> None:
    [booking] = parse("workflow_meeting_custom.json", MEETING)
    assert booking.booking_id == "51234" and booking.title == "Photo booth consultation"
    assert booking.start == datetime(2026, 7, 20, 14, 0, tzinfo=UTC)
    assert booking.end == datetime(2026, 7, 20, 15, 0, tzinfo=UTC)
    assert booking.timezone == "Europe/Paris"
    assert booking.meeting_url == "https://meet.example.com/consult-51234"
    assert booking.location is None
    assert booking.customer == Person(name="Łukasz Nowak", email="lukasz@example.pl")
    [cancelled] = parse("workflow_meeting_canceled.json", MEETING)
    assert cancelled.status is BookingStatus.cancelled and cancelled.booking_id == "51234"
    assert cancelled.updated_at > booking.updated_at


def test_a_contact_body_names_the_customer_by_default() -> None:
    [booking] = parse("workflow_contact_all_properties.json", CONTACT)
    assert booking.booking_id == "201"
    assert booking.customer == Person(name="Zoë Ångström", email="zoe@example.com")
    assert booking.start == datetime.fromtimestamp(1784138400, tz=UTC)
    assert booking.end == booking.start + timedelta(minutes=90)
    assert booking.title == "Zoë Ångström"  # a contact has no title: its name is one


def test_a_deal_moved_to_closed_lost_is_cancelled() -> None:
    body = json.loads(fixture("hubspot", "workflow_deal_custom.json"))
    lost = json.dumps({**body, "dealstage": "closedlost"}).encode()
    context = ParseContext("acme", "hubspot-workflow", options(DEAL), now=NOW)
    [message] = workflow.parse(request(lost, {}), context=context)
    assert message.status is BookingStatus.cancelled and message.booking_id == "1001"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(fixture("hubspot", "stage_booked.json"), "(body)", id="webhooks-api-array"),
        pytest.param(b'"text"', "(body)", id="not-an-object"),
        pytest.param(b"{", None, id="malformed-json"),
        pytest.param(b'{"dealname": "x"}', "properties.hs_object_id", id="no-record-id"),
        pytest.param(b'{"hs_object_id": "9"}', "properties.event_start", id="no-start"),
        pytest.param(
            b'{"hs_object_id": "9", "event_start": "soon", "event_duration": "60"}',
            "properties.event_start",
            id="bad-start",
        ),
        pytest.param(
            b'{"hs_object_id": "9", "event_start": "2026-07-01T10:00:00", '
            b'"event_duration": "a while"}',
            "properties.event_duration",
            id="bad-duration",
        ),
        pytest.param(
            b'{"hs_object_id": "9", "event_start": "2026-07-01T10:00:00", '
            b'"event_end": "2026-07-01T09:00:00"}',
            "end",
            id="ends-before-start",
        ),
        pytest.param(
            b'{"hs_object_id": "9", "event_start": "2026-07-01T10:00:00", '
            b'"event_duration": "60", "event_timezone": "Mars/Olympus"}',
            "properties.event_timezone",
            id="unknown-zone",
        ),
    ],
)
def test_unusable_bodies_name_the_field(body: bytes, field: str | None) -> None:
    context = ParseContext("acme", "hubspot-workflow", options(DEAL), now=NOW)
    with pytest.raises(PayloadError) as caught:
        workflow.parse(request(body, {}), context=context)
    if field is not None:
        assert caught.value.field == field
    assert "Zoë" not in str(caught.value)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "hs_object_id",
                "event_start",
                "event_end",
                "event_duration",
                "event_timezone",
                "contact_email",
                "contact_name",
                "event_venue",
                "dealstage",
                "hs_lastmodifieddate",
                "properties",
            ]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=30)
        | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        max_size=11,
    )
)
def test_any_body_parses_or_names_what_is_wrong(body: dict[str, Any]) -> None:
    context = ParseContext("acme", "hubspot-workflow", options(DEAL), now=NOW)
    try:
        messages = workflow.parse(request(json.dumps(body).encode(), {}), context=context)
    except PayloadError as exc:
        assert exc.field
    else:
        assert len(messages) == 1


def test_retries_repeat_the_delivery_key_and_changes_do_not() -> None:
    body = fixture("hubspot", "workflow_deal_custom.json")
    first = workflow.delivery_id(request(body, hubspot_headers(body, URL, at_ms=NOW_MS)))
    retry = workflow.delivery_id(request(body, hubspot_headers(body, URL, at_ms=NOW_MS + 60_000)))
    assert first and first == retry  # the body has hs_lastmodifieddate: a retry is a duplicate
    bare = json.loads(body)
    del bare["hs_lastmodifieddate"]
    again = json.dumps(bare).encode()
    once = workflow.delivery_id(request(again, hubspot_headers(again, URL, at_ms=NOW_MS)))
    later = workflow.delivery_id(request(again, hubspot_headers(again, URL, at_ms=NOW_MS + 1)))
    assert once != later  # without a modification time, A → B → A must not look repeated


# --- options --------------------------------------------------------------------------------


def test_options_fill_in_defaults_per_object_and_refuse_incomplete_setups() -> None:
    meeting = options(MEETING)
    assert (meeting.start_property, meeting.end_property) == (
        "hs_meeting_start_time",
        "hs_meeting_end_time",
    )
    assert meeting.cancelled_values == ["CANCELED"]
    assert options(DEAL).title_property == "dealname"
    assert options(DEAL, cancelled_values=[]).cancelled_values == []  # explicit wins
    for broken in (
        {"object_type": "deal", "timezone": "UTC", "default_duration_minutes": 60},  # no start
        {"object_type": "meeting"},  # no zone
        {**CONTACT, "duration_property": None},  # no end
        {**MEETING, "timezone": "Mars/Olympus"},
        {**MEETING, "auth": "basic"},
        {**MEETING, "api_key_name": "bad name"},
        {**MEETING, "surprise": True},
    ):
        with pytest.raises(ValidationError):
            HubSpotWorkflowOptions.model_validate(broken)


def test_the_tenants_file_is_checked_when_it_loads(tmp_path: Path) -> None:
    """A workflow source is configured under its own slug; an incomplete setup is refused at
    load with the path of what is wrong (here: a deal without a start, an unknown option)."""
    path = tmp_path / "tenants.toml"
    path.write_text(
        """
[tenants.acme.platform]
kind = "gomry"
base_url = "http://127.0.0.1:1/api/v1"

[tenants.acme.sources.hubspot-workflow]
secrets = [{ env = "WF_SECRET" }]
options = { object_type = "deal", timezone = "UTC", default_duration_minutes = 60, colour = 1 }
""",
        encoding="utf-8",
    )
    tenants = load_tenants(path, environ={"WF_SECRET": "s3cr3t-value"})
    with pytest.raises(SettingsError) as info:
        tenants_check.check_tenants(tenants)
    fields = {problem.field for problem in info.value.problems}
    assert "tenants.acme.sources.hubspot-workflow.options.colour" in fields
    assert "s3cr3t-value" not in str(info.value)
    fixed = path.read_text("utf-8").replace("colour = 1", 'start_property = "event_start"')
    path.write_text(fixed, encoding="utf-8")
    tenants_check.check_tenants(load_tenants(path, environ={"WF_SECRET": "s3cr3t-value"}))
