"""Square: x-square-hmacsha256-signature over notification URL + body, keys, ingress check."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from integrations.square import webhook
from integrations.square.schemas import SquareOptions
from tests.vendor_support import SQUARE_KEY, SQUARE_OLD_KEY, SQUARE_URL, fixture, square_headers

NOW = datetime(2026, 6, 16, 6, 0, tzinfo=UTC)
OPTIONS = SquareOptions(notification_url=SQUARE_URL)
CONTEXT = ParseContext("acme", "square", OPTIONS)
BEHIND_PROXY = "http://10.0.0.7:8000/webhooks/square/acme"  # where the request actually landed


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", BEHIND_PROXY, headers or {}, body)


def test_the_signature_covers_the_registered_url_then_the_body() -> None:
    body = fixture("square", "booking_created.json")
    digest = hmac.new(SQUARE_KEY.encode(), SQUARE_URL.encode() + body, hashlib.sha256).digest()
    headers = {"x-square-hmacsha256-signature": base64.b64encode(digest).decode()}
    webhook.verify(request(body, headers), secrets=[SQUARE_KEY], now=NOW, options=OPTIONS)


def test_the_registered_url_not_the_one_the_request_reached_is_signed() -> None:
    body = fixture("square", "booking_created.json")
    with pytest.raises(SignatureError):  # without the option, the proxied URL is tried
        webhook.verify(request(body, square_headers(body)), secrets=[SQUARE_KEY], now=NOW)
    other = SquareOptions(notification_url=SQUARE_URL + "/")
    with pytest.raises(SignatureError):  # a trailing slash is a different URL
        webhook.verify(
            request(body, square_headers(body)), secrets=[SQUARE_KEY], now=NOW, options=other
        )


def test_rotation_accepts_any_listed_signature_key() -> None:
    body = fixture("square", "booking_created.json")
    old = request(body, square_headers(body, secret=SQUARE_OLD_KEY))
    webhook.verify(old, secrets=[SQUARE_KEY, SQUARE_OLD_KEY], now=NOW, options=OPTIONS)
    with pytest.raises(SignatureError):
        webhook.verify(old, secrets=[SQUARE_KEY], now=NOW, options=OPTIONS)


@pytest.mark.parametrize(
    ("extra", "headers"),
    [
        pytest.param(b"", {"x-square-hmacsha256-signature": "AAAA"}, id="wrong-signature"),
        pytest.param(b" ", None, id="tampered-body"),
        pytest.param(b"", {}, id="missing-header"),
        pytest.param(b"", {"x-square-signature": "legacy-sha1-only"}, id="legacy-header-only"),
        pytest.param(b"", {"x-square-hmacsha256-signature": "***"}, id="malformed"),
    ],
)
def test_anything_but_the_signed_body_is_refused(
    extra: bytes, headers: dict[str, str] | None
) -> None:
    body = fixture("square", "booking_created.json")
    sent = square_headers(body) if headers is None else headers
    with pytest.raises(SignatureError):
        webhook.verify(request(body + extra, sent), secrets=[SQUARE_KEY], now=NOW, options=OPTIONS)


def test_a_wrong_key_and_no_key_are_refused() -> None:
    body = fixture("square", "booking_created.json")
    with pytest.raises(SignatureError, match="no matching"):
        webhook.verify(
            request(body, square_headers(body)), secrets=["other"], now=NOW, options=OPTIONS
        )
    with pytest.raises(SignatureError, match="no signature key"):
        webhook.verify(request(body, square_headers(body)), secrets=[], now=NOW, options=OPTIONS)


@given(
    body=st.binary(max_size=2048), key=st.text(min_size=1, max_size=64), flip=st.integers(0, 2047)
)
def test_any_signed_body_verifies_and_any_changed_byte_does_not(
    body: bytes, key: str, flip: int
) -> None:
    headers = square_headers(body, secret=key)
    webhook.verify(request(body, headers), secrets=[key], now=NOW, options=OPTIONS)
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 0x04]) + body[i + 1 :]
        with pytest.raises(SignatureError):
            webhook.verify(request(changed, headers), secrets=[key], now=NOW, options=OPTIONS)


def test_the_event_id_is_the_delivery_key() -> None:
    body = fixture("square", "booking_created.json")
    assert webhook.delivery_id(request(body)) == "4b8c1b1e-5c4a-4f3b-9a55-0f6b7c5d0a11"
    assert webhook.delivery_id(request(fixture("square", "malformed.json"))) is None


@pytest.mark.parametrize(
    ("name", "relevant"),
    [
        ("booking_created.json", True),
        ("booking_rescheduled.json", True),
        ("booking_cancelled.json", True),
        ("booking_accepted_multi.json", True),
        ("booking_pending.json", False),  # not confirmed: wait for the ACCEPTED update
        ("payment_created.json", False),
    ],
)
def test_the_ingress_queues_booking_events_that_are_not_pending(name: str, relevant: bool) -> None:
    assert webhook.check(request(fixture("square", name)), context=CONTEXT) is relevant


@pytest.mark.parametrize(
    ("name", "field"),
    [("malformed.json", None), ("missing_booking.json", "data.object.booking.id")],
)
def test_unusable_booking_events_are_quarantined(name: str, field: str | None) -> None:
    with pytest.raises(PayloadError) as caught:
        webhook.check(request(fixture("square", name)), context=CONTEXT)
    assert caught.value.field == field
