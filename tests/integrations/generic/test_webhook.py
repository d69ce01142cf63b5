"""The generic connector: Standard Webhooks verification and parsing, on exact bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.booking import BookingStatus
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from integrations.generic import webhook
from tests.support import FIXTURES, OLD_SECRET, WEBHOOK_SECRET, signed

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CONTEXT = ParseContext(tenant="acme", source="generic")


def request(body: bytes, headers: dict[str, str]) -> WebhookRequest:
    return WebhookRequest("POST", "http://x/webhooks/generic/acme", headers, body)


def fixture(name: str) -> bytes:
    return (FIXTURES / "generic" / name).read_bytes()


def test_a_correctly_signed_delivery_verifies() -> None:
    body, headers = signed(fixture("confirmed.json"), at=NOW)
    webhook.verify(request(body, headers), secrets=[WEBHOOK_SECRET], now=NOW)


def test_rotation_accepts_any_active_secret() -> None:
    body, headers = signed(fixture("confirmed.json"), secret=OLD_SECRET, at=NOW)
    webhook.verify(request(body, headers), secrets=[WEBHOOK_SECRET, OLD_SECRET], now=NOW)
    with pytest.raises(SignatureError):
        webhook.verify(request(body, headers), secrets=[WEBHOOK_SECRET], now=NOW)


def test_one_of_several_signatures_may_match() -> None:
    body, headers = signed(fixture("confirmed.json"), at=NOW)
    headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
    webhook.verify(request(body, headers), secrets=[WEBHOOK_SECRET], now=NOW)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b, h: (b, {**h, "webhook-signature": "v1,AAAA"}), id="wrong-sig"),
        pytest.param(lambda b, h: (b + b" ", h), id="tampered-body"),
        pytest.param(
            lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-id"}), id="missing-id"
        ),
        pytest.param(
            lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-signature"}),
            id="missing-signature",
        ),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": "other"}), id="other-id"),
        pytest.param(lambda b, h: (b, {**h, "webhook-timestamp": "yesterday"}), id="bad-time"),
        pytest.param(lambda b, h: (b, {**h, "webhook-signature": "v2,abc"}), id="wrong-version"),
    ],
)
def test_anything_but_the_exact_signed_request_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    body, headers = signed(fixture("confirmed.json"), at=NOW)
    body, headers = mutate(body, headers)
    with pytest.raises(SignatureError):
        webhook.verify(request(body, headers), secrets=[WEBHOOK_SECRET], now=NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_timestamps_outside_five_minutes_are_refused(skew: timedelta) -> None:
    body, headers = signed(fixture("confirmed.json"), at=NOW + skew)
    with pytest.raises(SignatureError, match="tolerance"):
        webhook.verify(request(body, headers), secrets=[WEBHOOK_SECRET], now=NOW)


def test_no_secret_never_means_skip() -> None:
    body, headers = signed(fixture("confirmed.json"), at=NOW)
    with pytest.raises(SignatureError):
        webhook.verify(request(body, headers), secrets=[], now=NOW)


@given(
    body=st.binary(min_size=1, max_size=300).filter(lambda b: _utf8(b)),
    msg_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    flip=st.integers(min_value=0),
)
def test_signatures_verify_and_any_flipped_byte_fails(body: bytes, msg_id: str, flip: int) -> None:
    raw, headers = signed(body, msg_id=msg_id, at=NOW)
    webhook.verify(request(raw, headers), secrets=[WEBHOOK_SECRET], now=NOW)
    index = flip % len(raw)
    tampered = raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]
    with pytest.raises(SignatureError):
        webhook.verify(request(tampered, headers), secrets=[WEBHOOK_SECRET], now=NOW)


@given(st.text(max_size=200))
def test_garbage_signature_headers_never_crash(header: str) -> None:
    body, headers = signed(b"{}", at=NOW)
    headers["webhook-signature"] = header
    with pytest.raises(SignatureError):
        webhook.verify(request(body, headers), secrets=[WEBHOOK_SECRET], now=NOW)


def test_check_secret_names_the_expected_format() -> None:
    assert webhook.check_secret(WEBHOOK_SECRET) is None
    assert "whsec_" in (webhook.check_secret("not base64 !!") or "")


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_parse_confirmed_keeps_instants_zone_and_people() -> None:
    [message] = webhook.parse(request(fixture("confirmed.json"), {}), context=CONTEXT)
    assert message.key == "acme:generic:gen-1001"
    assert message.status is BookingStatus.confirmed
    assert message.start == datetime(2026, 7, 15, 22, 0, tzinfo=UTC)
    assert message.end == datetime(2026, 7, 16, 2, 0, tzinfo=UTC)
    assert message.timezone == "America/New_York"
    assert message.customer is not None and message.customer.email == "ada@example.com"
    assert [a.name for a in message.attendees] == ["Charles Babbage"]


def test_parse_virtual_booking_east_of_utc_with_non_ascii_names() -> None:
    [message] = webhook.parse(request(fixture("virtual_kathmandu.json"), {}), context=CONTEXT)
    assert message.meeting_url == "https://meet.example.com/abc-defg"
    assert message.start == datetime(2026, 3, 29, 4, 15, tzinfo=UTC)
    assert message.title == "Déjà vu — 写真ブース"


def test_a_cancellation_needs_no_event_details() -> None:
    [message] = webhook.parse(request(fixture("cancelled.json"), {}), context=CONTEXT)
    assert message.status is BookingStatus.cancelled and message.start is None


def test_missing_field_is_named() -> None:
    with pytest.raises(PayloadError) as info:
        webhook.parse(request(fixture("missing_end.json"), {}), context=CONTEXT)
    assert "end is required" in str(info.value)


def test_malformed_json_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        webhook.parse(request(fixture("malformed.json"), {}), context=CONTEXT)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"start": "2026-07-15T18:00:00"}, "start"),
        ({"status": "maybe"}, "status"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_fields_are_named(change: dict[str, object], field: str) -> None:
    import json

    body = json.loads(fixture("confirmed.json")) | change
    with pytest.raises(PayloadError) as info:
        webhook.parse(request(json.dumps(body).encode(), {}), context=CONTEXT)
    assert info.value.field == field or field in str(info.value)


def test_base64_secret_without_prefix_is_accepted() -> None:
    raw_secret = base64.b64encode(b"k" * 24).decode()
    body, headers = signed(b"{}", secret=raw_secret, at=NOW)
    webhook.verify(request(body, headers), secrets=[raw_secret], now=NOW)
