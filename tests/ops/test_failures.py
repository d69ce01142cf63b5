"""Failures and replay as an operator meets them: list, filter, fix the config, replay, done.

The task functions run in this process (no eager mode): calling a Celery task object runs its
body once, exactly as a worker would for one delivery of the message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from config.settings import Settings
from tests.ops.conftest import CANARY_KEY, json_lines
from tests.support import ServerThread, booking, gomry_events
from worker import tasks
from worker.celery_app import create_celery
from worker.intake.api import publish_booking
from worker.ops import outcomes
from worker.records import failures
from worker.records.failures import GaveUp
from worker.runtime import Runtime
from worker.store.models import Booking
from worker.sync import bookings as sync

Cli = Callable[..., tuple[int, str]]


def queued(rt: Runtime) -> list[str]:
    client = redis.Redis.from_url(rt.settings.resolved_redis_url)
    return [json.loads(m)["headers"]["argsrepr"] for m in client.lrange("bookwire", 0, -1)]


def drain(rt: Runtime) -> None:
    redis.Redis.from_url(rt.settings.resolved_redis_url).delete("bookwire")


def submit(rt: Runtime, booking_id: str, **fields: object) -> int:
    receipt = publish_booking(rt, tenant="acme", booking=booking(booking_id, **fields))
    assert receipt.outcome == "accepted", receipt
    return receipt.bookings[0]


def test_rejected_key_fails_for_good_then_replays_into_one_event(
    runtime: Runtime, sandbox: ServerThread, rejected_key: Callable[[], None], cli: Cli
) -> None:
    booking_id = submit(runtime, "ops-1")
    drain(runtime)
    cli("check-config")  # installs the runtime (with the rejected key) that tasks use

    with pytest.raises(GaveUp) as raised:
        tasks.sync_booking(booking_id)
    message = str(raised.value)
    assert CANARY_KEY not in message and "zoe@example.com" not in message

    code, out = cli("failures", "--json")
    [row] = json_lines(out)
    assert code == 0
    # one line an operator acts on: which booking (the source's id too), what, the fix, the replay
    assert message == (
        f"booking #{booking_id} (generic ops-1, tenant acme): gomry refused our credentials "
        "(401) — check the tenant's gomry credentials in the secrets file, "
        f"then `bookwire replay --failure {row['id']}`"
    )
    assert "Invalid or revoked" not in message  # the platform's own text stays in the record
    assert (row["tenant"], row["source"], row["stage"], row["booking"]) == (
        "acme",
        "generic",
        "sync",
        booking_id,
    )
    assert "Invalid or revoked API key" in str(row["reason"]) and row["resolved_at"] is None
    assert json_lines(cli("failures", "--json", "--tenant", "other")[1]) == []
    assert json_lines(cli("failures", "--json", "--stage", "parse")[1]) == []
    assert len(json_lines(cli("failures", "--json", "--source", "generic", "--since", "1h")[1]))
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert json_lines(cli("failures", "--json", "--since", future)[1]) == []
    table = cli("failures")[1]
    assert f"#{booking_id}" in table and "sync" in table

    rejected_key()  # the operator fixes the key (and restarts the workers)
    for _ in range(2):  # replaying twice does no harm
        code, out = cli("replay", "--failure", str(row["id"]))
        assert code == 0 and f"booking #{booking_id} queued" in out
        assert tasks.sync_booking(booking_id) in ("created", "up-to-date")
    assert queued(runtime) == [f"(booking={booking_id})"] * 2
    assert len(gomry_events(sandbox.url)) == 1
    assert json_lines(cli("failures", "--json")[1]) == []
    [resolved] = json_lines(cli("failures", "--json", "--all")[1])
    assert resolved["resolved_at"] is not None
    status = json.loads(cli("status", f"#{booking_id}")[1])
    assert status["state"] == "synced" and status["event"] is not None
    assert any("resolved" in line for line in status["timeline"])


def test_replay_matching_replays_each_open_failure_once_and_dry_run_changes_nothing(
    runtime: Runtime, sandbox: ServerThread, rejected_key: Callable[[], None], cli: Cli
) -> None:
    ids = [submit(runtime, f"ops-m{i}") for i in range(3)]
    cli("check-config")
    for booking_id in ids:
        with pytest.raises(GaveUp):
            tasks.sync_booking(booking_id)
    drain(runtime)

    code, out = cli("replay", "--matching", "--tenant", "acme", "--stage", "sync", "--dry-run")
    assert code == 0 and out.count("would replay") == 3 and queued(runtime) == []

    code, out = cli("replay", "--matching", "--stage", "parse")
    assert "nothing to replay" in out and queued(runtime) == []

    rejected_key()
    code, out = cli("replay", "--matching", "--stage", "sync")
    assert sorted(queued(runtime)) == sorted(f"(booking={i})" for i in ids)
    for booking_id in ids:
        assert tasks.sync_booking(booking_id) == "created"
    assert len(gomry_events(sandbox.url)) == 3
    assert "nothing to replay" in cli("replay", "--matching")[1]


def test_still_broken_delivery_replayed_stays_one_open_record(runtime: Runtime, cli: Cli) -> None:
    receipt = publish_booking(runtime, tenant="acme", booking=booking("ops-q", timezone="Mars/X"))
    assert receipt.outcome == "quarantined"
    [row] = json_lines(cli("failures", "--json", "--stage", "parse")[1])
    assert row["delivery"] == receipt.delivery_id and row["booking"] is None
    for _ in range(2):
        out = cli("replay", "--failure", str(row["id"]))[1]
        assert f"delivery {receipt.delivery_id}: quarantined" in out
    [again] = json_lines(cli("failures", "--json")[1])
    assert again["id"] == row["id"] and again["attempts"] == 3
    assert cli("replay", "--failure", "999999")[0] == 1


def test_overdue_booking_is_a_failure_until_its_event_exists(
    runtime: Runtime, sandbox: ServerThread, cli: Cli
) -> None:
    late = submit(runtime, "ops-late")
    submit(runtime, "ops-cancelled", status="cancelled")
    now = datetime.now(UTC)
    assert outcomes.run_checks(runtime, now=now) == 0  # nothing is late yet
    later = now + timedelta(minutes=runtime.settings.overdue_after_minutes + 1)
    assert outcomes.run_checks(runtime, now=later) == 1
    assert outcomes.run_checks(runtime, now=later) == 1
    [row] = json_lines(cli("failures", "--json", "--stage", "overdue")[1])
    assert row["booking"] == late and row["attempts"] == 2
    assert "no event 30 minutes after receipt" in str(row["reason"])

    assert sync.sync_booking(runtime, late, now=later).outcome == "created"
    assert json_lines(cli("failures", "--json", "--stage", "overdue")[1]) == []
    assert outcomes.run_checks(runtime, now=later) == 0


def test_a_change_never_applied_is_overdue_until_the_event_follows_it(
    runtime: Runtime, sandbox: ServerThread, cli: Cli
) -> None:
    """The event exists, but the reschedule after it never reached the platform (a lost
    message the relay did not bring back): overdue, resolved once the event follows."""
    booking_id = submit(runtime, "ops-moved")
    assert sync.sync_booking(runtime, booking_id, now=datetime.now(UTC)).outcome == "created"
    moved = booking("ops-moved", location="Pier 17", updated_at="2026-06-09T10:00:00+00:00")
    assert publish_booking(runtime, tenant="acme", booking=moved).outcome == "accepted"
    now = datetime.now(UTC)
    assert outcomes.run_checks(runtime, now=now) == 0
    later = now + timedelta(minutes=runtime.settings.overdue_after_minutes + 1)
    assert outcomes.run_checks(runtime, now=later) == 1
    [row] = json_lines(cli("failures", "--json", "--stage", "overdue")[1])
    assert row["booking"] == booking_id
    assert "latest change not on the platform 30 minutes after receipt" in str(row["reason"])
    assert "version 1/2" in str(row["reason"])

    assert sync.sync_booking(runtime, booking_id, now=later).outcome == "updated"
    assert json_lines(cli("failures", "--json", "--stage", "overdue")[1]) == []
    assert outcomes.run_checks(runtime, now=later) == 0


def test_failed_booking_is_not_also_reported_overdue(runtime: Runtime) -> None:
    booking_id = submit(runtime, "ops-failed")
    sync.fail(runtime, booking_id, "gomry: HTTP 400: bad", now=datetime.now(UTC))
    later = datetime.now(UTC) + timedelta(hours=2)
    assert outcomes.run_checks(runtime, now=later) == 0
    with runtime.store.transaction() as session:
        stages = [f.stage for f in failures.find(session, failures.Filters())]
        assert stages == ["sync"]
        stored = session.get(Booking, booking_id)
        assert stored is not None and stored.state == "failed"


@given(
    amount=st.integers(min_value=0, max_value=10_000),
    unit=st.sampled_from(["s", "m", "h", "d", "w"]),
)
def test_since_durations_count_back_from_now(amount: int, unit: str) -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    assert failures.parse_since(f"{amount}{unit}", now=now) == now - timedelta(
        seconds=amount * seconds
    )


def test_since_takes_iso_times_and_rejects_nonsense() -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert failures.parse_since("2026-05-01T00:00", now=now) == datetime(2026, 5, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        failures.parse_since("yesterday", now=now)


def test_beat_runs_the_outcome_checks_and_the_task_records_them(
    runtime: Runtime, settings: Settings, cli: Cli
) -> None:
    schedule = create_celery(settings).conf.beat_schedule
    assert schedule["check-outcomes"] == {
        "task": "bookwire.check_outcomes",
        "schedule": settings.outcome_check_interval,
    }
    assert "bookwire.check_outcomes" in tasks.app.tasks
    submit(runtime, "ops-beat")
    cli("check-config")  # installs the runtime the task uses
    assert tasks.check_outcomes() == 0  # received just now: not overdue
