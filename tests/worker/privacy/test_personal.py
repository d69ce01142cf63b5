"""Anonymisation of stored bookings (``worker.privacy.personal``) for any mix of people, and
``erase`` on PostgreSQL (the SQLite file-bytes test is in tests/ops/test_erase.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from config.settings import Settings
from config.tenants import load_tenants
from integrations.booking import BookingMessage
from tests.support import booking
from worker.intake.api import publish_booking
from worker.privacy import personal
from worker.privacy.erase import erase
from worker.runtime import Runtime
from worker.store.migrate import migrate
from worker.store.models import AuditRecord, Booking, Delivery

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)
emails = st.from_regex(r"[a-z0-9._+]{1,12}@example\.(org|com)", fullmatch=True)
people = st.builds(lambda n, e: {"name": n.strip() or "x", "email": e}, names, emails)


def message(customer: dict[str, str], attendees: list[dict[str, str]]) -> dict[str, object]:
    body = booking("p-1", customer=customer, attendees=attendees)
    return BookingMessage.model_validate(
        {**body, "tenant": "acme", "source": "generic"}
    ).model_dump(mode="json")


@given(customer=people, attendees=st.lists(people, max_size=5), pick=st.integers(0, 5))
def test_the_person_named_is_a_pseudonym_everywhere_and_nobody_else_changes(
    customer: dict[str, str], attendees: list[dict[str, str]], pick: int
) -> None:
    everyone = [customer, *attendees]
    gone = everyone[pick % len(everyone)]["email"].upper()  # any case finds them
    before = message(customer, attendees)

    after, replaced = personal.anonymise(
        before, key="acme:generic:p-1", match=personal.by_email(gone)
    )

    BookingMessage.model_validate(after)  # still a booking: a later change still syncs
    was = [before["customer"], *before["attendees"]]  # type: ignore[misc]
    now = [after["customer"], *after["attendees"]]
    for old, new in zip(was, now, strict=True):
        if old["email"] == gone.lower():
            assert personal.is_pseudonym(new) and new != old
        else:
            assert new == old
    assert gone.lower() not in json.dumps([after["title"], after["location"]]).lower()
    assert replaced and gone.lower() in [r.lower() for r in replaced]
    # stable: erasing again changes nothing
    assert (
        personal.anonymise(after, key="acme:generic:p-1", match=personal.by_email(gone))[0] == after
    )


@given(address=emails)
def test_every_stored_form_of_an_address_is_found(address: str) -> None:
    bodies = [
        json.dumps({"email": address.upper()}).encode(),
        f"email={address.replace('@', '%40').replace('+', '%2B')}&x=1".encode(),
        json.dumps({"email": address}).replace("@", "\\u0040").encode(),
    ]
    needles = personal.forms(address)
    assert all(personal.mentions(body, needles) for body in bodies)
    assert not personal.mentions(b'{"email": "someone@else.net"}', needles)


@pytest.fixture
def pg_runtime(settings: Settings, empty_database: str) -> Iterator[Runtime]:
    pg = settings.model_copy(update={"database_url": empty_database})
    rt = Runtime(pg, tenants=load_tenants(pg.tenants_file, secrets_file=pg.secrets_file))  # type: ignore[arg-type]
    migrate(rt.store)
    yield rt
    rt.close()


def test_erase_on_postgresql(pg_runtime: Runtime) -> None:
    rt = pg_runtime
    zoe = {"name": "Zoë Ångström", "email": "zoe@example.com"}
    mine = publish_booking(rt, tenant="acme", booking=booking("pg-1", customer=zoe))
    other = publish_booking(
        rt,
        tenant="acme",
        booking=booking("pg-2", attendees=[], customer={"name": "Ada", "email": "ada@example.org"}),
    )

    done = erase(rt, "ZOE@example.com", now=datetime.now(UTC))

    assert (done.bookings, done.deliveries, done.compacted) == (1, 1, True)
    with rt.store.transaction() as session:
        rows = {b.external_id: b for b in session.scalars(select(Booking))}
        assert personal.is_pseudonym(rows["pg-1"].message["customer"])
        assert rows["pg-2"].message["customer"]["email"] == "ada@example.org"
        assert session.get_one(Delivery, mine.delivery_id).body == b""
        assert session.get_one(Delivery, other.delivery_id).body != b""
        [row] = session.scalars(select(AuditRecord)).all()
        assert (row.action, row.actor, row.counts["bookings"]) == ("erase", "cli", 1)
        assert "zo" not in json.dumps(row.counts).lower()
