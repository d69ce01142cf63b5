"""Cal.com webhooks: X-Cal-Signature-256 on exact bytes, unsigned opt-out, bookings."""

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
from integrations.calcom import webhook
from integrations.calcom.schemas import Options
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from tests.integrations.mutations import JSON, replaced
from tests.support import FIXTURES

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
SECRET = "cal-webhook-secret-2026"
OLD_SECRET = "cal-webhook-secret-2025"
CONTEXT = ParseContext(tenant="acme", source="calcom", options=Options())
STRICT = Options()
LENIENT = Options(allow_unsigned=True)


def fixture(name: str) -> bytes:
    return (FIXTURES / "calcom" / name).read_bytes()


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", "https://hooks.example/webhooks/calcom/acme", headers or {}, body)


def signed(body: bytes, secret: str = SECRET) -> WebhookRequest:
    return request(body, {webhook.HEADER: webhook.sign(secret, body)})


def verify(delivery: WebhookRequest, secrets: list[str], options: Options = STRICT) -> None:
    webhook.verify(delivery, secrets=secrets, now=NOW, options=options)


def parse(body: bytes, context: ParseContext = CONTEXT) -> list[Any]:
    return webhook.parse(request(body), context=context)


def edited(name: str, change: Any) -> bytes:
    body = json.loads(fixture(name))
    change(body)
    return json.dumps(body, ensure_ascii=False).encode()


# --- verification -------------------------------------------------------------------------


def test_a_signed_delivery_verifies_and_rotation_accepts_old_secrets() -> None:
    verify(signed(fixture("booking_created.json")), [SECRET])
    verify(signed(fixture("booking_created.json"), OLD_SECRET), [SECRET, OLD_SECRET])
    with pytest.raises(SignatureError, match="no matching"):
        verify(signed(fixture("booking_created.json"), OLD_SECRET), [SECRET])


def test_uppercase_hex_is_the_same_signature() -> None:
    body = fixture("booking_created.json")
    verify(request(body, {webhook.HEADER: webhook.sign(SECRET, body).upper()}), [SECRET])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({webhook.HEADER: "no-secret-provided"}, id="cal-unsigned-literal"),
        pytest.param({webhook.HEADER: "   "}, id="blank"),
    ],
)
def test_unsigned_deliveries_are_refused_unless_the_tenant_opts_out(
    headers: dict[str, str],
) -> None:
    delivery = request(fixture("booking_created.json"), headers)
    with pytest.raises(SignatureError, match="unsigned"):
        verify(delivery, [SECRET])
    verify(delivery, [SECRET], LENIENT)
    verify(delivery, [], LENIENT)


def test_opting_out_never_accepts_a_wrong_signature() -> None:
    body = fixture("booking_created.json")
    with pytest.raises(SignatureError):
        verify(request(body, {webhook.HEADER: webhook.sign("intruder", body)}), [SECRET], LENIENT)


def test_wrong_secret_tampered_body_and_garbage_are_refused() -> None:
    body = fixture("booking_created.json")
    with pytest.raises(SignatureError):
        verify(signed(body, "intruder"), [SECRET])
    with pytest.raises(SignatureError):
        verify(request(body + b" ", dict(signed(body).headers)), [SECRET])
    with pytest.raises(SignatureError, match="hex"):
        verify(request(body, {webhook.HEADER: "sha256=abc"}), [SECRET])


def test_no_secret_never_means_skip() -> None:
    with pytest.raises(SignatureError, match="no signing secret"):
        verify(signed(fixture("booking_created.json")), [])


@given(
    body=st.binary(max_size=400),
    flip=st.integers(min_value=0),
    secret=st.text(min_size=1, max_size=40),
)
def test_any_body_verifies_and_any_flipped_byte_fails(body: bytes, flip: int, secret: str) -> None:
    verify(signed(body, secret), [secret])
    if body:
        index = flip % len(body)
        tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(SignatureError):
            verify(request(tampered, dict(signed(body, secret).headers)), [secret])


@given(st.text(max_size=200))
def test_garbage_signatures_are_refused_never_crash(header: str) -> None:
    if header.strip() in ("", webhook.UNSIGNED):
        return
    with pytest.raises(SignatureError):
        verify(request(b"{}", {webhook.HEADER: header}), [SECRET])


# --- parsing ------------------------------------------------------------------------------


def test_created_booking_with_an_address_and_a_guest() -> None:
    [message] = parse(fixture("booking_created.json"))
    assert message.key == "acme:calcom:bK7pQ2xV9mN4rT6yW1zA3c"
    assert message.status is BookingStatus.confirmed
    assert message.title == "Photo Booth Evening"
    assert message.start == datetime(2026, 9, 12, 16, 0, tzinfo=UTC)
    assert message.end == datetime(2026, 9, 12, 21, 0, tzinfo=UTC)
    assert message.timezone == "Europe/Berlin"  # the organizer's, not the booker's
    assert message.location == "Kulturbrauerei, Schönhauser Allee 36, 10435 Berlin"
    assert message.meeting_url is None
    assert (message.customer.name, message.customer.email) == ("Zoë Ångström", "zoe@example.com")
    assert [(a.name, a.email) for a in message.attendees] == [("Lena Müller", "lena@example.com")]
    assert message.updated_at == datetime(2026, 6, 1, 10, 0, 0, 538000, tzinfo=UTC)


def test_an_app_location_is_never_an_address_the_video_link_is_used() -> None:
    [message] = parse(fixture("booking_created_video_kolkata.json"))
    assert message.location is None
    assert message.meeting_url == "https://app.cal.com/video/vD9eF2gH4jK6lM8nP0qR1s"
    assert message.customer.name == "प्रिया शर्मा"
    local = message.start.astimezone(ZoneInfo(message.timezone))
    assert (local.hour, local.minute, local.utcoffset()) == (10, 0, timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    ("location", "place", "link"),
    [
        ("integrations:zoom", None, None),
        ("integrations:google:meet", None, None),
        ("inPerson", None, None),
        ("+49 30 1234567", "Phone call: +49 30 1234567", None),
        ("https://meet.example.com/booth", None, "https://meet.example.com/booth"),
        ("http://insecure.example.com/room", None, None),
        ("Hotel Adlon, Unter den Linden 77", "Hotel Adlon, Unter den Linden 77", None),
    ],
)
def test_location_strings_split_into_place_and_link(location: str, place: Any, link: Any) -> None:
    [message] = parse(
        edited("booking_created.json", lambda b: b["payload"].update(location=location))
    )
    assert (message.location, message.meeting_url) == (place, link)


def test_reschedule_has_a_new_uid_that_replaces_the_old_one() -> None:
    [message] = parse(fixture("booking_rescheduled.json"))
    assert message.booking_id == "mX3nB8vC1zL5kJ7hG2fD4s"
    assert message.replaces == "bK7pQ2xV9mN4rT6yW1zA3c"
    assert message.status is BookingStatus.rescheduled
    assert message.start == datetime(2026, 9, 19, 15, 0, tzinfo=UTC)


def test_cancellation_cancels_and_the_old_half_of_a_reschedule_is_ignored() -> None:
    [message] = parse(fixture("booking_cancelled.json"))
    assert (message.booking_id, message.status) == (
        "mX3nB8vC1zL5kJ7hG2fD4s",
        BookingStatus.cancelled,
    )
    moved = edited("booking_cancelled.json", lambda b: b["payload"].update(rescheduled=True))
    assert parse(moved) == []


def test_a_cancellation_needs_only_the_uid() -> None:
    bare = edited(
        "booking_cancelled.json",
        lambda b: b["payload"].update(attendees=[{"name": ""}], organizer=None),
    )
    [message] = parse(bare)
    assert (message.status, message.customer, message.timezone) == (
        BookingStatus.cancelled,
        None,
        None,
    )


@pytest.mark.parametrize("name", ["booking_requested.json", "ping.json"])
def test_unconfirmed_and_test_deliveries_are_ignored(name: str) -> None:
    assert parse(fixture(name)) == []


def test_a_created_trigger_still_pending_confirmation_is_ignored() -> None:
    pending = edited("booking_created.json", lambda b: b["payload"].update(status="PENDING"))
    assert parse(pending) == []


def test_autumn_fall_back_keeps_true_instants() -> None:
    [message] = parse(fixture("booking_created_dst.json"))
    zone = ZoneInfo("Europe/London")
    assert message.end - message.start == timedelta(hours=3)
    assert message.start.astimezone(zone).strftime("%H:%M %Z") == "00:30 BST"
    assert message.end.astimezone(zone).strftime("%H:%M %Z") == "02:30 GMT"


def test_missing_optional_fields_still_make_a_booking() -> None:
    [message] = parse(fixture("booking_created_minimal.json"))
    assert message.timezone == "America/Chicago"  # no organizer: the booker's zone
    assert message.customer.name == "min@example.com"
    assert message.location is None and message.attendees == []


def test_tenant_zone_overrides_the_organizer() -> None:
    context = ParseContext(tenant="acme", source="calcom", options=Options(timezone="UTC"))
    [message] = parse(fixture("booking_created.json"), context)
    assert message.timezone == "UTC"


def test_malformed_json_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        parse(fixture("malformed.json"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.pop("createdAt"), "createdAt"),
        (lambda b: b["payload"].pop("uid"), "payload.uid"),
        (lambda b: b["payload"].update(attendees=[]), "payload.attendees"),
        (lambda b: b["payload"].update(startTime="next tuesday"), "payload.startTime"),
        (
            lambda b: (
                b["payload"]["organizer"].update(timeZone="Moon/Base"),
                b["payload"].update(attendees=[{"name": "X", "timeZone": "Nope"}]),
            ),
            "payload.organizer.timeZone",
        ),
        (lambda b: b.pop("payload"), "payload"),
    ],
)
def test_unusable_payloads_name_the_field(change: Any, field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(edited("booking_created.json", change))
    assert info.value.field == field


def test_cal_com_sends_no_delivery_id() -> None:
    assert webhook.delivery_id(signed(fixture("booking_created.json"))) is None


def test_options_are_validated() -> None:
    assert Options.model_validate({"allow_unsigned": True}).allow_unsigned
    for bad in (
        {"timezone": "Nowhere"},
        {"allow_unsigned": "perhaps"},
        {"api_base_url": "ftp://x"},
    ):
        with pytest.raises(ValidationError):
            Options.model_validate(bad)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(
        ["booking_created.json", "booking_rescheduled.json", "booking_cancelled.json"]
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
