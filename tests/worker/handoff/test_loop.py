"""The whole loop: booking → event on the platform → time passes → the album link arrives at
the client's portal once, and ``bookwire status`` shows it. Time passes for both sides: our
injected ``now`` and the guest-media sandbox's clock (its fault knob ``clock_offset_s``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import Process, ServerThread, bookwire_env, wait_for, worker_argv
from tests.worker.handoff.conftest import book, deliveries, received
from worker.handoff import schedule
from worker.handoff.hand_off import hand_off
from worker.ops.status import timeline
from worker.runtime import Runtime

START, END = "2030-07-15T18:00:00-04:00", "2030-07-15T22:00:00-04:00"
ENDS = datetime(2030, 7, 16, 2, 0, tzinfo=UTC)
GRACE = timedelta(minutes=30)  # tenant media


def platform_clock(sandbox: ServerThread, at: datetime) -> None:
    """Move the sandbox's clock to ``at`` (time passes for the platform too)."""
    offset = at.timestamp() - time.time()
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"clock_offset_s": offset}, timeout=5)


def test_album_link_reaches_the_portal_once(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread
) -> None:
    booking_id = book(
        runtime, "media", booking_id="loop-1", start=START, end=END, now=datetime.now(UTC)
    )
    [link_row] = [timeline(runtime, booking_id)["event"]]
    assert link_row["platform"] == "guestmedia"
    assert schedule.queue_due(runtime, now=ENDS + GRACE - timedelta(seconds=1)) == []

    # due by our clock, but the provider is still taking uploads: not ready, nothing sent
    platform_clock(sandbox, ENDS - timedelta(minutes=5))
    due = ENDS + GRACE
    assert schedule.queue_due(runtime, now=due) == [booking_id]
    assert hand_off(runtime, booking_id, now=due) == "not-ready"
    assert received(portal) == []

    # time passes: the event has ended on the platform and the album exists
    platform_clock(sandbox, ENDS + timedelta(minutes=40))
    later = due + schedule.REQUEUE_AFTER
    assert schedule.queue_due(runtime, now=later) == [booking_id]
    assert hand_off(runtime, booking_id, now=later) == "delivered"
    assert schedule.queue_due(runtime, now=later + timedelta(hours=1)) == []
    assert hand_off(runtime, booking_id, now=later) == "already delivered"

    [hook] = received(portal)
    data = hook["body"]["data"]
    event_id = timeline(runtime, booking_id)["event"]["event_id"]
    assert data["kind"] == "album"
    assert data["album_url"] == f"https://media.sandbox.test/albums/{event_id}"
    assert data["event"] == {
        "platform": "guestmedia",
        "id": event_id,
        "starts_at": "2030-07-15T22:00:00Z",
        "ends_at": "2030-07-16T02:00:00Z",
        "timezone": "America/New_York",
    }
    status = timeline(runtime, booking_id)
    shown = status["portal_delivery"]
    assert shown["state"] == "delivered" and shown["attempts"] == 2
    assert shown["delivered"]["album_url"] == data["album_url"]
    assert shown["key"] == hook["target"]
    assert any("album delivered to the webhook portal" in line for line in status["timeline"])
    assert "zoe@example.com" not in json.dumps(status)


@pytest.mark.slow
def test_a_real_worker_delivers_once_despite_redelivered_tasks(
    runtime: Runtime,
    settings: Settings,
    sandbox: ServerThread,
    portal: ServerThread,
    tmp_path: Path,
) -> None:
    booking_id = book(
        runtime, "media", booking_id="loop-2", start=START, end=END, now=datetime.now(UTC)
    )
    platform_clock(sandbox, ENDS + timedelta(minutes=40))
    env = bookwire_env(settings_env(settings))
    worker = Process(worker_argv(2), env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: "ready" in worker.output(), timeout=30)
        assert schedule.sweep(runtime, now=ENDS + GRACE) == 1
        schedule.publish(runtime, [booking_id, booking_id])  # the same task, delivered again
        wait_for(lambda: received(portal), timeout=20)
        wait_for(lambda: deliveries(runtime, booking_id)[0].state == "delivered", timeout=10)
        time.sleep(1.0)  # let the repeats run
    finally:
        worker.stop()
    assert len(received(portal)) == 1
    assert "bookwire.hand_off" in worker.output()
