"""A Pipedrive deal, in whichever shape it came (webhook v1 ``current``, webhook v2 ``data``,
API v2 item), as a booking message.

The customer is the deal's person, looked up by id when the tenant gave an API token (webhooks
v2 and the API carry only ``person_id``; webhooks v1 carry ``person_name`` but no email), else
the name the payload carries, else the organization's name or the deal title, so a booking is
never lost for want of a name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from integrations.booking import BookingMessage, BookingStatus, Person
from integrations.connector import ParseContext
from integrations.errors import PayloadError
from integrations.mapping import payload_error, person
from integrations.pipedrive.fields import schedule, venue
from integrations.pipedrive.schemas import Options

Lookup = Callable[[int], Person | None]


@dataclass(frozen=True)
class Deal:
    id: str
    title: str | None
    status: str | None
    person_id: int | None
    person_name: str | None
    person_email: str | None
    org_name: str | None
    update_time: datetime | None
    raw: Mapping[str, Any]


def deal_of(raw: Mapping[str, Any], *, field: str) -> Deal:
    """Normalise one deal mapping; PayloadError when it has no usable id."""
    deal_id = raw.get("id")
    if (
        isinstance(deal_id, bool)
        or not isinstance(deal_id, int | str)
        or not str(deal_id).isdigit()
    ):
        raise PayloadError("a deal needs its numeric id", field=f"{field}.id")
    person_ref = raw.get("person_id")
    org_ref = raw.get("org_id")
    person_id = person_ref.get("value") if isinstance(person_ref, Mapping) else person_ref
    return Deal(
        id=str(deal_id),
        title=_text(raw.get("title")),
        status=_text(raw.get("status")),
        person_id=person_id
        if isinstance(person_id, int) and not isinstance(person_id, bool)
        else None,
        person_name=_text(raw.get("person_name"))
        or (_text(person_ref.get("name")) if isinstance(person_ref, Mapping) else None),
        person_email=_primary_email(person_ref.get("email"))
        if isinstance(person_ref, Mapping)
        else None,
        org_name=_text(raw.get("org_name"))
        or (_text(org_ref.get("name")) if isinstance(org_ref, Mapping) else None),
        update_time=pd_time(raw.get("update_time")),
        raw=raw,
    )


def won_message(
    deal: Deal,
    context: ParseContext,
    *,
    updated_at: datetime,
    lookup: Lookup | None,
    status: BookingStatus = BookingStatus.confirmed,
) -> BookingMessage:
    """The booking of a won deal: its event from the tenant's custom fields."""
    options = options_of(context)
    start, end, zone = schedule(deal.raw, options)
    where, link = venue(deal.raw, options)
    try:
        return BookingMessage(
            tenant=context.tenant,
            source=context.source,
            booking_id=deal.id,
            status=status,
            title=(deal.title or f"Deal {deal.id}")[:500],
            start=start,
            end=end,
            timezone=zone,
            location=where,
            meeting_url=link,
            customer=_customer(deal, lookup),
            updated_at=updated_at,
        )
    except ValidationError as exc:
        raise payload_error(exc, prefix="deal") from None


def cancelled_message(
    deal_id: str, context: ParseContext, *, updated_at: datetime
) -> BookingMessage:
    return BookingMessage(
        tenant=context.tenant,
        source=context.source,
        booking_id=deal_id,
        status=BookingStatus.cancelled,
        updated_at=updated_at,
    )


def pd_time(value: Any) -> datetime | None:
    """Pipedrive's times: ``YYYY-MM-DD HH:MM:SS`` (UTC), RFC 3339, or unix seconds."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def options_of(context: ParseContext) -> Options:
    if isinstance(context.options, Options):
        return context.options
    return Options.model_validate(context.options or {})


def _customer(deal: Deal, lookup: Lookup | None) -> Person:
    """The deal's person: inline when the payload has the email, else looked up by id (a v1
    webhook names the person but carries no email), else the inline name, else the
    organization or the deal title."""
    if deal.person_name and deal.person_email:
        return person(deal.person_name, deal.person_email, field="deal.person_name")
    if lookup is not None and deal.person_id is not None:
        found = lookup(deal.person_id)
        if found is not None:
            return found
    if deal.person_name:
        return person(deal.person_name, deal.person_email, field="deal.person_name")
    return Person(name=(deal.org_name or deal.title or f"Deal {deal.id}")[:300])


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _primary_email(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    entries = [e for e in value if isinstance(e, Mapping) and isinstance(e.get("value"), str)]
    entries.sort(key=lambda e: not e.get("primary"))
    return entries[0]["value"] if entries else None
