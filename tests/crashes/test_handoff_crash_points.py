"""Kill the worker at every step of a portal hand-off, then change the booking: the portal is
handed each event end's deliverable under exactly one key, and the event's final end is
handed over exactly once.

The claim is the hand-off's write-ahead intent (``worker.handoff.hand_off``); a claim whose
outcome never committed is sent again, with the same key, once its lease has run out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.crashes.conftest import die_at
from tests.support import ServerThread
from tests.worker.handoff.conftest import book, change, received
from worker.crashpoints import POINTS
from worker.handoff import schedule
from worker.handoff.hand_off import hand_off
from worker.runtime import Runtime

SYNCED = datetime(2026, 6, 1, 12, tzinfo=UTC)
DUE = datetime(2026, 7, 16, 3, 0, tzinfo=UTC)  # 22:00 New York end + 60 min (tenant acme)
LEASE_OVER = DUE + timedelta(minutes=5)
MOVED = {"start": "2026-07-17T12:00:00-04:00", "end": "2026-07-17T15:00:00-04:00"}
MOVED_DUE = datetime(2026, 7, 17, 20, 0, tzinfo=UTC)
FOLLOW_UPS = ("none", "reschedule", "cancel", "re-confirm")


def follow_up(runtime: Runtime, follow: str, name: str) -> str | None:
    """A later change of the booking; the event end due last (None: nothing is due)."""
    day = "2026-06-03T10:00:00+00:00"
    if follow == "reschedule":
        change(runtime, "acme", now=LEASE_OVER, booking_id=name, updated_at=day, **MOVED)
        return "2026-07-17T19:00:00Z"
    if follow == "cancel":
        change(runtime, "acme", now=LEASE_OVER, booking_id=name, updated_at=day, status="cancelled")
        return None
    if follow == "re-confirm":
        change(runtime, "acme", now=LEASE_OVER, booking_id=name, updated_at=day)
    return "2026-07-16T02:00:00Z"


def restart(runtime: Runtime, booking_id: int) -> None:
    """The restarted worker: a redelivered task, then the beat's sweeps as time goes on."""
    for now in (LEASE_OVER, LEASE_OVER, MOVED_DUE + timedelta(minutes=5)):
        schedule.queue_due(runtime, now=now)
        hand_off(runtime, booking_id, now=now)


def handed(portal: ServerThread, name: str) -> dict[str, set[str]]:
    """The delivery keys the portal saw for each event end of the booking."""
    keys: dict[str, set[str]] = defaultdict(set)
    for hook in received(portal):
        data: dict[str, Any] = hook["body"]["data"]
        if data["booking"]["id"] == name:
            keys[data["event"]["ends_at"]].add(hook["idempotency_key"])
    return keys


@pytest.mark.parametrize("point", POINTS)
def test_every_hand_off_crash_point_hands_over_once(
    runtime: Runtime, sandbox: ServerThread, portal: ServerThread, point: str
) -> None:
    for follow in FOLLOW_UPS:
        name = f"handoff-{point}-{follow}"
        booking_id = book(runtime, booking_id=name, now=SYNCED)
        assert schedule.queue_due(runtime, now=DUE) == [booking_id]
        die_at(runtime, point, "hand-off", booking_id, now=DUE)
        last_end = follow_up(runtime, follow, name)
        restart(runtime, booking_id)
        keys = handed(portal, name)
        assert all(len(k) == 1 for k in keys.values()), f"{follow}: an end sent under two keys"
        if last_end is not None:
            assert last_end in keys, f"{follow}: the event's final end was never handed over"
        sent_before_the_crash = point in ("before-outcome-commit", "before-ack")
        assert len(keys) <= 1 + (follow == "reschedule" and sent_before_the_crash)
