"""A deal's event from its custom fields: every layout, zones, DST gaps and repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from integrations.errors import PayloadError
from integrations.pipedrive.fields import custom_field, local_to_utc, schedule, venue
from integrations.pipedrive.schemas import Options
from tests.integrations.pipedrive.keys import (
    DATE,
    DURATION,
    END,
    MEETING,
    START,
    VENUE,
    ZONE,
    options,
)


def v2(**fields: Any) -> dict[str, Any]:
    """A webhooks-v2 deal whose custom fields are ``{"type", "value"}`` objects."""
    return {"id": 1, "custom_fields": fields}


def at(value: Any, kind: str = "varchar") -> dict[str, Any]:
    return {"type": kind, "value": value}


def test_spring_forward_gap_lands_after_the_gap() -> None:
    start = local_to_utc(datetime(2026, 3, 8, 2, 30), "America/New_York")
    assert start == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_fall_back_repeat_is_the_first_occurrence() -> None:
    start = local_to_utc(datetime(2026, 11, 1, 1, 30), "America/New_York")
    assert start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not EST


@pytest.mark.parametrize(
    ("zone", "utc"),
    [
        ("Asia/Kathmandu", (12, 45)),
        ("Asia/Kolkata", (13, 0)),
        ("Pacific/Chatham", (4, 45)),
        ("America/St_Johns", (22, 0)),
    ],
)
def test_offsets_that_are_not_whole_hours(zone: str, utc: tuple[int, int]) -> None:
    deal = v2(**{DATE: at("2026-01-20", "date"), START: at("18:30:00", "time"), ZONE: at(zone)})
    start, end, used = schedule(
        deal, options(end_time_field=None, duration_field=None, default_duration_minutes=60)
    )
    assert used == zone
    assert (start.hour, start.minute) == utc
    assert end - start == timedelta(hours=1)


def test_end_before_start_means_the_next_morning() -> None:
    deal = v2(
        **{
            DATE: at("2026-12-31", "date"),
            START: at("22:00:00", "time"),
            END: at("02:00:00", "time"),
        }
    )
    start, end, zone = schedule(deal, options())
    assert zone == "America/New_York"  # no zone field on the deal: the tenant's
    assert (start, end) == (
        datetime(2027, 1, 1, 3, 0, tzinfo=UTC),
        datetime(2027, 1, 1, 7, 0, tzinfo=UTC),
    )


def test_duration_in_hours_or_minutes_and_the_default() -> None:
    deal = v2(
        **{DATE: at("2026-07-15", "date"), START: at("18:00", "time"), DURATION: at(90, "double")}
    )
    start, end, _ = schedule(deal, options(end_time_field=None, duration_unit="minutes"))
    assert end - start == timedelta(minutes=90)
    deal = v2(
        **{
            DATE: at("2026-07-15", "date"),
            START: at("18:00", "time"),
            DURATION: at("4.5", "double"),
        }
    )
    start, end, _ = schedule(deal, options(end_time_field=None))
    assert end - start == timedelta(hours=4, minutes=30)
    bare = v2(**{DATE: at("2026-07-15", "date"), START: at("18:00", "time")})
    start, end, _ = schedule(bare, options(end_time_field=None, default_duration_minutes=240))
    assert end - start == timedelta(hours=4)


def test_api_v2_and_webhook_v1_layouts_read_the_same() -> None:
    api_v2 = {
        "id": 2,
        "custom_fields": {
            DATE: {"value": "2026-07-15", "until": "2026-07-16"},
            START: {
                "value": "20:00:00",
                "until": "01:00:00",
                "timezone_id": 1,
                "timezone_name": "Europe/London",
            },
            ZONE: "Europe/Paris",
            VENUE: {
                "value": "Grand Palais",
                "formatted_address": "Grand Palais, 75008 Paris, France",
            },
        },
    }
    webhook_v1 = {
        "id": 2,
        DATE: "2026-07-15",
        f"{DATE}_until": "2026-07-16",
        START: "20:00:00",
        f"{START}_until": "01:00:00",
        ZONE: "Europe/Paris",
        VENUE: "Grand Palais",
        f"{VENUE}_formatted_address": "Grand Palais, 75008 Paris, France",
    }
    for deal in (api_v2, webhook_v1):
        start, end, zone = schedule(deal, options())
        assert (start, end, zone) == (
            datetime(2026, 7, 15, 18, 0, tzinfo=UTC),
            datetime(2026, 7, 15, 23, 0, tzinfo=UTC),  # a range: ends 01:00 on its last day
            "Europe/Paris",
        )
        assert venue(deal, options()) == ("Grand Palais, 75008 Paris, France", None)


def test_a_virtual_venue_is_a_link_not_an_address() -> None:
    deal = v2(**{VENUE: at("https://meet.example.com/booth")})
    assert venue(deal, options()) == (None, "https://meet.example.com/booth")


def test_empty_values_count_as_missing() -> None:
    assert custom_field(v2(**{DATE: at("", "date")}), DATE) is None
    assert custom_field({"id": 1, DATE: None}, DATE) is None


@pytest.mark.parametrize(
    ("deal", "field"),
    [
        (v2(**{START: at("18:00", "time")}), DATE),
        (v2(**{DATE: at("2026-07-15", "date")}), START),
        (v2(**{DATE: at("15/07/2026", "date"), START: at("18:00", "time")}), DATE),
        (v2(**{DATE: at("2026-07-15", "date"), START: at("6pm", "time")}), START),
        (
            v2(**{DATE: at("2026-07-15", "date"), START: at("18:00", "time"), ZONE: at("CET+1")}),
            ZONE,
        ),
        (
            v2(
                **{DATE: at("2026-07-15", "date"), START: at("18:00", "time"), DURATION: at("long")}
            ),
            DURATION,
        ),
        (
            v2(
                **{
                    DATE: at("2026-07-15", "date"),
                    START: at("18:00", "time"),
                    DURATION: at(-2, "double"),
                }
            ),
            DURATION,
        ),
        (
            v2(
                **{
                    DATE: at("2026-07-15", "date"),
                    START: at("18:00", "time"),
                    DURATION: at(400, "double"),
                }
            ),
            DURATION,
        ),
    ],
)
def test_unusable_fields_are_named(deal: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as info:
        schedule(deal, options(end_time_field=None))
    assert info.value.field == f"custom_fields.{field}"


def test_no_end_and_no_duration_is_refused() -> None:
    deal = v2(**{DATE: at("2026-07-15", "date"), START: at("18:00", "time")})
    with pytest.raises(PayloadError, match="no end time or duration"):
        schedule(deal, options(end_time_field=None))


def test_options_need_a_zone_and_valid_keys() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Options.model_validate({"event_date_field": DATE, "start_time_field": START})
    with pytest.raises(ValidationError):
        options(timezone="Europe/Nowhere")
    with pytest.raises(ValidationError):
        options(event_date_field="drop table; --")


@given(
    day=st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2037, 12, 31).date()),
    minutes=st.integers(min_value=0, max_value=24 * 60 - 1),
    zone=st.sampled_from(
        ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]
    ),
)
def test_every_wall_clock_time_maps_to_an_instant_within_an_hour_of_it(
    day: Any, minutes: int, zone: str
) -> None:
    local = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minutes)
    instant = local_to_utc(local, zone)
    assert instant.tzinfo is UTC
    back = instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    assert timedelta(0) <= back - local <= timedelta(hours=1)  # equal, or pushed past a gap


def test_a_place_name_the_formatted_address_drops_is_kept() -> None:
    """Google's formatted form of "Hôtel X, 10 Rue Y, Paris" is only the street: what the
    user typed says more, so it is the place; a formatted form with every typed word wins."""
    typed = "Hôtel Plaza Athénée, 25 Avenue Montaigne, Paris"
    formatted = "25 Av. Montaigne, 75008 Paris, France"
    webhook_v1 = {"id": 3, VENUE: typed, f"{VENUE}_formatted_address": formatted}
    api_v2 = v2(**{VENUE: {"value": typed, "formatted_address": formatted}})
    for deal in (webhook_v1, api_v2):
        assert venue(deal, options()) == (typed, None)
    short = v2(**{VENUE: {"value": "grand palais", "formatted_address": "Grand Palais, Paris"}})
    assert venue(short, options()) == ("Grand Palais, Paris", None)


def test_an_address_and_a_meeting_link_map_together() -> None:
    deal = v2(
        **{
            VENUE: {"value": "Grand Palais", "formatted_address": "Grand Palais, Paris, France"},
            MEETING: at("https://meet.example.com/stream"),
        }
    )
    both = options(meeting_url_field=MEETING)
    assert venue(deal, both) == ("Grand Palais, Paris, France", "https://meet.example.com/stream")
    assert venue(deal, options()) == ("Grand Palais, Paris, France", None)  # not mapped
    # a link in the venue field still counts when the meeting field is empty or not a link
    linked = v2(**{VENUE: at("https://meet.example.com/a"), MEETING: at("call us")})
    assert venue(linked, both) == (None, "https://meet.example.com/a")
    only_link = v2(**{MEETING: at("https://meet.example.com/b")})
    assert venue(only_link, options(venue_field=None, meeting_url_field=MEETING)) == (
        None,
        "https://meet.example.com/b",
    )


@given(st.text(max_size=60), st.text(max_size=60))
def test_the_place_is_always_one_of_the_two_texts_never_a_mix(typed: str, formatted: str) -> None:
    deal = {"id": 4, VENUE: typed, f"{VENUE}_formatted_address": formatted}
    where, _ = venue(deal, options())
    assert where is None or where in (typed.strip()[:1000], formatted.strip()[:1000])
