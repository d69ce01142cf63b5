"""Calendly phone-call locations: the number is kept as the event's place, never dropped.

``outbound_call``: the host calls the invitee on the number in ``location.location``;
``inbound_call``: the invitee calls the host's number (tests/fixtures/calendly/NOTES.md).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.calendly import SOURCE, webhook
from integrations.calendly.schemas import Options
from integrations.connector import ParseContext, WebhookRequest
from integrations.mapping import phone_call
from tests.integrations.platforms import converge
from tests.support import FIXTURES, ServerThread, gomry_events, secrets_env, tenants_toml
from worker.intake import record as intake
from worker.runtime import Runtime

CONTEXT = ParseContext(tenant="acme", source="calendly", options=Options())
NOW = datetime(2026, 6, 1, 10, 0, 5, tzinfo=UTC)
PLACES = {
    "invitee_created_outbound_call.json": "Phone call: the host calls +44 20 7946 0958",
    "invitee_created_inbound_call.json": "Phone call: dial +1 212-555-0147",
    "invitee_created_outbound_call_no_number.json": None,
}
NUMBERS = ("+44 20 7946 0958", "7946 0958", "+1 212-555-0147", "555-0147")
CALENDLY = """
[tenants.acme.sources.calendly]
secrets = [{ env = "TEST_CALENDLY_KEY" }]
"""


def delivery(name: str) -> WebhookRequest:
    return WebhookRequest("POST", "x", {}, (FIXTURES / "calendly" / name).read_bytes())


@pytest.mark.parametrize("name", PLACES)
def test_a_phone_call_keeps_its_number_as_the_place(name: str) -> None:
    [message] = webhook.parse(delivery(name), context=CONTEXT)
    assert message.location == PLACES[name]
    assert message.meeting_url is None


@given(st.text(max_size=60))
def test_only_phone_numbers_become_a_phone_call_place(text: str) -> None:
    shown = phone_call(text, caller="host")
    if shown is not None:
        number = shown.removeprefix("Phone call: the host calls ")
        assert number == text.strip().removeprefix("tel:").strip()
        assert sum(c.isdigit() for c in number) >= 6


@pytest.mark.parametrize(
    "text",
    ["Convention Center, New York", "https://meet.example/abc", "phone", "", "+44", "------"],
)
def test_addresses_links_and_scraps_are_not_phone_calls(text: str) -> None:
    assert phone_call(text) is None


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(tenants_toml(sandbox.url, extra=CALENDLY), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    values = {**secrets_env(), "TEST_CALENDLY_KEY": "k"}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def test_the_gomry_event_shows_the_phone_call_and_no_log_line_holds_the_number(
    runtime: Runtime, sandbox: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    booked = {}
    for name in ("invitee_created_outbound_call.json", "invitee_created_inbound_call.json"):
        receipt = intake.receive(
            runtime,
            tenant="acme",
            source="calendly",
            request=delivery(name),
            connector=SOURCE,
            options=runtime.source_options("acme", "calendly"),
            now=NOW,
        )
        assert receipt.outcome == "accepted"
        booked[name] = receipt.bookings[0]
    for booking_id in booked.values():
        assert converge(runtime, booking_id).outcome == "created"

    venues = sorted(e["venue"]["address"] for e in gomry_events(sandbox.url))
    assert venues == sorted(p for p in PLACES.values() if p)
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert not [n for n in NUMBERS if n in logged]
