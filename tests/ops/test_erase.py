"""``bookwire erase --email``: one person gone from every stored byte, the booking still syncs.

A real delivery through the ingress (raw bytes in the inbox), a real sync against the sandbox
(the platform's answer, which names the customer, kept as the attempt's excerpt), then the
command; the SQLite file and its WAL are read as bytes afterwards.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from config.settings import Settings
from tests.support import ServerThread, booking, gomry_events, signed
from worker.ingress.app import create_app
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.models import (
    AttemptRow,
    AuditRecord,
    Booking,
    Delivery,
    Failure,
    SyncIntent,
)
from worker.sync import bookings as sync

Cli = Callable[..., tuple[int, str]]

EMAIL = "zoe@example.com"
NAME = "Zoë Ångström"
ATTENDEE = {"name": "Björn Nilsson", "email": "bjorn@example.org"}
# how the two may sit in a file: UTF-8, JSON's ASCII escapes, URL-encoded
TRACES = [
    EMAIL.encode(),
    NAME.encode(),
    json.dumps(NAME)[1:-1].encode(),
    b"zoe%40example.com",
    "Ångström".encode(),
    json.dumps("Ångström")[1:-1].encode(),
]


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


def deliver(ingress: ServerThread, body: dict[str, object]) -> int:
    raw, headers = signed(body)
    response = httpx.post(
        f"{ingress.url}/webhooks/generic/acme", content=raw, headers=headers, timeout=10
    )
    assert response.status_code == 202, response.text
    return int(response.json()["inbox_id"])


def database_bytes(settings: Settings) -> bytes:
    path = Path((settings.database_url or "").split("///", 1)[1])
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def traces(blob: bytes) -> list[bytes]:
    lowered = blob.lower()
    return [t for t in TRACES if t.lower() in lowered]


def broker_bytes(runtime: Runtime) -> bytes:
    """Every key and value in the test's broker database, task bodies base64-decoded."""
    client = redis.Redis.from_url(runtime.settings.resolved_redis_url)
    out: list[bytes] = []
    values: list[Any]
    for key in client.scan_iter():
        out.append(key)
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key) or b""]
        elif kind == b"list":
            values = list(client.lrange(key, 0, -1))
        elif kind == b"hash":
            values = [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == b"set":
            values = list(client.smembers(key))
        else:
            values = list(client.zrange(key, 0, -1))
        for value in values:
            out.append(value)
            with contextlib.suppress(ValueError, TypeError, KeyError, binascii.Error):
                out.append(base64.b64decode(json.loads(value)["body"]))
    return b"\n".join(out)


def stored_booking(runtime: Runtime, external_id: str) -> Booking:
    with runtime.store.transaction() as session:
        found = session.scalar(select(Booking).where(Booking.external_id == external_id))
        assert found is not None
        return found


def test_erase_leaves_no_byte_of_the_person_and_the_booking_still_syncs(
    runtime: Runtime, settings: Settings, sandbox: ServerThread, ingress: ServerThread, cli: Cli
) -> None:
    body = booking("er-1", customer={"name": NAME, "email": "Zoe@Example.com"})
    body["attendees"] = [ATTENDEE]
    inbox_id = deliver(ingress, body)
    other_id = deliver(ingress, booking("er-2", customer={"name": "Ada", "email": "ada@x.org"}))
    booking_id = stored_booking(runtime, "er-1").id
    assert sync.sync_booking(runtime, booking_id, now=datetime.now(UTC)).outcome == "created"
    with runtime.store.transaction() as session:  # the platform's answer names her
        excerpts = session.scalars(
            select(AttemptRow.excerpt).where(AttemptRow.booking_id == booking_id)
        ).all()
    assert any("Zo" in e for e in excerpts)
    assert traces(database_bytes(settings)), "the test must see her before the erase"
    broker = broker_bytes(runtime)  # queued tasks (ids only), locks, counters
    assert b"sync_booking" in broker and traces(broker) == []

    code, out = cli("erase", "--email", "ZOE@example.COM", "--json")

    assert code == 0
    counts = json.loads(out)
    assert counts["bookings"] == 1 and counts["deliveries"] == 1 and counts["compacted"]
    assert counts["attempts"] >= 1 and counts["intents"] >= 1
    assert EMAIL not in out.lower() and "zo" not in out.lower()
    assert traces(database_bytes(settings)) == []
    erased = stored_booking(runtime, "er-1")
    customer = erased.message["customer"]
    assert customer["name"].startswith("erased-") and customer["email"].endswith("@invalid")
    assert erased.message["attendees"] == [ATTENDEE]  # only the person named is erased
    assert erased.message["title"] == body["title"] and erased.version == 1
    with runtime.store.transaction() as session:
        delivery = session.get_one(Delivery, inbox_id)
        assert delivery.body == b"" and delivery.status == "accepted"
        assert session.get_one(Delivery, other_id).body != b""  # nobody else's
        intents = session.scalars(
            select(SyncIntent.message).where(SyncIntent.booking_id == booking_id)
        ).all()
        assert intents and all(m is None or m["customer"] == customer for m in intents)

    # status says so, with the same key, and replaying the emptied delivery is refused
    code, out = cli("status", "er-1")
    shown = json.loads(out)
    assert code == 0 and shown["personal_data"] == "erased"
    assert shown["key"] == "acme:generic:er-1"
    assert [d["raw_body"] for d in shown["deliveries"]] == ["erased"]
    assert any(f"delivery {inbox_id} raw body erased (erase)" in line for line in shown["timeline"])
    code, out = cli("replay", "--delivery", str(inbox_id))
    assert code == 0 and "not replayed" in out and "erased" in out

    # a later change from the source still syncs onto the same event
    later = booking(
        "er-1",
        customer={"name": NAME, "email": EMAIL},
        start="2026-07-16T18:00:00-04:00",
        end="2026-07-16T22:00:00-04:00",
        updated_at="2026-06-05T10:00:00+00:00",
    )
    receipt = publish_booking(runtime, tenant="acme", booking=later)
    assert receipt.outcome == "accepted" and list(receipt.bookings) == [booking_id]
    assert sync.sync_booking(runtime, booking_id, now=datetime.now(UTC)).outcome == "updated"
    [event] = [e for e in gomry_events(sandbox.url) if e["id"] == shown["event"]["event_id"]]
    assert "2026-07-16" in json.dumps(event) and "2026-07-15" not in json.dumps(event)
    code, out = cli("status", "er-1")
    assert json.loads(out)["personal_data"] == "kept"  # the source sent her again


def test_audit_rows_count_without_naming_anyone(
    runtime: Runtime, ingress: ServerThread, cli: Cli
) -> None:
    deliver(ingress, booking("au-1", customer={"name": NAME, "email": EMAIL}))
    assert cli("erase", "--email", EMAIL, "--tenant", "acme")[0] == 0
    assert cli("replay", "--booking", str(stored_booking(runtime, "au-1").id))[0] == 0
    with runtime.store.transaction() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        shown = [(r.action, r.actor, r.tenant, r.counts) for r in rows]
    assert [s[:3] for s in shown] == [("erase", "cli", "acme"), ("replay", "cli", None)]
    assert shown[0][3]["bookings"] == 1 and shown[0][3]["deliveries"] == 1
    assert shown[1][3] == {"failures": 0, "deliveries": 0, "bookings": 1}
    text = json.dumps(shown, default=str).lower()
    assert "zoe" not in text and "ngstr" not in text and "au-1" not in text


def test_erase_of_an_unknown_address_is_a_clean_no_op(
    runtime: Runtime, ingress: ServerThread, cli: Cli
) -> None:
    deliver(ingress, booking("no-1", customer={"name": NAME, "email": EMAIL}))
    before = stored_booking(runtime, "no-1").message

    code, out = cli("erase", "--email", "nobody@example.net")

    assert code == 0
    assert out.startswith("erased: 0 bookings, 0 intents, 0 deliveries, 0 attempts")
    assert stored_booking(runtime, "no-1").message == before


@pytest.mark.parametrize("email", ["", "not-an-address", "two words@x.org"])
def test_a_malformed_address_is_refused_without_echoing_it(cli: Cli, email: str) -> None:
    code, out = cli("erase", "--email", email)
    assert code == 2 and out == ""


def test_another_tenant_is_left_alone(runtime: Runtime, ingress: ServerThread, cli: Cli) -> None:
    deliver(ingress, booking("tn-1", customer={"name": NAME, "email": EMAIL}))
    code, out = cli("erase", "--email", EMAIL, "--tenant", "other", "--json")
    assert code == 0 and json.loads(out)["bookings"] == 0
    assert stored_booking(runtime, "tn-1").message["customer"]["email"] == EMAIL


def test_a_platform_error_quoting_the_person_is_scrubbed(
    runtime: Runtime, ingress: ServerThread, cli: Cli
) -> None:
    """Reasons and excerpts are written without people, but a platform's own error text (kept
    in a failure reason) or answer (an attempt of no booking) may quote them."""
    deliver(ingress, booking("pf-1", customer={"name": NAME, "email": EMAIL}))
    booking_id = stored_booking(runtime, "pf-1").id
    at = datetime.now(UTC)
    with runtime.store.transaction() as session:
        session.add(
            Failure(
                tenant="acme",
                source="generic",
                booking_id=booking_id,
                stage="sync",
                reason=f"gomry: HTTP 422: guest {EMAIL} ({NAME}) is invalid",
                first_seen=at,
                last_seen=at,
            )
        )
        session.add(
            AttemptRow(
                booking_id=None,
                target="gatsby",
                method="GET",
                path="/event/1/guestlist",
                status=200,
                duration_ms=1.0,
                excerpt=json.dumps({"guests": [{"email": EMAIL.upper()}]}),
                at=at,
            )
        )

    code, out = cli("erase", "--email", EMAIL, "--json")

    assert code == 0 and json.loads(out)["failures"] == 1
    with runtime.store.transaction() as session:
        [reason] = session.scalars(select(Failure.reason)).all()
        assert reason == "gomry: HTTP 422: guest [erased] ([erased]) is invalid"
        assert session.scalars(select(AttemptRow.excerpt)).all() == [""]


def test_reconcile_repair_carries_the_erasure_to_the_platforms_event(
    runtime: Runtime, sandbox: ServerThread, ingress: ServerThread, cli: Cli
) -> None:
    """The event's name carried the customer's name (the tenant's template): after an erase,
    reconcile reports it (the name differs) and ``--repair`` renames it to the pseudonym."""
    soon = datetime.now(UTC) + timedelta(days=3)
    deliver(
        ingress,
        booking(
            "rc-1",
            customer={"name": NAME, "email": EMAIL},
            start=soon.isoformat(),
            end=(soon + timedelta(hours=2)).isoformat(),
        ),
    )
    booking_id = stored_booking(runtime, "rc-1").id
    assert sync.sync_booking(runtime, booking_id, now=datetime.now(UTC)).outcome == "created"
    assert cli("erase", "--email", EMAIL)[0] == 0

    code, out = cli("reconcile", "--json")
    [drift] = json.loads(out)["drift"]
    assert code == 1 and (drift["kind"], drift["detail"]) == ("stale", "differs: name")
    assert cli("reconcile", "--repair")[0] == 0

    [event] = gomry_events(sandbox.url)
    assert event["name"].startswith("erased-") and "Zo" not in json.dumps(event)
