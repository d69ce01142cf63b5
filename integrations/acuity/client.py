"""Acuity Scheduling API v1 look-ups: one appointment as a booking, and the backfill list.

Basic auth with the account's user id and API key (``credentials.user_id``/``api_key``).

- Start: ``datetime`` (an instant; its offset may lack the colon). End: start + ``duration``
  minutes, because ``endTime`` is only a human-readable clock time.
- Zone: the calendar's (``calendarTimezone``) where the event happens, else the client's
  ``timezone``, else the tenant's configured zone.
- ``location`` may be an address, a meeting link, or ``URL: https://…`` (Acuity's own video
  meetings): a link becomes the meeting URL.
- Acuity has no modification time: ``updated_at`` is when the worker read the appointment, so
  a later read always wins.
- The list endpoint returns at most ``max`` appointments and has no cursor: the backfill walks
  date windows and halves any window that comes back full.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from integrations.acuity.schemas import AcuityOptions, Appointment
from integrations.booking import BookingMessage, BookingStatus, Person
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, PayloadError, PermanentError
from integrations.http import get_json
from integrations.mapping import build_message, person

log = logging.getLogger(__name__)
TARGET = "acuity"
WINDOW_DAYS = 31
LINK = re.compile(r"https://\S+")


def appointment_booking(context: ParseContext, appointment_id: int) -> BookingMessage:
    """The booking an appointment describes now."""
    raw = _get(context, f"/api/v1/appointments/{appointment_id}", params={})
    return booking_from_appointment(context, _appointment(raw), observed=_observed(context))


def booking_from_appointment(
    context: ParseContext, appointment: Appointment, *, observed: datetime
) -> BookingMessage:
    options: AcuityOptions = context.options
    base: dict[str, Any] = {
        "tenant": context.tenant,
        "source": context.source,
        "booking_id": str(appointment.id),
        "updated_at": observed,
        "title": _title(appointment, options),
    }
    if appointment.canceled:
        return build_message(whole="(appointment)", status=BookingStatus.cancelled, **base)
    zone = appointment.calendarTimezone or appointment.timezone or options.timezone
    _check_zone(zone)
    try:
        start = datetime.fromisoformat(appointment.datetime.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError("not an ISO 8601 date-time", field="datetime") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(zone))  # type: ignore[arg-type]
    start = start.astimezone(UTC)  # durations are elapsed time, not wall-clock time
    try:
        minutes = float(appointment.duration)
    except ValueError:
        raise PayloadError("not a number of minutes", field="duration") from None
    location, meeting = _place(appointment.location)
    return build_message(
        whole="(appointment)",
        status=BookingStatus.confirmed,
        start=start,
        end=start + timedelta(minutes=minutes),
        timezone=zone,
        location=location,
        meeting_url=meeting,
        customer=_person(appointment),
        **base,
    )


def backfill(context: ParseContext, *, since: date | datetime) -> Iterator[BookingMessage]:
    """Appointments (cancelled ones too) from ``since`` to ``backfill_days`` later; one that
    cannot become a booking is logged and skipped."""
    options: AcuityOptions = context.options
    first = since.date() if isinstance(since, datetime) else since
    last = first + timedelta(days=options.backfill_days)
    observed = _observed(context)
    day = first
    while day <= last:
        window_end = min(day + timedelta(days=WINDOW_DAYS - 1), last)
        for appointment in _window(context, day, window_end):
            try:
                yield booking_from_appointment(context, appointment, observed=observed)
            except PayloadError as exc:  # one bad appointment must not stop the backfill
                log.warning(
                    "acuity backfill skipped an appointment",
                    extra={"appointment": appointment.id, "why": str(exc)},
                )
        day = window_end + timedelta(days=1)


def _window(context: ParseContext, first: date, last: date) -> list[Appointment]:
    """Every appointment dated first..last; a full page means there may be more: halve."""
    options: AcuityOptions = context.options
    params = {
        "minDate": first.isoformat(),
        "maxDate": last.isoformat(),
        "showall": "true",
        "max": str(options.backfill_page_max),
        "direction": "ASC",
    }
    raw = _get(context, "/api/v1/appointments", params=params)
    if not isinstance(raw, list):
        raise PermanentError(f"{TARGET}: the appointment list is not a list")
    found = [_appointment(item) for item in raw]
    if len(found) < options.backfill_page_max:
        return found
    if first == last:
        log.warning("acuity backfill: a day holds more appointments than backfill_page_max")
        return found
    middle = first + (last - first) // 2
    return _window(context, first, middle) + _window(context, middle + timedelta(days=1), last)


def _appointment(raw: Any) -> Appointment:
    try:
        return Appointment.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise PayloadError(first["msg"], field=".".join(map(str, first["loc"]))) from None


def _title(appointment: Appointment, options: AcuityOptions) -> str:
    chosen = getattr(appointment, options.title_from) or appointment.type
    return (chosen or "Appointment").strip()[:500] or "Appointment"


def _person(appointment: Appointment) -> Person:
    name = f"{appointment.firstName.strip()} {appointment.lastName.strip()}"
    fallback = f"Acuity client {appointment.id}"
    return person(name, appointment.email, field="email", fallback=fallback)


def _place(location: str | None) -> tuple[str | None, str | None]:
    """(physical location, meeting link) from Acuity's one free-text ``location``."""
    text = (location or "").strip()
    if not text:
        return None, None
    link = LINK.search(text)
    if link is None:
        return text[:1000], None
    rest = (text[: link.start()] + text[link.end() :]).strip().removesuffix("URL:").strip()
    rest = rest.removeprefix("URL:").strip(" :-,")
    return (rest[:1000] or None), link.group(0)[:2000]


def _check_zone(zone: str | None) -> None:
    if not zone:
        raise PayloadError("no time zone on the appointment and none configured", field="timezone")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PayloadError("unknown IANA time zone", field="calendarTimezone") from None


def _observed(context: ParseContext) -> datetime:
    return context.now or datetime.now(UTC)


def _get(context: ParseContext, path: str, *, params: dict[str, str]) -> Any:
    options: AcuityOptions = context.options
    user, key = context.credentials.get("user_id"), context.credentials.get("api_key")
    if not (user and key):
        raise ConfigurationError("acuity source needs credentials.user_id and credentials.api_key")
    return get_json(
        context.http,
        TARGET,
        f"{options.base_url}{path}",
        params=params,
        auth=(user, key),
        headers={"Accept": "application/json"},
    )
