"""The crash points wired into a real Celery worker: the task is killed at a step, the worker is
started again, and the booking still ends with exactly one event at its latest time.

The matrix in ``test_sync_crash_points`` kills a bare sync; this kills the real task in a real
worker process (``before-ack`` is its last line, after the outcome committed), with the broker,
the relay and the redelivery doing what they do in production.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import (
    Process,
    ServerThread,
    beat_argv,
    booking,
    bookwire_env,
    gomry_events,
    signed,
    wait_for,
    worker_argv,
)
from worker.ingress.app import create_app
from worker.runtime import Runtime
from worker.store.models import Booking

pytestmark = pytest.mark.slow
MOVED = {"start": "2026-07-16T19:30:00-04:00", "end": "2026-07-16T23:00:00-04:00"}


def post(url: str, body: dict[str, object]) -> None:
    raw, headers = signed(body)
    answer = httpx.post(f"{url}/webhooks/generic/acme", content=raw, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text


def settled(runtime: Runtime) -> bool:
    with runtime.store.transaction() as session:
        return all(b.applied_version == b.version for b in session.query(Booking))


@pytest.mark.parametrize("point", ["before-call", "before-outcome-commit", "before-ack"])
def test_a_worker_killed_inside_a_task_converges_after_restart(
    runtime: Runtime, settings: Settings, sandbox: ServerThread, tmp_path: Path, point: str
) -> None:
    fast = settings.model_copy(update={"booking_lock_seconds": 2.0, "retry_backoff_max": 2})
    env = bookwire_env(settings_env(fast))
    marker = tmp_path / "killed"
    crashing = {**env, "BOOKWIRE_CRASH_AT": point, "BOOKWIRE_CRASH_ONCE": str(marker)}
    first = Process(worker_argv(2), crashing, tmp_path / "first.log").start()
    with ServerThread(create_app(runtime)) as ingress:
        post(ingress.url, booking("kill-1", title="Killed once"))
        wait_for(lambda: marker.exists() and first.proc.poll() is not None, timeout=60)
        post(
            ingress.url,
            booking("kill-1", title="Killed once", updated_at="2026-06-02T10:00:00Z", **MOVED),
        )
        second = Process(worker_argv(2), env, tmp_path / "second.log").start()
        beat = Process(beat_argv(tmp_path), env, tmp_path / "beat.log").start()
        try:
            wait_for(lambda: settled(runtime), timeout=60, every=0.5)
        finally:
            second.stop()
            beat.stop()
    assert first.proc.returncode == -9  # it really died there
    [event] = gomry_events(sandbox.url)
    assert event["start"]["utc"] == "2026-07-16T23:30:00.000Z"
