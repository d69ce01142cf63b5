"""Retention: personal data and raw deliveries of bookings whose event ended
``retention_days`` ago are purged by the beat job; recent ones are kept. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from config.settings import Settings
from config.tenants import load_tenants
from tests.support import ServerThread, booking
from worker.celery_app import create_celery
from worker.intake.api import publish_booking
from worker.privacy.retention import purge
from worker.runtime import Runtime
from worker.store.migrate import migrate
from worker.store.models import (
    AlertRow,
    AttemptRow,
    AuditRecord,
    Booking,
    Delivery,
    SyncIntent,
)
from worker.sync import bookings as sync
from worker.sync import intents

OLD = {"name": "Zoë Ångström", "email": "zoe@example.com"}
NEW = {"name": "Ada Byron", "email": "ada@example.org"}
GUEST = {"name": "Björn Nilsson", "email": "bjorn@example.org"}
NOTHING = {
    "bookings": 0,
    "intents": 0,
    "deliveries": 0,
    "attempts": 0,
    "intents_pruned": 0,
    "alerts_pruned": 0,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_runtime(
    request: pytest.FixtureRequest, settings: Settings, sandbox: ServerThread
) -> Iterator[Runtime]:
    """The test's runtime on SQLite, or on a PostgreSQL database of its own."""
    if request.param == "postgresql":
        settings = settings.model_copy(
            update={"database_url": request.getfixturevalue("empty_database")}
        )
    tenants = load_tenants(settings.tenants_file, secrets_file=settings.secrets_file)  # type: ignore[arg-type]
    rt = Runtime(settings, tenants=tenants)
    migrate(rt.store)
    yield rt
    rt.close()


def stored(rt: Runtime, external_id: str) -> Booking:
    with rt.store.transaction() as session:
        found = session.scalar(select(Booking).where(Booking.external_id == external_id))
        assert found is not None
        return found


def test_purge_anonymises_ended_bookings_and_keeps_recent_ones(store_runtime: Runtime) -> None:
    rt = store_runtime
    now = datetime.now(UTC) + timedelta(days=200)  # every delivery is older than the cutoff
    ended = publish_booking(
        rt, tenant="acme", booking=booking("rt-old", customer=OLD, attendees=[GUEST])
    )
    ahead = publish_booking(
        rt,
        tenant="acme",
        booking=booking(
            "rt-new",
            customer=NEW,
            start=(now - timedelta(days=10)).isoformat(),
            end=(now - timedelta(days=10) + timedelta(hours=2)).isoformat(),
        ),
    )
    orphan = publish_booking(rt, tenant="acme", booking=b'{"not": "a booking", "x": "zoe"}')
    assert orphan.outcome == "quarantined"
    for receipt in (ended, ahead):
        for booking_id in receipt.bookings:
            assert sync.sync_booking(rt, booking_id, now=datetime.now(UTC)).outcome == "created"

    done = purge(rt, now=now, days=90)

    assert (done.bookings, done.deliveries) == (1, 2)
    assert done.attempts >= 1 and done.intents >= 1
    old = stored(rt, "rt-old")
    people = [old.message["customer"], *old.message["attendees"]]
    assert all(p["name"].startswith("erased-") and p["email"].endswith("@invalid") for p in people)
    assert len({p["email"] for p in people}) == 2
    assert old.external_id == "rt-old" and old.state == "synced"
    assert stored(rt, "rt-new").message["customer"] == NEW
    with rt.store.transaction() as session:
        bodies = {d.id: d for d in session.scalars(select(Delivery))}
        assert bodies[ended.delivery_id].body == b""
        assert "retention" in bodies[ended.delivery_id].headers["x-bookwire-erased"]
        assert bodies[orphan.delivery_id].body == b""
        assert bodies[orphan.delivery_id].status == "quarantined"
        assert b"ada@example.org" in bodies[ahead.delivery_id].body
        [old_id], [new_id] = ended.bookings, ahead.bookings
        excerpts = {a.booking_id: a.excerpt for a in session.scalars(select(AttemptRow))}
        assert excerpts[old_id] == "" and excerpts[new_id] != ""
        intents = session.scalars(select(SyncIntent).where(SyncIntent.booking_id == old_id)).all()
        assert all(i.message is None or "Zo" not in str(i.message) for i in intents)
        audit = session.scalars(select(AuditRecord)).all()
        assert [(a.action, a.actor, a.counts["bookings"]) for a in audit] == [("purge", "beat", 1)]

    again = purge(rt, now=now, days=90)  # nothing left: no change, no audit row
    assert again.counts() == NOTHING
    with rt.store.transaction() as session:
        assert len(session.scalars(select(AuditRecord)).all()) == 1


def test_nothing_is_purged_within_the_retention(store_runtime: Runtime) -> None:
    rt = store_runtime
    publish_booking(rt, tenant="acme", booking=booking("rt-keep", customer=OLD))
    # the party ended 2026-07-16 02:00 UTC; 90 days later it is still kept
    done = purge(rt, now=datetime(2026, 10, 13, tzinfo=UTC), days=90)
    assert done.counts() == NOTHING
    assert stored(rt, "rt-keep").message["customer"] == OLD


def test_a_purged_booking_still_syncs_a_later_change(store_runtime: Runtime) -> None:
    rt = store_runtime
    first = publish_booking(rt, tenant="acme", booking=booking("rt-later", customer=OLD))
    [booking_id] = first.bookings
    sync.sync_booking(rt, booking_id, now=datetime.now(UTC))
    purge(rt, now=datetime.now(UTC) + timedelta(days=400), days=90)
    later = booking(
        "rt-later", customer=OLD, location="Pier 17", updated_at="2026-06-09T10:00:00+00:00"
    )
    assert publish_booking(rt, tenant="acme", booking=later).outcome == "accepted"
    assert sync.sync_booking(rt, booking_id, now=datetime.now(UTC)).outcome == "updated"


def test_finished_intents_are_pruned_after_a_week_but_recovery_state_is_kept(
    store_runtime: Runtime,
) -> None:
    """Recovery reads unfinished intents and refused creates (the next create key): those stay;
    a finished create or update older than a week goes, whatever the retention."""
    rt = store_runtime
    [booking_id] = publish_booking(rt, tenant="acme", booking=booking("rt-prune")).bookings
    assert sync.sync_booking(rt, booking_id, now=datetime.now(UTC)).outcome == "created"
    started = datetime.now(UTC)
    with rt.store.engine.begin() as conn:
        refused, _unfinished = intents.write(
            conn,
            [
                intents.Planned(booking_id, 1, intents.Operation.create, "rt-prune", None),
                intents.Planned(booking_id, 2, intents.Operation.update, None, None),
            ],
            now=started,
        )
        done = intents.Finished(refused, booking_id, intents.Outcome.refused, None, False)
        intents.finish(conn, [done], now=started)

    def kept() -> list[tuple[str, str | None]]:
        with rt.store.transaction() as session:
            rows = session.scalars(select(SyncIntent).where(SyncIntent.booking_id == booking_id))
            return sorted((i.operation, i.outcome) for i in rows)

    assert purge(rt, now=started + timedelta(days=6), days=3650).intents_pruned == 0
    assert purge(rt, now=started + timedelta(days=8), days=3650).intents_pruned == 1
    assert kept() == [("create", "refused"), ("update", None)]
    with rt.store.engine.begin() as conn:  # the next create still moves on to the next key
        assert intents.history(conn, [booking_id])[booking_id].key_for("rt-prune") == "rt-prune.2"


def test_closed_and_sent_alerts_are_pruned_after_30_days(store_runtime: Runtime) -> None:
    rt = store_runtime
    at = datetime(2026, 6, 1, tzinfo=UTC)

    def episode(group: str, *, closed: bool, sent: bool) -> AlertRow:
        return AlertRow(
            group_key=group,
            open_key=None if closed else group,
            kind="failure",
            tenant="acme",
            title="t",
            text="x",
            command="bookwire failures",
            count=1,
            opened_at=at,
            closed_at=at if closed else None,
            sent_at=at if sent else None,
        )

    with rt.store.transaction() as session:
        session.add_all(
            [
                episode("failure:acme:sync:generic", closed=True, sent=True),
                episode("failure:acme:parse:generic", closed=True, sent=False),  # still to go
                episode("drift:acme:stale", closed=False, sent=True),  # still open
            ]
        )
    assert purge(rt, now=at + timedelta(days=29), days=3650).alerts_pruned == 0
    assert purge(rt, now=at + timedelta(days=31), days=3650).alerts_pruned == 1
    with rt.store.transaction() as session:
        left = sorted(a.group_key for a in session.scalars(select(AlertRow)))
    assert left == ["drift:acme:stale", "failure:acme:parse:generic"]


def test_beat_purges_on_the_configured_interval(settings: Settings) -> None:
    app = create_celery(settings.model_copy(update={"retention_interval": 600.0}))
    assert app.conf.beat_schedule["purge-expired"] == {
        "task": "bookwire.purge_expired",
        "schedule": 600.0,
    }
    assert Settings.model_fields["retention_days"].default == 90
