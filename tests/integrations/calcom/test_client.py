"""Cal.com backfill against the Cal.com stub over real HTTP (API v2 bookings list)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from integrations.booking import BookingStatus
from integrations.calcom import client
from integrations.calcom.schemas import Options
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, TransientError
from tests.support import ServerThread

KEY = "cal_live_0123456789abcdef"
SINCE = datetime(2026, 9, 1, tzinfo=UTC)
HOST = {
    "id": 1042,
    "name": "Acme Booths Berlin",
    "email": "berlin@acme-booths.example",
    "timeZone": "Europe/Berlin",
}
ZOE = {
    "name": "Zoë Ångström",
    "email": "zoe@example.com",
    "timeZone": "Europe/Stockholm",
    "language": "sv",
    "absent": False,
}


def booking(
    uid: str, start: str, end: str, status: str = "accepted", **extra: Any
) -> dict[str, Any]:
    return {
        "id": len(uid),
        "uid": uid,
        "title": "Photo Booth Evening",
        "hosts": [HOST],
        "status": status,
        "start": start,
        "end": end,
        "duration": 300,
        "eventTypeId": 501,
        "eventType": {"id": 501, "slug": "photo-booth-evening"},
        "location": "Kulturbrauerei, Schönhauser Allee 36, 10435 Berlin",
        "absentHost": False,
        "createdAt": "2026-06-01T10:00:00.000Z",
        "updatedAt": "2026-06-01T10:00:00.000Z",
        "attendees": [ZOE],
        "guests": ["lena@example.com"],
        "bookingFieldsResponses": {"name": "Zoë Ångström", "email": "zoe@example.com"},
        "metadata": {},
        **extra,
    }


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as session:
        yield session


def context(sandbox: ServerThread, http: httpx.Client, key: str | None = KEY) -> ParseContext:
    return ParseContext(
        tenant="acme",
        source="calcom",
        options=Options(api_base_url=f"{sandbox.url}/calcom"),
        credentials={"api_key": key} if key else {},
        http=http,
    )


def seed(sandbox: ServerThread, *bookings: dict[str, Any], tokens: list[str] | None = None) -> None:
    body = {"tokens": tokens or [KEY], "bookings": list(bookings)}
    httpx.post(f"{sandbox.url}/calcom/_seed", json=body, timeout=5).raise_for_status()


def test_backfill_pages_and_maps_statuses_like_the_webhooks(
    sandbox: ServerThread, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "PAGE_SIZE", 2)
    seed(
        sandbox,
        booking("old-before-since", "2026-08-01T16:00:00Z", "2026-08-01T21:00:00Z"),
        booking(
            "moved-away",
            "2026-09-12T16:00:00Z",
            "2026-09-12T21:00:00Z",
            "cancelled",
            rescheduledToUid="moved-here",
        ),
        booking(
            "moved-here",
            "2026-09-19T15:00:00Z",
            "2026-09-19T20:00:00Z",
            rescheduledFromUid="moved-away",
            updatedAt="2026-06-15T08:20:00.000Z",
        ),
        booking(
            "called-off",
            "2026-09-20T15:00:00Z",
            "2026-09-20T20:00:00Z",
            "cancelled",
            updatedAt="2026-07-01T12:00:00.000Z",
        ),
        booking("awaiting-host", "2026-09-21T15:00:00Z", "2026-09-21T20:00:00Z", "pending"),
        booking(
            "plain",
            "2026-09-22T15:00:00Z",
            "2026-09-22T20:00:00Z",
            location="integrations:daily",
            meetingUrl="https://app.cal.com/video/plain",
        ),
    )
    messages = list(client.backfill(context(sandbox, http), since=SINCE))
    assert [(m.booking_id, m.status, m.replaces) for m in messages] == [
        ("moved-here", BookingStatus.rescheduled, "moved-away"),
        ("called-off", BookingStatus.cancelled, None),
        ("plain", BookingStatus.confirmed, None),
    ]
    moved, _, plain = messages
    assert moved.timezone == "Europe/Berlin" and moved.customer is not None
    assert [a.email for a in moved.attendees] == ["lena@example.com"]
    assert moved.updated_at == datetime(2026, 6, 15, 8, 20, tzinfo=UTC)
    assert (plain.location, plain.meeting_url) == (None, "https://app.cal.com/video/plain")


def test_missing_key_and_revoked_key_are_configuration_errors(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    with pytest.raises(ConfigurationError, match="api_key"):
        list(client.backfill(context(sandbox, http, key=None), since=SINCE))
    seed(sandbox, tokens=["cal_other"])
    with pytest.raises(ConfigurationError, match="401"):
        list(client.backfill(context(sandbox, http), since=SINCE))


def test_server_errors_are_transient(sandbox: ServerThread, http: httpx.Client) -> None:
    seed(sandbox, booking("plain", "2026-09-22T15:00:00Z", "2026-09-22T20:00:00Z"))
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"error_rate": 1.0}, timeout=5
    ).raise_for_status()
    with pytest.raises(TransientError, match="503"):
        list(client.backfill(context(sandbox, http), since=SINCE))


def test_a_record_that_cannot_be_a_booking_is_skipped_not_fatal(
    sandbox: ServerThread, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    seed(
        sandbox,
        booking("empty", "2026-09-22T15:00:00Z", "2026-09-22T20:00:00Z", attendees=[]),
        booking("fine", "2026-09-23T15:00:00Z", "2026-09-23T20:00:00Z"),
    )
    messages = list(client.backfill(context(sandbox, http), since=SINCE))
    assert [m.booking_id for m in messages] == ["fine"]
    [record] = [r for r in caplog.records if r.name == "integrations.calcom.client"]
    assert "booking.attendees" in record.why  # type: ignore[attr-defined]
    assert "zoe@example.com" not in caplog.text
