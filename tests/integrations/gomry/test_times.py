"""Event times across clock changes: what we send Gomry names the booking's own instants.

Gomry reads ``start.utc``/``end.utc`` as wall-clock time in ``timezone``. Around a clock change a
wall-clock time can happen twice (or, for another client, never), so there the event goes in
``UTC`` with the booking's zone named in the description.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo, available_timezones

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.gomry.client import GomryPlatform
from integrations.http import Attempt, recording
from tests.integrations.gomry.conftest import OPTIONS
from tests.integrations.platforms import client, converge, spec, submit
from tests.support import ServerThread, gomry_events
from worker.runtime import Runtime

ZONES = sorted(available_timezones())
NOWHERE = cast(ServerThread, SimpleNamespace(url="http://127.0.0.1:9"))  # never called
FIELDS_ONLY: GomryPlatform = client(NOWHERE, "gomry", httpx.Client(), options=OPTIONS)
SCAN_FROM, SCAN_TO = datetime(2020, 1, 1, tzinfo=UTC), datetime(2036, 1, 1, tzinfo=UTC)


@functools.cache
def transitions(zone: str) -> tuple[tuple[datetime, timedelta], ...]:
    """Every instant in 2020–2035 at which ``zone``'s UTC offset changes, with the change."""
    tz = ZoneInfo(zone)
    found: list[tuple[datetime, timedelta]] = []
    day, before = SCAN_FROM, SCAN_FROM.astimezone(tz).utcoffset()
    while day < SCAN_TO:
        after = (day + timedelta(days=1)).astimezone(tz).utcoffset()
        if after != before:
            low, high = day, day + timedelta(days=1)  # the change lies in (low, high]
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                middle = middle.replace(second=0, microsecond=0)
                if middle == low:
                    break
                if middle.astimezone(tz).utcoffset() == before:
                    low = middle
                else:
                    high = middle
            assert before is not None and after is not None
            found.append((high, after - before))
        day, before = day + timedelta(days=1), after
    return tuple(found)


def gomry_reads(sent: dict[str, str]) -> datetime:
    """The instant Gomry's documented semantics give a request time: local wall-clock in the
    sent zone. A wall-clock time with two readings (or none) has no meaning: the test fails."""
    wall = datetime.fromisoformat(sent["utc"])
    assert wall.second == 0 and len(sent["utc"]) == 16, sent
    zone = ZoneInfo(sent["timezone"])
    readings = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    assert len(readings) == 1, f"{sent} has {len(readings)} readings"
    (instant,) = readings
    assert instant.astimezone(zone).replace(tzinfo=None) == wall, f"{sent} does not exist"
    return instant


def repeats(instant: datetime, zone: str, change: timedelta) -> bool:
    """Whether the wall-clock minute of ``instant`` in ``zone`` also shows ``change`` earlier or
    later (the clocks went back by ``change`` nearby)."""
    tz = ZoneInfo(zone)
    shown = instant.astimezone(tz).replace(tzinfo=None)
    return any(
        (instant + step).astimezone(tz).replace(tzinfo=None) == shown
        for step in (abs(change), -abs(change))
    )


@st.composite
def around_a_transition(draw: st.DrawFn) -> tuple[str, datetime, datetime, timedelta]:
    """A zone, and a minute-aligned event that starts or ends near one of its clock changes."""
    zone = draw(st.sampled_from(ZONES))
    changes = transitions(zone)
    if changes:
        at, change = draw(st.sampled_from(changes))
    else:
        at, change = SCAN_FROM + timedelta(days=draw(st.integers(0, 5000))), timedelta(0)
    near = at + timedelta(minutes=draw(st.integers(-150, 150)))
    length = timedelta(minutes=draw(st.integers(1, 240)))
    start = near if draw(st.booleans()) else near - length
    return zone, start, start + length, change


@settings(max_examples=400, deadline=None)
@given(case=around_a_transition())
def test_what_we_send_means_the_booking_s_instants_around_every_clock_change(
    case: tuple[str, datetime, datetime, timedelta],
) -> None:
    zone, start, end, change = case
    wanted = spec(
        "tz-1",
        start=start.isoformat(),
        end=end.isoformat(),
        timezone=zone,
        location="Town Hall",
    )
    fields = FIELDS_ONLY._event_fields(wanted)
    assert gomry_reads(fields["start"]) == start
    assert gomry_reads(fields["end"]) == end
    assert fields["start"]["timezone"] == fields["end"]["timezone"]  # PATCH requires it
    clash = change < timedelta(0) and any(repeats(t, zone, change) for t in (start, end))
    if fields["start"]["timezone"] == zone:
        assert not clash
        assert "Times shown in UTC" not in fields["description"]
    else:
        assert clash  # the fallback only when the zone's wall clock repeats the time
        assert fields["start"]["timezone"] == "UTC"
        assert f"Times shown in UTC; local zone {zone}" in fields["description"]


# -- the corpus cases, through the worker and the strict sandbox ------------------------------

CORPUS = {
    # London goes back at 01:00Z on 25 Oct 2026: 00:30Z and 01:30Z both read 01:30.
    "london-fall-back": ("2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00", "Europe/London"),
    # Lord Howe goes back half an hour at 15:00Z on 4 Apr 2026 (02:00 → 01:30 local): the end,
    # 01:45 local the second time, would read 30 minutes early.
    "lord-howe-half-hour": (
        "2026-04-04T14:15:00+00:00",
        "2026-04-04T15:15:00+00:00",
        "Australia/Lord_Howe",
    ),
}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.mark.parametrize("case", CORPUS)
def test_an_event_across_a_clock_change_is_created_once_with_its_true_instants(
    runtime: Runtime, sandbox: ServerThread, http: httpx.Client, case: str
) -> None:
    start, end, zone = CORPUS[case]
    booking_id = submit(runtime, f"dst-{case}", start=start, end=end, timezone=zone)
    assert converge(runtime, booking_id).outcome == "created"

    [event] = gomry_events(sandbox.url)
    began, ended = (_utc(event[side]["utc"]) for side in ("start", "end"))
    assert (began, ended) == (datetime.fromisoformat(start), datetime.fromisoformat(end))
    assert ended - began == timedelta(hours=1)
    assert event["start"]["timezone"] == event["end"]["timezone"] == "UTC"
    assert f"Times shown in UTC; local zone {zone}" in event["description"]

    gomry = client(sandbox, "gomry", http, options=OPTIONS)
    wanted = spec(f"dst-{case}", tenants=runtime.tenants, start=start, end=end, timezone=zone)
    linked = gomry.find_event(wanted.reference)
    assert linked is not None and linked.event_id == event["id"]
    assert _patches(gomry, linked, wanted) == []  # a repeat sync changes nothing
    assert converge(runtime, booking_id).outcome == "up-to-date"
    assert len(gomry_events(sandbox.url)) == 1


def test_moving_out_of_the_clock_change_goes_back_to_the_booking_s_zone(
    sandbox: ServerThread, http: httpx.Client
) -> None:
    gomry = client(sandbox, "gomry", http, options=OPTIONS)
    start, end, zone = CORPUS["london-fall-back"]
    first = spec("dst-move", start=start, end=end, timezone=zone)
    linked = gomry.create_event(first, idempotency_key=first.reference)
    later = {"start": "2026-10-25T10:00:00+00:00", "end": "2026-10-25T11:00:00+00:00"}
    moved = spec("dst-move", timezone=zone, **later)
    gomry.update_event(linked, moved)
    [event] = gomry_events(sandbox.url)
    assert event["start"] == {"utc": "2026-10-25T10:00:00.000Z", "timezone": "Europe/London"}
    assert event["end"] == {"utc": "2026-10-25T11:00:00.000Z", "timezone": "Europe/London"}
    assert "Times shown in UTC" not in event["description"]
    assert _patches(gomry, linked, moved) == []


def _patches(gomry: GomryPlatform, linked: Any, wanted: Any) -> list[Attempt]:
    """The PATCH requests a repeat update of ``wanted`` makes (none when it already landed)."""
    seen: list[Attempt] = []
    with recording(seen.append):
        gomry.update_event(linked, wanted)
    return [a for a in seen if a.method == "PATCH"]


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
