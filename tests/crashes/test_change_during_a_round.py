"""A change that lands while a round is on the platform, then a kill in the next round: the
booking must stay visibly pending so the relay brings it back (found by the chaos run: it was
marked ``synced`` at the older version and nothing ever picked it up again)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.crashes.conftest import die_at
from tests.crashes.test_sync_crash_points import MOVED, assert_platform_holds, publish, reference_of
from tests.support import ServerThread
from worker.runtime import Runtime
from worker.store.models import Booking, SyncIntent
from worker.sync import bookings as sync
from worker.sync import relay

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_a_change_during_the_call_then_a_kill_is_relayed_not_stranded(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    ours = publish(runtime, "mid-round", 1)
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 1500}).raise_for_status()

    # the reschedule arrives while the first round's create is on the platform: its intent is
    # committed, the platform takes 1.5 s to answer
    def reschedule_during_the_call() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with runtime.store.transaction() as session:
                if session.query(SyncIntent).filter_by(booking_id=ours).count():
                    break
            time.sleep(0.05)
        publish(runtime, "mid-round", 2, status="rescheduled", **MOVED)

    later = threading.Thread(target=reschedule_during_the_call)
    later.start()
    started = time.monotonic()
    die_at(runtime, "before-call#2", "sync", ours, now=NOW)  # killed in the round for version 2
    later.join()
    assert time.monotonic() - started > 1.5  # the first round did reach the platform
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 0}).raise_for_status()
    with runtime.store.transaction() as session:
        stored = session.get(Booking, ours)
        assert stored is not None
        assert (stored.version, stored.applied_version, stored.state) == (2, 1, "pending")
    # nothing is queued for it any more: only the relay can bring it back
    overdue = datetime.now(UTC) + timedelta(seconds=runtime.settings.relay_after + 1)
    assert relay.relay_once(runtime, now=overdue) >= 1
    assert sync.sync_booking(runtime, ours, now=NOW).outcome == "updated"
    assert_platform_holds(sandbox, reference_of(runtime, ours), {"status": "confirmed", **MOVED})
