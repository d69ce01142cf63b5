"""Alerts reach a real sink over loopback exactly once per group: repeated and concurrent runs
add nothing, a sink that fails first still gets it once, the rate limit folds the excess."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from integrations.connector import WebhookRequest
from integrations.generic.webhook import verify
from tests.worker.alerts.conftest import SINK_SECRET, Sink
from worker import runtime as runtime_module
from worker import tasks
from worker.alerts import rules, send
from worker.celery_app import create_celery
from worker.ops import state_metrics
from worker.records import failures
from worker.runtime import Runtime
from worker.store.migrate import migrate
from worker.store.models import AlertRow, Failure

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SYNC_REPLAY = "bookwire replay --matching --tenant acme --stage sync --source generic"


def fail(rt: Runtime, booking_id: int, *, stage: str = "sync", at: datetime = NOW) -> None:
    """A sync failure as the give-up path records it (its reason in the platform's words)."""
    with rt.store.transaction() as session:
        failures.record(
            session,
            tenant="acme",
            source="generic",
            stage=stage,
            reason="gomry: HTTP 422: customer zoe@example.com (Zoë Ångström) refused",
            booking_id=booking_id,
            now=at,
        )


def resolve(rt: Runtime, *booking_ids: int) -> None:
    with rt.store.transaction() as session:
        for booking_id in booking_ids:
            failures.resolve(session, booking_id=booking_id, now=NOW)


def alerts_of(received: Any) -> list[dict[str, Any]]:
    """The alerts a signed webhook body carries."""
    return list(received.json()["data"]["alerts"])


def test_two_failures_of_one_cause_reach_the_slack_sink_once_with_the_replay_command(
    runtime: Runtime, sink: Sink
) -> None:
    fail(runtime, 1)
    fail(runtime, 2)

    assert send.run(runtime, now=NOW) == 1
    [got] = sink.received
    text = got.json()["text"]
    assert set(got.json()) == {"text"}
    assert "acme: 2 open sync failures (generic)" in text
    assert f"`{SYNC_REPLAY}`" in text
    assert "bookwire failures --tenant acme --stage sync --source generic" in text

    fail(runtime, 3)  # the same cause, still open: no second alert
    assert send.run(runtime, now=NOW + timedelta(minutes=1)) == 0
    assert send.run(runtime, now=NOW + timedelta(hours=5)) == 0
    assert len(sink.received) == 1


@pytest.mark.parametrize("alert_format", ["webhook"])
def test_the_signed_webhook_sink_gets_one_verifiable_alert(
    runtime: Runtime, sink: Sink, alert_format: str
) -> None:
    fail(runtime, 1)
    fail(runtime, 2)

    assert send.run(runtime, now=NOW) == 1
    assert send.run(runtime, now=NOW + timedelta(minutes=1)) == 0
    [got] = sink.received
    request = WebhookRequest("POST", sink.url, got.headers, got.body)
    verify(request, secrets=[SINK_SECRET], now=datetime.now(UTC))  # raises if not signed
    assert got.headers["idempotency-key"] == got.headers["webhook-id"]
    assert got.json()["type"] == "bookwire.alert"
    [alert] = alerts_of(got)
    assert alert["group"] == "failure:acme:sync:generic"
    assert (alert["tenant"], alert["kind"], alert["count"]) == ("acme", "failure", 2)
    assert alert["command"] == SYNC_REPLAY
    assert SINK_SECRET not in got.body.decode()


def test_a_single_failure_names_the_failure_to_replay(runtime: Runtime, sink: Sink) -> None:
    fail(runtime, 7)
    send.run(runtime, now=NOW)
    with runtime.store.transaction() as session:
        failure_id = session.scalars(select(Failure.id)).one()
    assert f"`bookwire replay --failure {failure_id}`" in sink.received[0].json()["text"]


def test_a_group_that_closed_and_came_back_alerts_again(runtime: Runtime, sink: Sink) -> None:
    fail(runtime, 1)
    send.run(runtime, now=NOW)
    resolve(runtime, 1)
    assert send.run(runtime, now=NOW + timedelta(minutes=1)) == 0  # closed: nothing to say
    fail(runtime, 4, at=NOW + timedelta(minutes=2))

    assert send.run(runtime, now=NOW + timedelta(minutes=2)) == 1
    assert len(sink.received) == 2
    with runtime.store.transaction() as session:
        rows = session.scalars(select(AlertRow).order_by(AlertRow.id)).all()
        assert [(r.group_key, r.open_key is None) for r in rows] == [
            ("failure:acme:sync:generic", True),
            ("failure:acme:sync:generic", False),
        ]


@pytest.fixture
def pg_runtime(runtime: Runtime, empty_database: str) -> Iterator[Runtime]:
    """The same runtime on a fresh PostgreSQL database (row locks, not SQLite's one writer)."""
    update = {"database_url": empty_database}
    rt = Runtime(runtime.settings.model_copy(update=update), tenants=runtime.tenants)
    migrate(rt.store)
    yield rt
    rt.close()


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_runs_at_the_same_time_send_one_alert(
    request: pytest.FixtureRequest, sink: Sink, store: str
) -> None:
    runtime = request.getfixturevalue("runtime" if store == "sqlite" else "pg_runtime")
    fail(runtime, 1)
    fail(runtime, 2, stage="overdue")
    start = threading.Barrier(4)
    results: list[int] = []

    def run() -> None:
        start.wait()
        results.append(send.run(runtime, now=NOW))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [0, 0, 0, 2]
    assert send.run(runtime, now=NOW) == 0
    assert sorted(r.json()["text"].splitlines()[0] for r in sink.received) == [
        "*bookwire: acme: 1 open overdue failure (generic)*",
        "*bookwire: acme: 1 open sync failure (generic)*",
    ]


def test_senders_that_race_past_the_lock_still_send_each_message_once(
    pg_runtime: Runtime, sink: Sink
) -> None:
    fail(pg_runtime, 1)
    send.observe(pg_runtime, rules.evaluate(pg_runtime, now=NOW), now=NOW)
    assert send.compose(pg_runtime, now=NOW) == 1
    start = threading.Barrier(4)
    results: list[int] = []

    def deliver() -> None:
        start.wait()
        results.append(send.deliver(pg_runtime, send.sink(pg_runtime), now=NOW))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [0, 0, 0, 1]
    assert len(sink.received) == 1


@pytest.mark.parametrize("alert_format", ["slack", "webhook"])
def test_a_sink_that_fails_first_gets_the_alert_once_later(
    runtime: Runtime, sink: Sink, alert_format: str
) -> None:
    fail(runtime, 1)
    sink.answers = [500]

    assert send.run(runtime, now=NOW) == 0
    assert send.run(runtime, now=NOW + timedelta(minutes=1)) == 1
    assert send.run(runtime, now=NOW + timedelta(minutes=2)) == 0
    assert sink.statuses == [500, 200]
    first, second = sink.received
    assert first.body == second.body  # the same message, not a new one
    if alert_format == "webhook":
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
    with runtime.store.transaction() as session:
        row = session.scalars(select(AlertRow)).one()
        assert (row.attempts, row.last_error, row.sent_at) == (2, None, NOW + timedelta(minutes=1))


def test_a_sink_that_cannot_be_reached_loses_nothing(runtime: Runtime, sink: Sink) -> None:
    fail(runtime, 1)
    assert sink.server is not None
    sink.server.__exit__()  # the sink is down

    assert send.run(runtime, now=NOW) == 0
    with runtime.store.transaction() as session:
        row = session.scalars(select(AlertRow)).one()
        assert row.sent_at is None and row.lease_until is None
        assert row.last_error == "alerts: connection failed (ConnectError)"
    scraped = state_metrics.collect(runtime).decode()
    assert 'bookwire_alerts_unsent{state="failing"} 1.0' in scraped
    assert 'bookwire_alerts_unsent{state="waiting"} 0.0' in scraped


@pytest.mark.parametrize("alert_rate_limit", [3])
def test_the_rate_limit_folds_the_excess_into_one_message_and_loses_none(
    runtime: Runtime, sink: Sink, alert_rate_limit: int
) -> None:
    for booking_id, stage in enumerate(("parse", "fetch", "sync", "overdue", "portal")):
        fail(runtime, booking_id + 1, stage=stage)

    assert send.run(runtime, now=NOW) == 3
    texts = [r.json()["text"] for r in sink.received]
    assert "open fetch failure" in texts[0] and "open overdue failure" in texts[1]
    folded = texts[2]
    assert folded.startswith("*bookwire: and 3 more alerts*")
    assert "open parse failure" in folded and "open sync failure" in folded
    assert "ended event with no album handed off" in folded
    assert "`bookwire replay --matching --tenant acme --stage portal`" in folded

    fail(runtime, 9, stage="sync")  # same group: nothing new
    with runtime.store.transaction() as session:  # a new cause within the window waits
        failures.record(
            session,
            tenant="acme",
            source="calendly",
            stage="sync",
            reason="x",
            booking_id=10,
            now=NOW,
        )
    assert send.run(runtime, now=NOW + timedelta(minutes=30)) == 0
    assert send.run(runtime, now=NOW + timedelta(minutes=61)) == 1
    assert "acme: 1 open sync failure (calendly)" in sink.received[-1].json()["text"]
    assert len(sink.received) == 4


def test_no_sink_configured_sends_nothing_and_records_nothing(runtime: Runtime) -> None:
    fail(runtime, 1)
    quiet = Runtime(
        runtime.settings.model_copy(update={"alert_url": None}), tenants=runtime.tenants
    )
    try:
        assert send.run(quiet, now=NOW) == 0
        with quiet.store.transaction() as session:
            assert session.scalars(select(AlertRow)).all() == []
    finally:
        quiet.close()


def test_beat_sends_alerts_on_the_configured_interval(runtime: Runtime) -> None:
    app = create_celery(runtime.settings.model_copy(update={"alert_interval": 30.0}))
    assert app.conf.beat_schedule["send-alerts"] == {
        "task": "bookwire.send_alerts",
        "schedule": 30.0,
    }


def test_the_beat_task_pushes_the_alerts_once(runtime: Runtime, sink: Sink) -> None:
    fail(runtime, 1)
    runtime_module.install(runtime)
    try:
        assert tasks.send_alerts.run() == 1
        assert tasks.send_alerts.run() == 0
    finally:
        runtime_module.install(None)  # type: ignore[arg-type]
    assert len(sink.received) == 1
