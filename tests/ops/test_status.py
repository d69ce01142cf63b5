"""``bookwire status``: a booking's whole timeline, every delivery included, no personal data."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.support import ServerThread, booking
from worker import tasks
from worker.intake.api import publish_booking
from worker.records.failures import GaveUp
from worker.runtime import Runtime
from worker.sync import bookings as sync

Cli = Callable[..., tuple[int, str]]


def test_timeline_shows_every_delivery_the_event_and_the_calls(
    runtime: Runtime, sandbox: ServerThread, cli: Cli
) -> None:
    first = publish_booking(runtime, tenant="acme", booking=booking("st-1"))
    newer = publish_booking(
        runtime, tenant="acme", booking=booking("st-1", updated_at="2026-06-03T10:00:00Z")
    )
    stale = publish_booking(
        runtime, tenant="acme", booking=booking("st-1", updated_at="2026-06-02T10:00:00Z")
    )
    assert (first.outcome, newer.outcome, stale.outcome) == ("accepted", "accepted", "stale")
    [booking_id] = first.bookings
    assert sync.sync_booking(runtime, booking_id, now=datetime.now(UTC)).outcome == "created"

    code, out = cli("status", "st-1")
    assert code == 0
    shown = json.loads(out)
    assert [(d["inbox_id"], d["for_this_booking"]) for d in shown["deliveries"]] == [
        (first.delivery_id, "accepted"),
        (newer.delivery_id, "accepted"),
        (stale.delivery_id, "stale"),
    ]
    assert shown["phase"] == "event in sync" and shown["event"]["event_id"]
    story = "\n".join(shown["timeline"])
    assert f"delivery {stale.delivery_id} received (stale)" in story
    assert f"event {shown['event']['event_id']} created on gomry" in story
    assert "call POST gomry/" in story
    assert "zoe@example.com" not in out and "Zoë" not in out
    # the call is listed when it was made: before the event it created
    lines = shown["timeline"]
    call = next(i for i, line in enumerate(lines) if "call POST gomry/" in line)
    created = next(i for i, line in enumerate(lines) if "created on gomry" in line)
    assert call < created, lines


def test_timeline_lists_the_refused_call_before_the_failure_it_caused(
    runtime: Runtime, sandbox: ServerThread, rejected_key: Callable[[], None], cli: Cli
) -> None:
    [booking_id] = publish_booking(runtime, tenant="acme", booking=booking("st-2")).bookings
    cli("check-config")  # installs the runtime (with the rejected key) that tasks use
    with pytest.raises(GaveUp):
        tasks.sync_booking(booking_id)  # the task body, run once, as a worker would

    lines = json.loads(cli("status", f"#{booking_id}")[1])["timeline"]
    call = next(i for i, line in enumerate(lines) if "call POST gomry/" in line)
    failed = next(i for i, line in enumerate(lines) if "(sync): gomry: HTTP 401" in line)
    assert call < failed, lines
    assert lines[call].split(" ", 1)[0] <= lines[failed].split(" ", 1)[0]


def test_unknown_booking_is_said_plainly(runtime: Runtime, cli: Cli) -> None:
    assert cli("status", "no-such-booking")[0] == 1
