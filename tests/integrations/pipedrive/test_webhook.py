"""Pipedrive webhooks: Basic-auth verification, v1 and v2 deal changes as bookings."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.booking import BookingStatus
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from integrations.pipedrive import SOURCE, webhook
from tests.integrations.mutations import JSON, replaced
from tests.integrations.pipedrive.keys import DATE, options
from tests.support import FIXTURES

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
PAIR = "bookwire:s3cret-pässword"
OLD_PAIR = "bookwire:older-password"
CONTEXT = ParseContext(tenant="acme", source="pipedrive", options=options())


def fixture(name: str) -> bytes:
    return (FIXTURES / "pipedrive" / name).read_bytes()


def request(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest(
        "POST", "https://hooks.example/webhooks/pipedrive/acme", headers or {}, body
    )


def authed(body: bytes, pair: str = PAIR) -> WebhookRequest:
    return request(body, {"authorization": webhook.basic_auth(pair)})


def parse(body: bytes) -> list[Any]:
    return webhook.parse(request(body), context=CONTEXT)


def edited(name: str, change: Any) -> bytes:
    body = json.loads(fixture(name))
    change(body)
    return json.dumps(body).encode()


# --- verification -------------------------------------------------------------------------


def test_the_configured_basic_credentials_verify_and_rotation_works() -> None:
    webhook.verify(authed(fixture("v2_deal_won.json")), secrets=[PAIR], now=NOW)
    webhook.verify(authed(fixture("v2_deal_won.json"), OLD_PAIR), secrets=[PAIR, OLD_PAIR], now=NOW)
    with pytest.raises(SignatureError, match="wrong"):
        webhook.verify(authed(fixture("v2_deal_won.json"), OLD_PAIR), secrets=[PAIR], now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer abc", id="other-scheme"),
        pytest.param("Basic", id="no-credentials"),
        pytest.param("Basic !!!not-base64!!!", id="malformed"),
        pytest.param("Basic " + base64.b64encode(b"bookwire:wrong").decode(), id="wrong-password"),
        pytest.param(
            "Basic " + base64.b64encode(b"someone:s3cret-p\xc3\xa4ssword").decode(), id="wrong-user"
        ),
    ],
)
def test_anything_but_the_configured_pair_is_refused(header: str | None) -> None:
    headers = {"authorization": header} if header is not None else {}
    with pytest.raises(SignatureError):
        webhook.verify(request(fixture("v2_deal_won.json"), headers), secrets=[PAIR], now=NOW)


def test_no_credentials_configured_never_means_skip() -> None:
    with pytest.raises(SignatureError, match="no webhook credentials"):
        webhook.verify(authed(fixture("v2_deal_won.json")), secrets=[], now=NOW)


def test_scheme_is_case_insensitive() -> None:
    token = base64.b64encode(PAIR.encode()).decode()
    webhook.verify(request(b"{}", {"authorization": f"basic {token}"}), secrets=[PAIR], now=NOW)


@given(
    user=st.text(
        st.characters(codec="utf-8", exclude_characters=":"),
        min_size=1,
        max_size=20,
    ),
    password=st.text(st.characters(codec="utf-8"), min_size=1, max_size=30),
    other=st.text(st.characters(codec="utf-8"), min_size=1, max_size=30),
)
def test_any_pair_verifies_itself_and_no_other(user: str, password: str, other: str) -> None:
    pair = f"{user}:{password}"
    webhook.verify(authed(b"{}", pair), secrets=[pair], now=NOW)
    if other != password:
        with pytest.raises(SignatureError):
            webhook.verify(authed(b"{}", f"{user}:{other}"), secrets=[pair], now=NOW)


@given(st.text(max_size=200))
def test_garbage_authorization_headers_never_crash(header: str) -> None:
    try:
        webhook.verify(request(b"{}", {"authorization": header}), secrets=[PAIR], now=NOW)
    except SignatureError:
        return
    assert header.split(None, 1)[-1].strip() == base64.b64encode(PAIR.encode()).decode()


def test_secrets_must_be_user_colon_password() -> None:
    assert webhook.check_secret(PAIR) is None
    for bad in ("no-colon", ":password", "user:"):
        assert "user:password" in (webhook.check_secret(bad) or "")


def test_delivery_ids_come_from_the_event_id_or_the_v1_stamp() -> None:
    assert (
        webhook.delivery_id(request(fixture("v2_deal_won.json")))
        == "pipedrive:v2:c2f1e7a0-9b3d-4c8e-a5f6-1d2e3f4a5b6c"
    )
    assert (
        webhook.delivery_id(request(fixture("v1_deal_won.json")))
        == "pipedrive:v1:998877:5120:1772341200384700"
    )
    retried = edited("v2_deal_won.json", lambda b: b["meta"].update(attempt=2))
    assert webhook.delivery_id(request(retried)) == webhook.delivery_id(
        request(fixture("v2_deal_won.json"))
    )
    assert webhook.delivery_id(request(fixture("malformed.json"))) is None
    assert webhook.delivery_id(request(b'{"meta": {"entity": "deal", "id": "../../etc"}}')) is None


# --- parsing ------------------------------------------------------------------------------


def test_a_deal_won_in_webhooks_v2_is_a_confirmed_booking() -> None:
    [message] = parse(fixture("v2_deal_won.json"))
    assert message.key == "acme:pipedrive:4711"
    assert message.status is BookingStatus.confirmed
    assert message.title == "Jüri & Mari wedding"
    assert message.timezone == "Europe/Tallinn"
    assert message.start == datetime(2026, 8, 15, 15, 30, tzinfo=UTC)  # 18:30 EEST
    assert message.end == datetime(2026, 8, 15, 20, 30, tzinfo=UTC)
    assert message.location == "Mustamäe tee 3a, 10616 Tallinn, Estonia"
    assert message.customer.name == "Jüri & Mari wedding"  # no look-up configured: the title
    assert message.updated_at == datetime(2026, 6, 1, 10, 0, 0, 461000, tzinfo=UTC)


def test_editing_a_won_deal_moves_the_booking() -> None:
    [message] = parse(fixture("v2_deal_won_edit.json"))
    assert message.status is BookingStatus.confirmed
    assert message.start == datetime(2026, 8, 22, 14, 0, tzinfo=UTC)


def test_a_deal_won_in_webhooks_v1_east_of_utc() -> None:
    [message] = parse(fixture("v1_deal_won.json"))
    assert message.key == "acme:pipedrive:5120"
    assert message.customer.name == "Sita Sharma"
    local = message.start.astimezone(ZoneInfo("Asia/Kathmandu"))
    assert (local.hour, local.minute, local.utcoffset()) == (10, 0, timedelta(hours=5, minutes=45))
    assert message.end - message.start == timedelta(hours=4)  # duration field, in hours
    assert message.location == "Durbar Marg, Kathmandu 44600, Nepal"
    assert message.updated_at == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def test_a_start_in_the_spring_forward_gap_lands_after_it() -> None:
    [message] = parse(fixture("v2_deal_won_dst_gap.json"))
    assert message.timezone == "America/New_York"
    assert message.start == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert message.end == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)


def test_a_won_deal_lost_later_is_cancelled() -> None:
    [message] = parse(fixture("v2_deal_lost.json"))
    assert (message.booking_id, message.status) == ("4711", BookingStatus.cancelled)
    assert message.updated_at == datetime(2026, 6, 20, 12, 0, 0, 333000, tzinfo=UTC)


@pytest.mark.parametrize("name", ["v2_deal_deleted.json", "v2_deal_deleted_bare.json"])
def test_a_deleted_deal_is_cancelled_when_it_was_won_or_unknown(name: str) -> None:
    [message] = parse(fixture(name))
    assert (message.booking_id, message.status) == ("4711", BookingStatus.cancelled)


def test_deleting_a_deal_that_was_never_won_is_ignored() -> None:
    lost = edited("v2_deal_deleted.json", lambda b: b["previous"].update(status="lost"))
    assert parse(lost) == []
    assert webhook.check(request(lost), context=CONTEXT) is False


def test_a_v1_deletion_in_the_same_second_is_still_newer_than_the_won_state() -> None:
    [won] = parse(fixture("v1_deal_won.json"))
    [deleted] = parse(fixture("v1_deal_deleted.json"))
    assert deleted.status is BookingStatus.cancelled
    assert deleted.updated_at > won.updated_at


def test_reopening_a_won_deal_cancels_its_booking() -> None:
    reopened = edited("v2_deal_lost.json", lambda b: b["data"].update(status="open"))
    [message] = parse(reopened)
    assert message.status is BookingStatus.cancelled


@pytest.mark.parametrize("name", ["v2_deal_open_changed.json", "v2_person_changed.json"])
def test_open_deals_and_other_objects_are_ignored(name: str) -> None:
    assert parse(fixture(name)) == []
    assert webhook.check(request(fixture(name)), context=CONTEXT) is False


def test_the_ingress_check_accepts_what_the_worker_will_parse() -> None:
    assert webhook.check(request(fixture("v2_deal_won.json")), context=CONTEXT) is True
    assert SOURCE.deferred is True


def test_a_won_deal_without_its_event_date_is_refused_at_the_ingress() -> None:
    undated = edited("v2_deal_won.json", lambda b: b["data"]["custom_fields"].pop(DATE))
    with pytest.raises(PayloadError) as info:
        webhook.check(request(undated), context=CONTEXT)
    assert info.value.field == f"custom_fields.{DATE}"


V1_WON: dict[str, Any] = {
    "meta": {"action": "updated", "object": "deal"},
    "current": {"id": 1, "status": "won"},
}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {}}, "meta"),
        ({"meta": {"entity": "deal", "version": "2.0"}, "data": None}, "meta.action"),
        ({"meta": {"action": "change", "entity": "deal"}, "data": {"id": "x"}}, "data.id"),
        (V1_WON, "meta.timestamp"),
        (
            {**V1_WON, "current": {**V1_WON["current"], "update_time": "2026-06-01 10:00:00"}},
            f"custom_fields.{DATE}",
        ),
    ],
)
def test_unusable_bodies_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse(json.dumps(body).encode())
    assert info.value.field == field


def test_malformed_json_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        parse(fixture("malformed.json"))


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(
        ["v2_deal_won.json", "v1_deal_won.json", "v2_deal_lost.json", "v2_deal_deleted.json"]
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
