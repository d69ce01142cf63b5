"""Calendly webhooks: signature verification on exact bytes, and invitees as bookings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from integrations.booking import BookingStatus
from integrations.calendly import webhook
from integrations.calendly.schemas import Options
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from tests.integrations.mutations import JSON, replaced
from tests.support import FIXTURES

NOW = datetime(2026, 6, 1, 10, 0, 5, tzinfo=UTC)
KEY = "calendly-signing-key-2026"
OLD_KEY = "calendly-signing-key-2025"
CONTEXT = ParseContext(tenant="acme", source="calendly", options=Options())
FIRST = "1f0a7a52-6d2b-4c1e-9b5e-2f7f3c1d9a10"
SECOND = "6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b"


def fixture(name: str) -> bytes:
    return (FIXTURES / "calendly" / name).read_bytes()


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        "POST", "https://hooks.example/webhooks/calendly/acme", headers or {}, body
    )


def signed(body: bytes, *, key: str = KEY, at: datetime = NOW) -> WebhookRequest:
    return request(body, {webhook.HEADER: webhook.sign(key, body, at)})


def parse(body: bytes, context: ParseContext = CONTEXT) -> list[Any]:
    return webhook.parse(request(body), context=context)


def edited(name: str, change: Any) -> bytes:
    body = json.loads(fixture(name))
    change(body["payload"])
    return json.dumps(body).encode()


# --- verification -------------------------------------------------------------------------


def test_a_delivery_signed_with_the_subscription_key_verifies() -> None:
    webhook.verify(signed(fixture("invitee_created.json")), secrets=[KEY], now=NOW)


def test_rotation_accepts_any_active_key_and_only_those() -> None:
    delivery = signed(fixture("invitee_created.json"), key=OLD_KEY)
    webhook.verify(delivery, secrets=[KEY, OLD_KEY], now=NOW)
    with pytest.raises(SignatureError, match="no matching signature"):
        webhook.verify(delivery, secrets=[KEY], now=NOW)


def test_one_of_several_v1_signatures_may_match() -> None:
    body = fixture("invitee_created.json")
    header = webhook.sign(KEY, body, NOW)
    delivery = request(body, {webhook.HEADER: header.replace(",v1=", ",v1=" + "0" * 64 + ",v1=")})
    webhook.verify(delivery, secrets=[KEY], now=NOW)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing-header"),
        pytest.param({webhook.HEADER: ""}, id="empty-header"),
        pytest.param({webhook.HEADER: "v1=" + "a" * 64}, id="no-timestamp"),
        pytest.param({webhook.HEADER: "t=1780308005"}, id="no-signature"),
        pytest.param({webhook.HEADER: "t=yesterday,v1=" + "a" * 64}, id="bad-timestamp"),
        pytest.param({webhook.HEADER: "t=1780308005,v1=xyz"}, id="not-hex"),
        pytest.param({webhook.HEADER: "t=1780308005,v0=" + "a" * 64}, id="wrong-scheme"),
    ],
)
def test_malformed_or_missing_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        webhook.verify(request(fixture("invitee_created.json"), headers), secrets=[KEY], now=NOW)


def test_wrong_key_and_tampered_body_are_refused() -> None:
    body = fixture("invitee_created.json")
    with pytest.raises(SignatureError):
        webhook.verify(signed(body, key="someone-else"), secrets=[KEY], now=NOW)
    tampered = signed(body)
    tampered = request(body.replace(b"Zo\xc3\xab", b"Zoe"), dict(tampered.headers))
    with pytest.raises(SignatureError):
        webhook.verify(tampered, secrets=[KEY], now=NOW)


@pytest.mark.parametrize(
    "skew", [timedelta(minutes=-3, seconds=-1), timedelta(minutes=3, seconds=1)]
)
def test_stamps_outside_three_minutes_are_refused(skew: timedelta) -> None:
    delivery = signed(fixture("invitee_created.json"), at=NOW + skew)
    with pytest.raises(SignatureError, match="tolerance"):
        webhook.verify(delivery, secrets=[KEY], now=NOW)


def test_stamps_inside_three_minutes_verify() -> None:
    delivery = signed(fixture("invitee_created.json"), at=NOW - timedelta(minutes=2, seconds=59))
    webhook.verify(delivery, secrets=[KEY], now=NOW)


def test_no_key_never_means_skip() -> None:
    with pytest.raises(SignatureError, match="no signing key"):
        webhook.verify(signed(fixture("invitee_created.json")), secrets=[], now=NOW)


@given(
    body=st.binary(max_size=400),
    flip=st.integers(min_value=0),
    key=st.text(min_size=1, max_size=40),
)
def test_any_body_verifies_and_any_flipped_byte_fails(body: bytes, flip: int, key: str) -> None:
    webhook.verify(signed(body, key=key), secrets=[key], now=NOW)
    if body:
        index = flip % len(body)
        tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(SignatureError):
            webhook.verify(
                request(tampered, dict(signed(body, key=key).headers)), secrets=[key], now=NOW
            )


@given(st.text(max_size=300))
def test_garbage_headers_are_refused_never_crash(header: str) -> None:
    with pytest.raises(SignatureError):
        webhook.verify(request(b"{}", {webhook.HEADER: header}), secrets=[KEY], now=NOW)


def test_calendly_sends_no_delivery_id() -> None:
    assert webhook.delivery_id(signed(fixture("invitee_created.json"))) is None


# --- parsing ------------------------------------------------------------------------------


def test_created_invitee_is_a_confirmed_booking_with_guests() -> None:
    [message] = parse(fixture("invitee_created.json"))
    assert message.key == f"acme:calendly:{FIRST}"
    assert message.status is BookingStatus.confirmed
    assert message.title == "Summer Launch Party"
    assert message.start == datetime(2026, 7, 15, 22, 0, tzinfo=UTC)
    assert message.end == datetime(2026, 7, 16, 2, 0, tzinfo=UTC)
    assert message.timezone == "America/New_York"
    assert message.location == "Convention Center, 655 W 34th St, New York"
    assert message.meeting_url is None
    assert message.customer.name == "Zoë Ångström" and message.customer.email == "zoe@example.com"
    assert [a.email for a in message.attendees] == ["charles@example.com", "ada@example.com"]
    assert message.updated_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert message.replaces is None


def test_virtual_event_east_of_utc_keeps_the_join_url_and_non_ascii_names() -> None:
    [message] = parse(fixture("invitee_created_virtual_kathmandu.json"))
    assert message.meeting_url == "https://meet.google.com/abc-defg-hij"
    assert message.location is None
    assert message.title == "Déjà vu — 写真ブース"
    assert message.customer.name == "Søren Kierkegaard"
    assert message.timezone == "Asia/Kathmandu"
    local = message.start.astimezone(ZoneInfo("Asia/Kathmandu"))
    assert (local.hour, local.minute, local.utcoffset()) == (10, 0, timedelta(hours=5, minutes=45))


def test_reschedule_created_half_replaces_the_old_invitee() -> None:
    [message] = parse(fixture("invitee_created_rescheduled.json"))
    assert message.booking_id == SECOND
    assert message.replaces == FIRST
    assert message.status is BookingStatus.rescheduled
    assert message.start == datetime(2026, 7, 17, 23, 0, tzinfo=UTC)


def test_reschedule_canceled_half_is_ignored_never_a_cancellation() -> None:
    assert parse(fixture("invitee_canceled_rescheduled.json")) == []


def test_a_real_cancellation_cancels() -> None:
    [message] = parse(fixture("invitee_canceled.json"))
    assert message.status is BookingStatus.cancelled
    assert message.booking_id == SECOND
    assert message.updated_at == datetime(2026, 6, 20, 15, 0, tzinfo=UTC)


def test_a_cancellation_needs_only_the_invitee_id() -> None:
    anonymous = edited(
        "invitee_canceled.json",
        lambda p: (p.update(name=None, email=None), p.pop("scheduled_event"), p.pop("timezone")),
    )
    [message] = parse(anonymous)
    assert (message.booking_id, message.status, message.customer) == (
        SECOND,
        BookingStatus.cancelled,
        None,
    )


def test_event_across_the_spring_forward_gap_keeps_true_instants() -> None:
    [message] = parse(fixture("invitee_created_dst.json"))
    assert message.end - message.start == timedelta(hours=3)
    zone = ZoneInfo("America/New_York")
    assert message.start.astimezone(zone).strftime("%H:%M %Z") == "00:00 EST"
    assert message.end.astimezone(zone).strftime("%H:%M %Z") == "04:00 EDT"


def test_missing_optional_fields_still_make_a_booking() -> None:
    [message] = parse(fixture("invitee_created_minimal.json"))
    assert message.customer.name == "min@example.com"
    assert message.location is None and message.meeting_url is None
    assert message.attendees == []
    assert message.updated_at == datetime(2026, 5, 5, 5, 5, tzinfo=UTC)
    assert message.timezone == "Europe/Berlin"


def test_tenant_zone_overrides_the_invitee_zone() -> None:
    context = ParseContext(
        tenant="acme", source="calendly", options=Options(timezone="Europe/Lisbon")
    )
    [message] = parse(fixture("invitee_created.json"), context)
    assert message.timezone == "Europe/Lisbon"


@pytest.mark.parametrize(
    ("location", "place", "link"),
    [
        (
            {"type": "outbound_call", "location": "+1 212 555 0100"},
            "Phone call: the host calls +1 212 555 0100",
            None,
        ),
        (
            {"type": "zoom", "join_url": "https://zoom.us/j/123", "status": "pushed"},
            None,
            "https://zoom.us/j/123",
        ),
        ({"type": "google_conference", "join_url": None, "status": "processing"}, None, None),
        (
            {"type": "custom", "location": "https://meet.example.com/x"},
            None,
            "https://meet.example.com/x",
        ),
        ({"type": "ask_invitee", "location": "Hotel Adlon, Berlin"}, "Hotel Adlon, Berlin", None),
    ],
)
def test_location_types_split_into_place_and_link(location: Any, place: Any, link: Any) -> None:
    body = edited("invitee_created.json", lambda p: p["scheduled_event"].update(location=location))
    [message] = parse(body)
    assert (message.location, message.meeting_url) == (place, link)


def test_other_event_types_are_ignored() -> None:
    assert parse(fixture("invitee_no_show.json")) == []


def test_malformed_json_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        parse(fixture("malformed.json"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p.pop("scheduled_event"), "payload.scheduled_event"),
        (lambda p: p.update(timezone="Mars/Olympus"), "payload.timezone"),
        (lambda p: p.pop("uri"), "payload.uri"),
        (lambda p: p.update(uri="https://api.calendly.com/invitees/<script>"), "payload.uri"),
        (
            lambda p: p["scheduled_event"].update(start_time="2026-07-15T22:00:00"),
            "payload.scheduled_event.start_time",
        ),
        (
            lambda p: p.update(name=None, email=None, first_name=None, last_name=None),
            "payload.name",
        ),
    ],
)
def test_unusable_payloads_name_the_field(change: Any, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(edited("invitee_created.json", change))
    assert info.value.field == field


def test_end_before_start_is_refused() -> None:
    body = edited(
        "invitee_created.json",
        lambda p: p["scheduled_event"].update(end_time="2026-07-15T21:00:00Z"),
    )
    with pytest.raises(PayloadError, match="end must be after start"):
        parse(body)


def test_options_are_validated() -> None:
    assert Options.model_validate({"organization": "https://api.calendly.com/organizations/ABC"})
    for bad in ({"timezone": "Nowhere/Else"}, {"organization": "ABC"}, {"surprise": 1}):
        with pytest.raises(ValidationError):
            Options.model_validate(bad)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(
        ["invitee_created.json", "invitee_canceled.json", "invitee_created_rescheduled.json"]
    ),
    pick=st.integers(min_value=0),
    value=JSON,
)
def test_any_field_set_to_any_json_parses_or_names_the_field(
    name: str, pick: int, value: Any
) -> None:
    body = replaced(json.loads(fixture(name)), pick, value)
    try:
        parse(json.dumps(body).encode())
    except PayloadError as exc:
        assert exc.field or exc.reason
