"""``bookwire reconcile`` and ``bookwire status --drift`` as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from config.settings import Settings
from tests.integrations.platforms import submit
from tests.support import ServerThread
from worker.celery_app import create_celery
from worker.runtime import Runtime
from worker.store.models import EventLink
from worker.sync import bookings as sync
from worker.tasks import reconcile_platforms

Cli = Callable[..., tuple[int, str]]


def copy_of_the_event(runtime: Runtime, sandbox: ServerThread, booking: str) -> tuple[int, str]:
    booking_id = submit(runtime, booking)
    sync.sync_booking(runtime, booking_id, now=datetime.now(UTC))
    with runtime.store.transaction() as session:
        link = session.get(EventLink, booking_id)
        assert link is not None
        event_id = link.event_id
    made = httpx.post(f"{sandbox.url}/_sandbox/gomry/events/{event_id}/copies", timeout=10)
    return booking_id, made.json()["ids"][0]


def test_reconcile_reports_repairs_and_then_exits_clean(
    runtime: Runtime, sandbox: ServerThread, cli: Cli
) -> None:
    booking_id, copy_id = copy_of_the_event(runtime, sandbox, "cli-dup")

    code, out = cli("reconcile", "--json")
    report = json.loads(out)
    assert code == 1 and report["clean"] is False
    assert report["counts"]["duplicate"] == 1
    [item] = report["drift"]
    assert (item["kind"], item["booking_id"], item["event_id"]) == (
        "duplicate",
        booking_id,
        copy_id,
    )
    assert "Zoë" not in out and "zoe@example.com" not in out

    code, out = cli("status", "--drift")
    assert code == 0
    [line] = out.strip().splitlines()
    assert line.startswith(f"#{booking_id} acme:generic") and "duplicate" in line
    code, out = cli("status", f"#{booking_id}")
    assert json.loads(out)["drift"].startswith("duplicate")

    code, out = cli("reconcile", "--repair", "--tenant", "acme")
    assert code == 0, out
    assert "[cancelled]" in out and out.strip().endswith("1 drift (duplicate 1)")

    code, out = cli("reconcile")
    assert code == 0 and out.strip().endswith(": 0 drift")
    code, out = cli("status", "--drift")
    assert out.strip() == "no drift found by the last reconcile"


def test_unknown_tenant_and_bad_since_are_configuration_errors(
    runtime: Runtime, sandbox: ServerThread, cli: Cli
) -> None:
    assert cli("reconcile", "--tenant", "nobody")[0] == 2
    assert cli("reconcile", "--since", "last tuesday")[0] == 2


def test_the_beat_task_reconciles_and_repairs_when_configured(
    runtime: Runtime, sandbox: ServerThread, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_of_the_event(runtime, sandbox, "beat-dup")
    monkeypatch.setenv("BOOKWIRE_RECONCILE_LOOKBACK_HOURS", str(24 * 366))  # July is long past
    cli("status", "--drift")  # installs a runtime built from the environment, as beat's is
    assert reconcile_platforms() == 1  # report only: reconcile_repair is off by default
    assert reconcile_platforms() == 1
    monkeypatch.setenv("BOOKWIRE_RECONCILE_REPAIR", "true")
    cli("status", "--drift")
    assert reconcile_platforms() == 1  # found, and repaired
    assert reconcile_platforms() == 0


def test_beat_schedules_the_sweep_on_its_configured_interval(settings: Settings) -> None:
    app = create_celery(settings.model_copy(update={"reconcile_interval": 120.0}))
    assert app.conf.beat_schedule["reconcile"] == {
        "task": "bookwire.reconcile",
        "schedule": 120.0,
    }
