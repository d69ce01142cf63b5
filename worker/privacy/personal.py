"""Personal data at rest: what is personal in a stored booking, how it is replaced, and how the
replaced bytes are made really gone.

Shared by ``bookwire erase`` (one person, ``worker.privacy.erase``) and the retention job (everyone
on a
booking whose event ended long enough ago, ``worker.privacy.retention``).

- A person (customer or attendee) becomes a stable pseudonym: ``erased-<hash8>`` and
  ``erased-<hash8>@invalid``, the hash taken over the booking's key and the person's place in
  it, never over the address (a hash of an address can be matched against a guessed one). The
  same booking erased twice gets the same pseudonym; the message still validates, so a later
  change of the booking from its source syncs as usual.
- Their name or address in the title or location is replaced by the pseudonym too; a phone
  call's number in the location (the customer's, when the host calls) is dropped.
- A raw delivery loses its body and headers; the ``x-bookwire-erased`` header says when and why,
  and such a delivery is no longer replayable.
- On SQLite, the writes run with ``secure_delete`` (freed cells are zeroed), then the WAL is
  checkpointed and truncated (``compact`` also VACUUMs); on PostgreSQL ``compact`` VACUUMs the
  touched tables. PostgreSQL's WAL archive and backups keep old row versions until they rotate.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy.orm import Session

from worker.store.db import Store

ERASED_HEADER = "x-bookwire-erased"
PREFIX = "erased-"
DOMAIN = "@invalid"

Person = dict[str, Any]
Match = Callable[[Person], bool]


def pseudonym(seed: str) -> Person:
    """The stand-in for one person: the same seed always gives the same one."""
    tag = hashlib.sha256(f"bookwire-erased:{seed}".encode()).hexdigest()[:8]
    return {"name": f"{PREFIX}{tag}", "email": f"{PREFIX}{tag}{DOMAIN}"}


def is_pseudonym(person: Person | None) -> bool:
    if not isinstance(person, dict):
        return False
    name, email = str(person.get("name") or ""), person.get("email")
    return name.startswith(PREFIX) and (email is None or str(email).endswith(DOMAIN))


def by_email(address: str) -> Match:
    """People whose address is ``address`` (case-insensitive)."""
    wanted = address.strip().lower()
    return lambda person: str(person.get("email") or "").strip().lower() == wanted


def everyone(person: Person) -> bool:
    """Every person not already a pseudonym (retention)."""
    return not is_pseudonym(person)


def anonymise(
    message: dict[str, Any], *, key: str, match: Match
) -> tuple[dict[str, Any], list[str]]:
    """The message with every matching person replaced by their pseudonym, and the names and
    addresses that were replaced (to scrub them elsewhere). Unchanged when nobody matches."""
    out = dict(message)
    replaced: list[tuple[str, str]] = []  # (personal text, its stand-in)
    customer_gone = False
    people: list[tuple[str, Person | None]] = [("customer", message.get("customer"))]
    people += [(f"attendee:{i}", p) for i, p in enumerate(message.get("attendees") or [])]
    attendees = list(message.get("attendees") or [])
    for role, person in people:
        if not isinstance(person, dict) or not match(person):
            continue
        stand_in = pseudonym(f"{key}:{role}")
        for field in ("name", "email"):
            if person.get(field):
                replaced.append((str(person[field]), stand_in["name"]))
        if role == "customer":
            out["customer"] = stand_in
            customer_gone = True
        else:
            attendees[int(role.split(":", 1)[1])] = stand_in
    if not replaced:
        return message, []
    if "attendees" in message:
        out["attendees"] = attendees
    for field in ("title", "location"):
        if isinstance(out.get(field), str):
            out[field] = scrub(out[field], replaced)
    if customer_gone and str(out.get("location") or "").startswith("Phone call:"):
        out["location"] = "Phone call: (number erased)"
    return out, [text for text, _ in replaced]


def scrub(text: str, replaced: Iterable[tuple[str, str]]) -> str:
    """``text`` with each personal string (case-insensitive) replaced by its stand-in."""
    for personal, stand_in in sorted(replaced, key=lambda pair: -len(pair[0])):
        if personal:
            text = re.sub(re.escape(personal), stand_in, text, flags=re.IGNORECASE)
    return text


def forms(text: str) -> list[bytes]:
    """The lower-cased byte forms ``text`` takes in stored bodies: plain UTF-8, URL-encoded
    (form posts) and JSON-escaped (ASCII escapes, an escaped ``@``)."""
    lowered = text.strip().lower()
    escaped = json.dumps(lowered)[1:-1]
    candidates = {
        lowered,
        quote(lowered, safe="").lower(),
        quote_plus(lowered, safe="").lower(),
        escaped,
        escaped.replace("@", "\\u0040"),
        escaped.replace("/", "\\/"),
    }
    return sorted(form.encode() for form in candidates if form)


def mentions(body: bytes, needles: Iterable[bytes]) -> bool:
    lowered = body.lower()
    return any(needle in lowered for needle in needles)


def erased_headers(why: str, at: datetime) -> dict[str, str]:
    """What a delivery's headers become once its raw body is gone."""
    return {ERASED_HEADER: f"{why} at {at.isoformat()}"}


def is_erased(headers: dict[str, str] | None) -> bool:
    return bool(headers) and ERASED_HEADER in (headers or {})


@contextmanager
def secure_transaction(store: Store) -> Iterator[Session]:
    """A write transaction whose deleted and overwritten bytes SQLite zeroes (``secure_delete``
    is per connection: on for these statements, off again before the connection is pooled)."""
    with store.transaction() as session:
        sqlite = store.dialect == "sqlite"
        if sqlite:
            session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            yield session
            session.flush()
        finally:
            if sqlite:
                session.connection().exec_driver_sql("PRAGMA secure_delete=OFF")


def compact(store: Store, tables: Iterable[str], *, vacuum: bool = True) -> bool:
    """Make replaced bytes unreachable on disk; True when nothing was left behind.

    SQLite: ``VACUUM`` (rebuilds the file: no free page keeps old content) and
    ``wal_checkpoint(TRUNCATE)`` (the WAL's frames, which hold the old pages, are copied back
    and the file cut to zero bytes). False when a reader kept the checkpoint from finishing:
    run again. PostgreSQL: ``VACUUM`` of ``tables`` (dead row versions become free space)."""
    if store.dialect == "sqlite":
        raw = store.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if vacuum:
                cursor.execute("VACUUM")
            busy, _, _ = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
            return busy == 0
        finally:
            raw.close()
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in sorted(set(tables)):
            conn.exec_driver_sql(f'VACUUM "{name}"')
    return True
