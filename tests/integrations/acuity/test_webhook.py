"""Acuity: X-Acuity-Signature over the raw form body, delivery keys, the ingress shape check."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.acuity import webhook
from integrations.acuity.schemas import AcuityOptions
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from tests.vendor_support import ACUITY_KEY, ACUITY_OLD_KEY, acuity_headers, fixture

NOW = datetime(2026, 6, 16, 6, 0, tzinfo=UTC)
CONTEXT = ParseContext("acme", "acuity", AcuityOptions())


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        "POST", "https://hooks.acme.example/webhooks/acuity/acme", headers or {}, body
    )


def test_the_signature_is_base64_hmac_sha256_of_the_body_keyed_with_the_api_key() -> None:
    body = fixture("acuity", "scheduled.form")
    expected = base64.b64encode(
        hmac.new(ACUITY_KEY.encode(), body, hashlib.sha256).digest()
    ).decode()
    webhook.verify(request(body, {"x-acuity-signature": expected}), secrets=[ACUITY_KEY], now=NOW)


def test_rotation_accepts_any_listed_api_key() -> None:
    body = fixture("acuity", "scheduled.form")
    old = request(body, acuity_headers(body, secret=ACUITY_OLD_KEY))
    webhook.verify(old, secrets=[ACUITY_KEY, ACUITY_OLD_KEY], now=NOW)
    with pytest.raises(SignatureError):
        webhook.verify(old, secrets=[ACUITY_KEY], now=NOW)


@pytest.mark.parametrize(
    ("body_change", "headers"),
    [
        pytest.param(b"", {"x-acuity-signature": "AAAA"}, id="wrong-signature"),
        pytest.param(b"&id=5002", None, id="tampered-body"),
        pytest.param(b"", {}, id="missing-header"),
        pytest.param(b"", {"x-acuity-signature": "not base64!"}, id="malformed-header"),
    ],
)
def test_anything_but_the_signed_body_is_refused(
    body_change: bytes, headers: dict[str, str] | None
) -> None:
    body = fixture("acuity", "scheduled.form")
    sent = acuity_headers(body) if headers is None else headers
    with pytest.raises(SignatureError):
        webhook.verify(request(body + body_change, sent), secrets=[ACUITY_KEY], now=NOW)


def test_a_wrong_key_and_no_key_are_refused() -> None:
    body = fixture("acuity", "scheduled.form")
    with pytest.raises(SignatureError, match="no matching"):
        webhook.verify(request(body, acuity_headers(body)), secrets=["other-key"], now=NOW)
    with pytest.raises(SignatureError, match="no API key"):
        webhook.verify(request(body, acuity_headers(body)), secrets=[], now=NOW)


@given(
    body=st.binary(max_size=2048), key=st.text(min_size=1, max_size=64), flip=st.integers(0, 2047)
)
def test_any_signed_body_verifies_and_any_changed_byte_does_not(
    body: bytes, key: str, flip: int
) -> None:
    headers = acuity_headers(body, secret=key)
    webhook.verify(request(body, headers), secrets=[key], now=NOW)
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 0x80]) + body[i + 1 :]
        with pytest.raises(SignatureError):
            webhook.verify(request(changed, headers), secrets=[key], now=NOW)


def test_two_identical_bodies_are_two_deliveries() -> None:
    """Two reschedules of one appointment send byte-identical bodies; a body hash would
    swallow the second as a duplicate."""
    body = fixture("acuity", "rescheduled.form")
    assert webhook.delivery_id(request(body)) != webhook.delivery_id(request(body))


@pytest.mark.parametrize(
    ("name", "relevant"),
    [
        ("scheduled.form", True),
        ("rescheduled.form", True),
        ("canceled.form", True),
        ("changed.form", True),
        ("static_scheduled.form", True),
        ("order_completed.form", False),
    ],
)
def test_appointment_actions_are_queued_and_orders_ignored(name: str, relevant: bool) -> None:
    assert webhook.check(request(fixture("acuity", name)), context=CONTEXT) is relevant


@pytest.mark.parametrize(("name", "field"), [("missing_id.form", "id"), ("bad_id.form", "id")])
def test_a_notification_without_a_usable_id_is_quarantined(name: str, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        webhook.check(request(fixture("acuity", name)), context=CONTEXT)
    assert caught.value.field == field


def test_a_body_that_is_not_utf8_is_quarantined() -> None:
    with pytest.raises(PayloadError, match="UTF-8"):
        webhook.check(request(b"action=\xff&id=1"), context=CONTEXT)
