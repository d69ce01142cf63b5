"""Event names and descriptions from the tenant's templates over booking fields.

Templates use ``str.format`` placeholders such as ``{customer.name} – {title}``. The fields a
template may use are listed once here (``TEMPLATE_FIELDS``) and checked when the tenants file
loads, so an unknown field is a configuration error, never a runtime surprise.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from zoneinfo import ZoneInfo

from config.tenants import template_fields
from integrations.booking import BookingMessage


def _local(booking: BookingMessage, fmt: str) -> str:
    if booking.start is None or booking.timezone is None:
        return ""
    return booking.start.astimezone(ZoneInfo(booking.timezone)).strftime(fmt)


TEMPLATE_FIELDS: dict[str, Callable[[BookingMessage], str]] = {
    "title": lambda b: b.title or "",
    "customer.name": lambda b: b.customer.name if b.customer else "",
    "customer.email": lambda b: (b.customer.email or "") if b.customer else "",
    "location": lambda b: b.location or "",
    "client": lambda b: b.client or "",
    "booking_id": lambda b: b.booking_id,
    "source": lambda b: b.source,
    "tenant": lambda b: b.tenant,
    "timezone": lambda b: b.timezone or "",
    "date": lambda b: _local(b, "%Y-%m-%d"),
    "time": lambda b: _local(b, "%H:%M"),
}


def unknown_fields(template: str) -> list[str]:
    """Placeholders in ``template`` that are not booking fields."""
    return [name for name in template_fields(template) if name not in TEMPLATE_FIELDS]


def render(template: str, booking: BookingMessage, *, limit: int | None = None) -> str:
    """Fill ``template`` from ``booking``; cut to ``limit`` characters with an ellipsis."""
    parts: list[str] = []
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        parts.append(literal)
        if field:
            parts.append(TEMPLATE_FIELDS[field](booking))
    return truncate(" ".join("".join(parts).split()), limit)


def truncate(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
