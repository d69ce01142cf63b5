"""A deal's event from its custom fields: date, wall-clock times, zone, duration and venue.

Pipedrive stores custom fields three ways, all read here:

- webhooks v1 / API v1: flat on the deal, ``"<key>": "09:00:00"`` plus ``"<key>_until"`` …;
- webhooks v2: ``custom_fields["<key>"] = {"type": "time", "value": "09:00:00", …}``
  (ranges as ``{"from", "until"}``);
- API v2: ``custom_fields["<key>"] = "2026-07-15"`` or ``{"value", "until", "timezone_name"}``.

Dates and times are wall-clock values in the booking's zone. A time that does not exist (the
spring-forward gap) lands after the gap, like clocks do (02:30 → 03:30); a time that happens
twice (fall-back) is the first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from integrations.errors import PayloadError
from integrations.mapping import iana_zone, meeting_url, place
from integrations.pipedrive.schemas import Options

MAX_LENGTH = timedelta(days=7)


@dataclass(frozen=True)
class FieldValue:
    """One custom field: its main value, the end of a range, and any sub-fields."""

    value: Any
    until: Any = None
    parts: Mapping[str, Any] = field(default_factory=dict)


def custom_field(deal: Mapping[str, Any], key: str) -> FieldValue | None:
    """The field ``key`` of ``deal`` in whichever layout it came, or None when empty."""
    nested = deal.get("custom_fields")
    if isinstance(nested, Mapping) and key in nested:
        raw = nested[key]
        if isinstance(raw, Mapping):
            main = raw.get("value") if raw.get("value") not in (None, "") else raw.get("from")
            found = FieldValue(main, raw.get("until"), raw)
        else:
            found = FieldValue(raw)
    elif key in deal:
        prefix = f"{key}_"
        parts = {k[len(prefix) :]: v for k, v in deal.items() if k.startswith(prefix)}
        found = FieldValue(deal[key], parts.get("until"), parts)
    else:
        return None
    return None if found.value in (None, "") else found


def schedule(deal: Mapping[str, Any], options: Options) -> tuple[datetime, datetime, str]:
    """(start, end, zone) of the deal's event; PayloadError naming the missing field."""
    zone = _zone(deal, options)
    date_field = _required(deal, options.event_date_field, "event date")
    time_field = _required(deal, options.start_time_field, "start time")
    day = _date(date_field.value, options.event_date_field)
    last_day = _date(date_field.until, options.event_date_field) if date_field.until else day
    start_local = datetime.combine(day, _time(time_field.value, options.start_time_field))
    start = local_to_utc(start_local, zone)
    end_clock = time_field.until
    if end_clock in (None, "") and options.end_time_field:
        end_field = custom_field(deal, options.end_time_field)
        end_clock = end_field.value if end_field else None
    if end_clock not in (None, ""):
        key = options.end_time_field or options.start_time_field
        end_local = datetime.combine(last_day, _time(end_clock, key))
        if end_local <= start_local:
            end_local += timedelta(days=1)  # 22:00–02:00 ends the next morning
        end = local_to_utc(end_local, zone)
    else:
        end = start + _duration(deal, options)
    if not start < end <= start + MAX_LENGTH:
        where = options.end_time_field or options.duration_field or options.event_date_field
        raise PayloadError(
            "the event must end after it starts, within 7 days", field=f"custom_fields.{where}"
        )
    return start, end, zone


def venue(deal: Mapping[str, Any], options: Options) -> tuple[str | None, str | None]:
    """(physical place, meeting link) from the venue field and the meeting-link field.

    An address field's formatted form is used unless what the user typed says more: Google's
    ``formatted_address`` of "Hôtel X, 10 Rue Y, Paris" is only the street, and the name of
    the place would be lost. A link in the meeting-link field wins over one in the venue."""
    place_text: str | None = None
    link: str | None = None
    found = custom_field(deal, options.venue_field) if options.venue_field else None
    if found is not None:
        place_text = place(_address(found))
        link = meeting_url(found.value)
    meeting = custom_field(deal, options.meeting_url_field) if options.meeting_url_field else None
    if meeting is not None:
        link = meeting_url(meeting.value) or link
    return place_text, link


def _address(found: FieldValue) -> Any:
    """The typed address, or its formatted form when that has every word the user typed."""
    formatted = found.parts.get("formatted_address")
    if not (isinstance(formatted, str) and formatted.strip()) or not isinstance(found.value, str):
        return found.value
    return formatted if _words(found.value) <= _words(formatted) else found.value


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def local_to_utc(local: datetime, zone: str) -> datetime:
    """The instant a wall-clock time in ``zone`` names (gap: after it; repeat: the first)."""
    return local.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


def _zone(deal: Mapping[str, Any], options: Options) -> str:
    """The deal's zone field, else the tenant's zone. (Pipedrive's own time-field zones are
    ids without a public mapping in webhooks, so they are not used.)"""
    if options.timezone_field:
        found = custom_field(deal, options.timezone_field)
        if found is not None:
            zone = iana_zone(found.value)
            if zone is None:
                raise PayloadError(
                    "not an IANA time zone name", field=f"custom_fields.{options.timezone_field}"
                )
            return zone
    if options.timezone:
        return options.timezone
    raise PayloadError(
        "no time zone for the event", field=f"custom_fields.{options.timezone_field}"
    )


def _required(deal: Mapping[str, Any], key: str, what: str) -> FieldValue:
    found = custom_field(deal, key)
    if found is None:
        raise PayloadError(f"{what} is missing on the won deal", field=f"custom_fields.{key}")
    return found


def _date(value: Any, key: str) -> date:
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise PayloadError("not a YYYY-MM-DD date", field=f"custom_fields.{key}") from None


def _time(value: Any, key: str) -> time:
    try:
        clock = time.fromisoformat(str(value).strip())
    except ValueError:
        raise PayloadError("not an HH:MM[:SS] time", field=f"custom_fields.{key}") from None
    return clock.replace(tzinfo=None, microsecond=0)


def _duration(deal: Mapping[str, Any], options: Options) -> timedelta:
    if options.duration_field:
        found = custom_field(deal, options.duration_field)
        if found is not None:
            try:
                amount = float(str(found.value).strip())
            except ValueError:
                raise PayloadError(
                    "not a number", field=f"custom_fields.{options.duration_field}"
                ) from None
            if not 0 < amount < 10_000:
                raise PayloadError(
                    "must be a positive length", field=f"custom_fields.{options.duration_field}"
                )
            unit = 60 if options.duration_unit == "hours" else 1
            return timedelta(minutes=amount * unit)
    if options.default_duration_minutes:
        return timedelta(minutes=options.default_duration_minutes)
    missing = options.end_time_field or options.duration_field or options.start_time_field
    raise PayloadError("the event has no end time or duration", field=f"custom_fields.{missing}")
