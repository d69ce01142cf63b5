"""Helpers connectors share when turning a vendor payload into ``BookingMessage``s.

Each helper answers one recurring question the same way everywhere: is the body JSON, which
field failed validation, is this location text a street address or a meeting link (or an
integration name that is neither), and who is this person. Errors are ``PayloadError``s that
name the field; messages never quote the value (it may be personal data).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from integrations.booking import BookingMessage, Person
from integrations.errors import PayloadError

M = TypeVar("M", bound=BaseModel)

HTTPS_URL = re.compile(r"^https://\S+$")
ANY_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
PHONE = re.compile(r"^\+?[\d\s().-]{6,}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_DEPTH = 64  # nesting levels a JSON body may have
_SURROGATE = re.compile("[\ud800-\udfff]")  # left alone by json.loads when unpaired
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # paired or not


def load_json(body: bytes) -> Any:
    """The decoded body, or a PayloadError saying why it is not JSON we can read.

    The one JSON reader of every connector: a body nested deeper than ``MAX_DEPTH`` (no
    vendor's payload comes close), carrying an integer too long to convert, or text with a
    lone surrogate escape (``"\\ud800"``: valid JSON, but not Unicode, so no model or
    database takes it) is refused like malformed JSON, so signed input can never crash the
    ingress (a RecursionError there was a 500 the vendor retried forever)."""
    try:
        raw = json.loads(body)
    except UnicodeDecodeError:
        raise PayloadError("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON ({exc.msg})") from None
    except RecursionError:
        raise PayloadError(f"body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # e.g. an integer past Python's digit limit for conversion
        raise PayloadError("body holds a number too large to read") from None
    problem = _unusable(raw, texts=_SURROGATE_ESCAPE.search(body) is not None)
    if problem:
        raise PayloadError(problem)
    return raw


def _unusable(value: Any, *, texts: bool) -> str | None:
    """Why a decoded body cannot be used: nested too deep, or (``texts``: the body has a
    surrogate escape) text that is not Unicode. Walked without recursion."""
    stack: list[tuple[Any, int]] = [([value], 0)]  # the body itself is the one child
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"body is nested deeper than {MAX_DEPTH} levels"
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif texts and isinstance(child, str) and _SURROGATE.search(child):
                return "body holds text that is not Unicode (a lone surrogate escape)"
    return None


def load_object(body: bytes) -> dict[str, Any]:
    """The decoded body when it is a JSON object."""
    raw = load_json(body)
    if not isinstance(raw, dict):
        raise PayloadError("body is not a JSON object", field="(body)")
    return raw


def read_model(model: type[M], body: bytes) -> M:
    """The delivery's JSON object as ``model``; a PayloadError naming the field otherwise."""
    try:
        return model.model_validate(load_object(body))
    except ValidationError as exc:
        raise payload_error(exc) from None


def payload_error(exc: ValidationError, *, prefix: str = "", whole: str = "(body)") -> PayloadError:
    """The first validation problem as a PayloadError naming the field (never the value);
    ``whole`` names what a problem of the whole record (no field) is about."""
    first = exc.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    field = ".".join(part for part in (prefix, path) if part) or whole
    return PayloadError(first["msg"], field=field)


def build_message(*, whole: str, **fields: Any) -> BookingMessage:
    """The BookingMessage a client mapped from a vendor record; a value it refuses is a
    PayloadError naming the field (``whole``: the record, for a problem of no one field)."""
    try:
        return BookingMessage(**fields)
    except ValidationError as exc:
        raise payload_error(exc, whole=whole) from None


def meeting_url(value: object) -> str | None:
    """``value`` when it is a usable ``https://`` link (the only kind a platform may show)."""
    if isinstance(value, str) and HTTPS_URL.match(value.strip()) and len(value.strip()) <= 2000:
        return value.strip()
    return None


def place(value: object, *, app_names: frozenset[str] = frozenset()) -> str | None:
    """``value`` when it reads as a physical place: not a URL, phone number or app name.

    Schedulers put many things in one "location" string; only a street address or venue name
    may ever reach a platform as a physical address. ``app_names`` lists the vendor's own
    location-type identifiers (never addresses)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or ANY_URL.match(text) or PHONE.match(text):
        return None
    if text.startswith("integrations:") or text in app_names:
        return None
    return text[:1000]


def phone_call(number: object, *, caller: str | None = None) -> str | None:
    """Location text for a booking held by phone ("Phone call: +44 20 7946 0958"), or None
    when ``number`` is not a phone number.

    ``caller`` says who dials: ``"host"`` (the host calls the booker on the booker's number)
    or ``"booker"`` (the booker calls the host's number); None when the vendor does not say.
    The number is personal data: it goes to the platform as the event's location, never into
    a log line or an error message."""
    if not isinstance(number, str):
        return None
    text = number.strip()
    if text.lower().startswith("tel:"):
        text = text[4:].strip()
    if not PHONE.match(text) or len(text) > 40 or sum(c.isdigit() for c in text) < 6:
        return None
    how = {"host": "the host calls ", "booker": "dial "}.get(caller or "", "")
    return f"Phone call: {how}{text}"


def person(name: object, email: object, *, field: str, fallback: str | None = None) -> Person:
    """A Person from loose vendor values: the name falls back to the email address, then to
    ``fallback`` (e.g. "Customer 42"), else it is a PayloadError naming ``field``."""
    address = email.strip() if isinstance(email, str) and EMAIL.match(email.strip()) else None
    if address is not None and len(address) > 320:
        address = None
    shown = name.strip() if isinstance(name, str) and name.strip() else address or fallback
    if not shown:
        raise PayloadError("a name or an email address is required", field=field)
    return Person(name=shown[:300], email=address)


def people(entries: Iterable[tuple[object, object]], *, exclude: set[str]) -> list[Person]:
    """Attendees from (name, email) pairs: unusable ones skipped, duplicates dropped."""
    seen = {e.lower() for e in exclude}
    found: list[Person] = []
    for name, email in entries:
        try:
            entry = person(name, email, field="attendees")
        except PayloadError:
            continue
        key = (entry.email or entry.name).lower()
        if key in seen:
            continue
        seen.add(key)
        found.append(entry)
    return found


def iana_zone(value: object) -> str | None:
    """``value`` when it names an IANA time zone, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value.strip()


def as_utc(value: datetime | date) -> datetime:
    """A backfill's ``since`` as an aware UTC instant (a date means its UTC midnight)."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
