"""Cal.com phone-call locations: the number is kept as the event's place, never dropped.

The booker's choice is ``responses.location.value``: ``phone`` (the attendee's number, the
organizer calls) or ``userPhone`` (the organizer's number, the attendee calls); the number is
in ``optionValue`` and in ``location`` (tests/fixtures/calcom/NOTES.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from integrations.calcom import webhook
from integrations.calcom.schemas import Options
from integrations.connector import ParseContext, WebhookRequest
from tests.support import FIXTURES

CONTEXT = ParseContext(tenant="acme", source="calcom", options=Options())
ATTENDEE = "booking_created_attendee_phone.json"
ORGANIZER = "booking_created_organizer_phone.json"
BY_ATTENDEE = "Phone call: the host calls +49 30 1234 5678"


def parse(name: str, change: Callable[[dict[str, Any]], None] | None = None) -> Any:
    body = json.loads((FIXTURES / "calcom" / name).read_bytes())
    if change:
        change(body["payload"])
    request = WebhookRequest("POST", "x", {}, json.dumps(body).encode())
    [message] = webhook.parse(request, context=CONTEXT)
    return message


@pytest.mark.parametrize(
    ("name", "place"),
    [(ATTENDEE, BY_ATTENDEE), (ORGANIZER, "Phone call: dial +49 30 8765 4321")],
    ids=["attendee-phone", "organizer-phone"],
)
def test_a_phone_call_keeps_its_number_as_the_place(name: str, place: str) -> None:
    message = parse(name)
    assert (message.location, message.meeting_url) == (place, None)


def _number_only_in_the_phone_field(payload: dict[str, Any]) -> None:
    payload["location"] = "phone"
    payload["responses"]["location"]["value"]["optionValue"] = ""


def test_the_attendee_s_phone_field_is_the_number_when_the_choice_has_none() -> None:
    assert parse(ATTENDEE, _number_only_in_the_phone_field).location == BY_ATTENDEE


@pytest.mark.parametrize(
    "responses",
    [None, "not an object", {"location": "phone"}, {"location": {"value": ["phone"]}}],
    ids=["none", "string", "flat-answer", "list-choice"],
)
def test_odd_responses_never_reject_the_booking(responses: Any) -> None:
    message = parse(ATTENDEE, lambda p: p.update(responses=responses))
    assert message.location == "Phone call: +49 30 1234 5678"  # still a phone call: the number


def test_a_phone_choice_without_any_number_falls_back_to_the_platform_default() -> None:
    def no_number(payload: dict[str, Any]) -> None:
        _number_only_in_the_phone_field(payload)
        del payload["responses"]["attendeePhoneNumber"]

    assert parse(ATTENDEE, no_number).location is None
