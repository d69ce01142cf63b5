"""Each cause the issue names reaches the sink once, as its own wing records it: drift found by
a real reconcile against the sandbox, a source the health sweep finds silent, an event that
ended with no album handed off. No alert body carries a person or a secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integrations.platforms import submit
from tests.support import ServerThread
from tests.worker.alerts.conftest import SINK_SECRET, Sink
from worker.alerts import send
from worker.handoff import hand_off
from worker.intake import source_health
from worker.runtime import Runtime
from worker.store.models import EventLink, HandOff
from worker.sync import bookings as sync
from worker.sync import reconcile

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def synced(rt: Runtime, booking_id: str) -> int:
    [booking] = [submit(rt, booking_id)]
    results = sync.sync_bookings(rt, [booking], now=NOW)
    assert all(isinstance(r, sync.SyncResult) for r in results.values()), results
    return booking


def delete_event(rt: Runtime, sandbox: ServerThread, booking: int) -> None:
    """Deleted by hand in the platform's dashboard."""
    with rt.store.transaction() as session:
        link = session.get(EventLink, booking)
        assert link is not None
        event_id = link.event_id
    httpx.delete(f"{sandbox.url}/_sandbox/gomry/events/{event_id}").raise_for_status()


def texts(sink: Sink) -> list[str]:
    return [r.json()["text"] for r in sink.received]


def test_drift_found_by_reconcile_reaches_the_sink_once(
    runtime: Runtime, sink: Sink, sandbox: ServerThread
) -> None:
    first, second = synced(runtime, "d-1"), synced(runtime, "d-2")
    delete_event(runtime, sandbox, first)
    delete_event(runtime, sandbox, second)
    assert len(reconcile.reconcile(runtime, now=NOW).drift) == 2

    assert send.run(runtime, now=NOW) == 1
    reconcile.reconcile(runtime, now=LATER)  # the same drift found again
    assert send.run(runtime, now=LATER) == 0
    [text] = texts(sink)
    assert "acme: 2 missing drift items on gomry" in text
    assert "`bookwire reconcile --tenant acme --repair`" in text


def test_a_silent_source_reaches_the_sink_once(runtime: Runtime, sink: Sink) -> None:
    assert source_health.sweep(runtime, now=NOW) == 1  # generic: nothing in over an hour

    assert send.run(runtime, now=NOW) == 1
    assert source_health.sweep(runtime, now=LATER) == 1
    assert send.run(runtime, now=LATER) == 0
    [text] = texts(sink)
    assert "acme: source generic is silent" in text
    assert "`bookwire status --sources`" in text


def test_an_event_ended_with_no_album_handed_off_reaches_the_sink_once(
    runtime: Runtime, sink: Sink
) -> None:
    gave_up, late = synced(runtime, "h-1"), synced(runtime, "h-2")
    ended = NOW - timedelta(hours=12)
    with runtime.store.transaction() as session:
        for booking, key in ((gave_up, "bwd_gave_up"), (late, "bwd_late")):
            session.add(
                HandOff(
                    booking_id=booking,
                    tenant="acme",
                    portal="webhook",
                    platform="gomry",
                    event_id=f"ev-{booking}",
                    ends_at=ended,
                    due_at=ended + timedelta(hours=1),
                    delivery_key=key,
                    state="pending",
                    queued_at=ended,
                    created_at=ended,
                    updated_at=ended,
                )
            )
    hand_off.give_up(runtime, gave_up, "portal: HTTP 410: gone", now=NOW, attempts=9)

    assert send.run(runtime, now=NOW) == 1
    assert send.run(runtime, now=LATER) == 0
    [text] = texts(sink)
    assert "acme: 2 ended events with no album handed off" in text
    assert "1 hand-off to the portal gave up, 1 still not handed off 6 h after due" in text
    assert "`bookwire replay --matching --tenant acme --stage portal`" in text


@pytest.mark.parametrize("alert_format", ["slack", "webhook"])
def test_no_alert_body_names_a_person_or_carries_a_secret(
    runtime: Runtime, sink: Sink, sandbox: ServerThread, alert_format: str
) -> None:
    booking = synced(runtime, "p-1")  # Zoë Ångström, zoe@example.com
    delete_event(runtime, sandbox, booking)
    reconcile.reconcile(runtime, now=NOW)
    source_health.sweep(runtime, now=datetime.now(UTC) + timedelta(hours=2))  # silent since
    sync.fail(runtime, booking, "gomry: HTTP 422: zoe@example.com Zoë Ångström refused", now=NOW)

    assert send.run(runtime, now=NOW) == 3
    bodies = [r.body.decode() for r in sink.received]
    decoded: list[Any] = [r.json() for r in sink.received]
    for body in [*bodies, *map(str, decoded)]:
        for private in ("zoe@example.com", "Zoë", "Ångström", "Zo\\u00eb", SINK_SECRET):
            assert private not in body
    assert "T000/B000" not in "".join(bodies)  # the sink's own URL is a secret too
