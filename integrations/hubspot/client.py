"""HubSpot CRM v3 look-ups: a deal (with its contacts) as a booking, and the backfill search.

Calls go through ``integrations.http.call`` with the private-app token
(``credentials.access_token``) as a Bearer token. Which deal properties hold the start, end or
duration, time zone and venue is tenant configuration (``HubSpotOptions``).

Times: a property value with an offset (or ``Z``) or in epoch milliseconds is an instant; a
value without one is wall-clock time in the booking's zone. A wall-clock time that does not
exist (spring-forward gap) is read with the offset before the change; an ambiguous one
(fall-back) as its first occurrence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from integrations.booking import BookingMessage, BookingStatus, Person
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, PayloadError, PermanentError
from integrations.http import get_json, read_json
from integrations.hubspot.schemas import CrmObject, HubSpotOptions, SearchPage
from integrations.mapping import as_utc, build_message, person

log = logging.getLogger(__name__)
TARGET = "hubspot"
CONTACT_PROPERTIES = "firstname,lastname,email"
SEARCH_PAGE = 100


def deal_booking(context: ParseContext, deal_id: str) -> BookingMessage | None:
    """The booking a deal describes now, or None (not in a booked/cancelled stage, or gone)."""
    options: HubSpotOptions = context.options
    params = {"properties": ",".join(sorted(_deal_properties(options))), "associations": "contacts"}
    try:
        deal = CrmObject.model_validate(
            _get(context, f"/crm/v3/objects/deals/{deal_id}", params=params)
        )
    except PermanentError as exc:
        if exc.status == 404:
            return None
        raise
    except ValidationError as exc:
        raise PayloadError(f"unexpected deal shape ({exc.error_count()} errors)") from None
    return booking_from_deal(context, deal)


def booking_from_deal(context: ParseContext, deal: CrmObject) -> BookingMessage | None:
    """Map a fetched deal (and its contacts, fetched here) to a booking message."""
    options: HubSpotOptions = context.options
    status = options.stage_status(deal.prop("pipeline"), deal.prop("dealstage"))
    if status is None:
        return None
    updated = deal.updatedAt or _instant(deal.prop("hs_lastmodifieddate"), UTC, "updatedAt")
    base = {
        "tenant": context.tenant,
        "source": context.source,
        "booking_id": deal.id,
        "updated_at": updated,
        "title": _cut(deal.prop(options.title_property), 500),
    }
    if status == "cancelled":
        return build_message(whole="(deal)", status=BookingStatus.cancelled, **base)
    zone_name = deal.prop(options.timezone_property) or options.timezone
    field = f"properties.{options.timezone_property or 'timezone'}"
    zone = _zone(zone_name, field)
    # in UTC before adding durations: aware arithmetic in a ZoneInfo zone is wall-clock
    # arithmetic and would stretch or shrink events that cross a DST change
    start = _start(deal, options, zone).astimezone(UTC)
    end = _end(deal, options, zone, start)
    venue = deal.prop(options.venue_property)
    meeting = deal.prop(options.meeting_url_property)
    if venue and venue.startswith("https://"):  # a link in the venue is the meeting
        venue, meeting = None, meeting or venue
    people = _contacts(context, deal, limit=1 + options.max_attendees)
    if not people:
        raise PayloadError("a booked deal needs an associated contact", field="associations")
    return build_message(
        whole="(deal)",
        status=BookingStatus.confirmed,
        start=start,
        end=end,
        timezone=zone_name,
        location=_cut(venue, 1000),
        meeting_url=meeting if meeting and re.fullmatch(r"https://\S+", meeting) else None,
        customer=people[0],
        attendees=people[1:],
        client=_cut(deal.prop(options.client_property), 120),
        **base,
    )


def backfill(context: ParseContext, *, since: date | datetime) -> Iterator[BookingMessage]:
    """Deals in a booked or cancelled stage modified since ``since``, oldest change first.

    A deal that cannot become a booking (no contact, bad date) is logged and skipped. HubSpot's
    search stops at 10,000 results per query: narrow ``since`` on huge accounts."""
    options: HubSpotOptions = context.options
    after: str | None = None
    while True:
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": "dealstage",
                            "operator": "IN",
                            "values": options.all_stages(),
                        },
                        {
                            "propertyName": "hs_lastmodifieddate",
                            "operator": "GTE",
                            "value": str(_epoch_ms(since)),
                        },
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["dealstage", "pipeline"],
            "limit": SEARCH_PAGE,
        }
        if after:
            body["after"] = after
        page = SearchPage.model_validate(_search(context, body))
        for found in page.results:
            try:
                message = deal_booking(context, found.id)
            except PayloadError as exc:  # one bad deal must not stop the backfill
                log.warning(
                    "hubspot backfill skipped a deal", extra={"deal": found.id, "why": str(exc)}
                )
                continue
            if message is not None:
                yield message
        if page.paging is None or page.paging.next is None:
            return
        after = page.paging.next.after


def _deal_properties(options: HubSpotOptions) -> set[str]:
    return options.watched_properties() | {"hs_lastmodifieddate"}


def _contacts(context: ParseContext, deal: CrmObject, *, limit: int) -> list[Person]:
    """The deal's contacts in association order (the first is the customer), deduplicated."""
    page = deal.associations.get("contacts")
    ids = list(dict.fromkeys(ref.id for ref in page.results)) if page else []
    people: list[Person] = []
    for contact_id in ids[:limit]:
        try:
            raw = _get(
                context,
                f"/crm/v3/objects/contacts/{contact_id}",
                params={"properties": CONTACT_PROPERTIES},
            )
        except PermanentError as exc:
            if exc.status == 404:
                continue
            raise
        found = _person(CrmObject.model_validate(raw))
        if found is not None:
            people.append(found)
    return people


def _person(contact: CrmObject) -> Person | None:
    """The contact as a person, or None when it has neither a name nor an email address."""
    name = " ".join(p for p in (contact.prop("firstname"), contact.prop("lastname")) if p)
    try:
        return person(name, contact.prop("email"), field="contact")
    except PayloadError:
        return None


def _start(deal: CrmObject, options: HubSpotOptions, zone: ZoneInfo) -> datetime:
    field = f"properties.{options.start_property}"
    value = deal.prop(options.start_property)
    if value is None:
        raise PayloadError("the booked deal has no start", field=field)
    if options.start_time_property:
        clock = deal.prop(options.start_time_property)
        if clock is not None:
            day = _day(value, field)
            return datetime.combine(day, _clock(clock, options.start_time_property), zone)
    return _instant(value, zone, field)


def _end(deal: CrmObject, options: HubSpotOptions, zone: ZoneInfo, start: datetime) -> datetime:
    value = deal.prop(options.end_property)
    if value is not None:
        return _instant(value, zone, f"properties.{options.end_property}")
    minutes = deal.prop(options.duration_property)
    if minutes is not None:
        try:
            length = float(minutes)
        except ValueError:
            raise PayloadError(
                "duration is not a number of minutes",
                field=f"properties.{options.duration_property}",
            ) from None
        return start + timedelta(minutes=length)
    if options.default_duration_minutes:
        return start + timedelta(minutes=options.default_duration_minutes)
    raise PayloadError("the booked deal has no end or duration", field="properties")


def _instant(value: str | None, zone: tzinfo, field: str) -> datetime:
    if value is None:
        raise PayloadError("missing", field=field)
    text = value.strip()
    if text.lstrip("-").isdigit():
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError("epoch milliseconds out of range", field=field) from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError("not an ISO 8601 date or date-time", field=field) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _day(value: str, field: str) -> date:
    """The calendar day of a HubSpot date property (``YYYY-MM-DD`` or UTC midnight)."""
    text = value.strip()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise PayloadError("not a date", field=field) from None
    return _instant(text, UTC, field).astimezone(UTC).date()


def _clock(value: str, name: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise PayloadError("not an HH:MM time", field=f"properties.{name}") from None


def _zone(name: str | None, field: str) -> ZoneInfo:
    if not name:
        raise PayloadError("no time zone on the deal and none configured", field=field)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PayloadError("unknown IANA time zone", field=field) from None


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


def _epoch_ms(since: date | datetime) -> int:
    return int(as_utc(since).timestamp() * 1000)


def _get(context: ParseContext, path: str, *, params: dict[str, str]) -> Any:
    options: HubSpotOptions = context.options
    return get_json(
        context.http, TARGET, f"{options.base_url}{path}", headers=_headers(context), params=params
    )


def _search(context: ParseContext, body: dict[str, Any]) -> Any:
    """HubSpot's CRM search is a read made as a POST (the filters are its body)."""
    options: HubSpotOptions = context.options
    url = f"{options.base_url}/crm/v3/objects/deals/search"
    return read_json(context.http, TARGET, "POST", url, headers=_headers(context), json=body)


def _headers(context: ParseContext) -> dict[str, str]:
    token = context.credentials.get("access_token")
    if not token:
        raise ConfigurationError("hubspot source needs credentials.access_token")
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}
