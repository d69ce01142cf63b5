"""HubSpot signature v3 (with HubSpot's URI rules), delivery keys and the ingress shape check."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from integrations.hubspot import webhook
from integrations.hubspot.schemas import HubSpotOptions
from tests.vendor_support import (
    HUBSPOT_OLD_SECRET,
    HUBSPOT_OPTIONS,
    HUBSPOT_SECRET,
    fixture,
    hubspot_headers,
)

NOW = datetime(2026, 6, 16, 6, 0, 5, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
URL = "https://hooks.acme.example/webhooks/hubspot/acme"
CONTEXT = ParseContext("acme", "hubspot", HubSpotOptions.model_validate(HUBSPOT_OPTIONS))


def request(body: bytes, headers: dict[str, str], url: str = URL) -> WebhookRequest:
    return WebhookRequest("POST", url, headers, body)


def signed(name: str, **kwargs: object) -> WebhookRequest:
    body = fixture("hubspot", name)
    return request(body, hubspot_headers(body, URL, at_ms=NOW_MS, **kwargs))  # type: ignore[arg-type]


def test_a_correctly_signed_batch_verifies() -> None:
    webhook.verify(signed("stage_booked.json"), secrets=[HUBSPOT_SECRET], now=NOW)


def test_the_signature_is_hmac_of_method_uri_body_and_timestamp() -> None:
    body = fixture("hubspot", "stage_booked.json")
    source = b"POST" + URL.encode() + body + str(NOW_MS).encode()
    expected = base64.b64encode(hmac.new(HUBSPOT_SECRET.encode(), source, hashlib.sha256).digest())
    headers = {
        "x-hubspot-signature-v3": expected.decode(),
        "x-hubspot-request-timestamp": str(NOW_MS),
    }
    webhook.verify(request(body, headers), secrets=[HUBSPOT_SECRET], now=NOW)


def test_uri_is_signed_with_hubspots_listed_characters_decoded_and_no_others() -> None:
    """HubSpot decodes %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B (any case) before
    signing; %20, %2B and the rest stay encoded."""
    arrived = (
        "https://hooks.acme.example/webhooks/hubspot/acme"
        "?next=https%3A%2F%2Fx.example%2Fa%40b%3Fq%3D1&who=%21%24%27%28%29%2a%2C%3b&note=a%20b%2Bc"
    )
    as_signed = (
        "https://hooks.acme.example/webhooks/hubspot/acme"
        "?next=https://x.example/a@b?q%3D1&who=!$'()*,;&note=a%20b%2Bc"
    )
    body = fixture("hubspot", "stage_booked.json")
    source = b"POST" + as_signed.encode() + body + str(NOW_MS).encode()
    signature = base64.b64encode(hmac.new(HUBSPOT_SECRET.encode(), source, hashlib.sha256).digest())
    headers = {
        "x-hubspot-signature-v3": signature.decode(),
        "x-hubspot-request-timestamp": str(NOW_MS),
    }
    webhook.verify(request(body, headers, arrived), secrets=[HUBSPOT_SECRET], now=NOW)
    assert webhook.canonical_uri(arrived) == as_signed
    with pytest.raises(SignatureError):  # decoding everything (%20 → space) would not match
        webhook.verify(
            request(body, headers, arrived.replace("%20", " ")), secrets=[HUBSPOT_SECRET], now=NOW
        )


def test_rotation_accepts_any_listed_client_secret() -> None:
    old = signed("stage_booked.json", secret=HUBSPOT_OLD_SECRET)
    webhook.verify(old, secrets=[HUBSPOT_SECRET, HUBSPOT_OLD_SECRET], now=NOW)
    with pytest.raises(SignatureError):
        webhook.verify(old, secrets=[HUBSPOT_SECRET], now=NOW)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(
            lambda r: request(r.body, {**r.headers, "x-hubspot-signature-v3": "AAAA"}),
            id="wrong-sig",
        ),
        pytest.param(lambda r: request(r.body + b" ", r.headers), id="tampered-body"),
        pytest.param(lambda r: request(r.body, r.headers, URL + "?x=1"), id="other-url"),
        pytest.param(lambda r: WebhookRequest("PUT", r.url, r.headers, r.body), id="other-method"),
        pytest.param(
            lambda r: request(
                r.body, {k: v for k, v in r.headers.items() if k != "x-hubspot-signature-v3"}
            ),
            id="missing-signature",
        ),
        pytest.param(
            lambda r: request(
                r.body, {k: v for k, v in r.headers.items() if k != "x-hubspot-request-timestamp"}
            ),
            id="missing-timestamp",
        ),
        pytest.param(
            lambda r: request(
                r.body, {**r.headers, "x-hubspot-request-timestamp": str(NOW_MS + 1)}
            ),
            id="other-timestamp",
        ),
        pytest.param(
            lambda r: request(r.body, {**r.headers, "x-hubspot-request-timestamp": "soon"}),
            id="bad-timestamp",
        ),
        pytest.param(
            lambda r: request(r.body, {**r.headers, "x-hubspot-signature-v3": "%%%"}),
            id="not-base64",
        ),
    ],
)
def test_anything_but_the_exact_signed_request_is_refused(mutate) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureError):
        webhook.verify(mutate(signed("stage_booked.json")), secrets=[HUBSPOT_SECRET], now=NOW)


def test_the_wrong_client_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="no matching"):
        webhook.verify(signed("stage_booked.json"), secrets=["someone-else"], now=NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_timestamps_more_than_five_minutes_away_are_refused(skew: timedelta) -> None:
    body = fixture("hubspot", "stage_booked.json")
    at = int((NOW + skew).timestamp() * 1000)
    with pytest.raises(SignatureError, match="5-minute"):
        webhook.verify(
            request(body, hubspot_headers(body, URL, at_ms=at)), secrets=[HUBSPOT_SECRET], now=NOW
        )


def test_no_secret_never_means_skip() -> None:
    with pytest.raises(SignatureError, match="no client secret"):
        webhook.verify(signed("stage_booked.json"), secrets=[], now=NOW)


@given(
    body=st.binary(max_size=2048),
    secret=st.text(min_size=1, max_size=64),
    flip=st.integers(0, 2047),
)
def test_any_body_signed_verifies_and_any_changed_byte_does_not(
    body: bytes, secret: str, flip: int
) -> None:
    headers = hubspot_headers(body, URL, secret=secret, at_ms=NOW_MS)
    webhook.verify(request(body, headers), secrets=[secret], now=NOW)
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        with pytest.raises(SignatureError):
            webhook.verify(request(changed, headers), secrets=[secret], now=NOW)


RESERVED = ":/?@!$'()*,;"


@given(value=st.text(alphabet=RESERVED + "abc-_.~ %+=&", max_size=40))
def test_percent_encoding_the_listed_characters_does_not_change_the_signature(value: str) -> None:
    plain = f"{URL}?v={value}"
    encoded = f"{URL}?v=" + "".join(f"%{ord(c):02X}" if c in RESERVED else c for c in value)
    body = b"[]"
    headers = hubspot_headers(body, plain, at_ms=NOW_MS)
    webhook.verify(request(body, headers, encoded), secrets=[HUBSPOT_SECRET], now=NOW)


def test_retries_of_a_batch_share_one_delivery_key() -> None:
    events = json.loads(fixture("hubspot", "batch_unordered.json"))
    retry = [{**e, "attemptNumber": 3} for e in reversed(events)]
    first = webhook.delivery_id(request(json.dumps(events).encode(), {}))
    again = webhook.delivery_id(request(json.dumps(retry).encode(), {}))
    other = webhook.delivery_id(request(fixture("hubspot", "stage_booked.json"), {}))
    assert first and first == again and first != other
    assert webhook.delivery_id(request(fixture("hubspot", "malformed.json"), {})) is None


def test_a_reused_event_id_about_another_deal_is_a_new_delivery() -> None:
    """HubSpot does not guarantee ``eventId`` unique: ``event_id_reused.json`` repeats the id
    of ``stage_booked.json`` for another deal's stage change, which must not be dropped as a
    duplicate; a retry of either (new ``attemptNumber``) still is one."""
    booked = fixture("hubspot", "stage_booked.json")
    reused = fixture("hubspot", "event_id_reused.json")
    assert json.loads(booked)[0]["eventId"] == json.loads(reused)[0]["eventId"]
    first = webhook.delivery_id(request(booked, {}))
    second = webhook.delivery_id(request(reused, {}))
    assert first and second and first != second
    retry = [{**e, "attemptNumber": 1} for e in json.loads(reused)]
    assert webhook.delivery_id(request(json.dumps(retry).encode(), {})) == second


@pytest.mark.parametrize(
    ("name", "relevant"),
    [
        ("stage_booked.json", True),
        ("start_changed.json", True),
        ("batch_unordered.json", True),
        ("deal_deletion.json", True),
        ("object_property_change.json", True),
        ("unwatched_only.json", False),
    ],
)
def test_the_ingress_only_queues_batches_about_watched_deal_changes(
    name: str, relevant: bool
) -> None:
    assert webhook.check(request(fixture("hubspot", name), {}), context=CONTEXT) is relevant


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("malformed.json", None),
        ("not_array.json", "(body)"),
        ("missing_object_id.json", "0.objectId"),
    ],
)
def test_malformed_batches_are_quarantined_naming_the_field(name: str, field: str | None) -> None:
    with pytest.raises(PayloadError) as caught:
        webhook.check(request(fixture("hubspot", name), {}), context=CONTEXT)
    assert caught.value.field == field


def test_options_read_numeric_stage_ids_as_strings_and_refuse_incomplete_setups() -> None:
    options = HubSpotOptions.model_validate(HUBSPOT_OPTIONS)
    assert options.booked_stages["88231744"] == ["1029384756"]
    assert options.stage_status("88231744", "1029384756") == "booked"
    assert options.stage_status("default", "1029384756") is None  # stages belong to a pipeline
    broken = [
        {
            k: v
            for k, v in HUBSPOT_OPTIONS.items()
            if k not in ("end_property", "duration_property", "default_duration_minutes")
        },
        {k: v for k, v in HUBSPOT_OPTIONS.items() if k not in ("timezone_property", "timezone")},
        {**HUBSPOT_OPTIONS, "cancelled_stages": {"default": ["appointmentscheduled"]}},
        {**HUBSPOT_OPTIONS, "timezone": "Mars/Olympus"},
        {**HUBSPOT_OPTIONS, "unknown": 1},
    ]
    for raw in broken:
        with pytest.raises(ValueError):
            HubSpotOptions.model_validate(raw)


def test_a_move_into_a_stage_bookwire_does_not_act_on_needs_no_look_up() -> None:
    events = json.loads(fixture("hubspot", "stage_booked.json"))
    elsewhere = json.dumps([{**events[0], "propertyValue": "qualifiedtobuy"}]).encode()
    assert webhook.check(request(elsewhere, {}), context=CONTEXT) is False
    lost = json.dumps([{**events[0], "propertyValue": "closedlost"}]).encode()
    assert webhook.check(request(lost, {}), context=CONTEXT) is True
