"""End to end on real processes: ingress → Redis → Celery worker → sandbox over HTTP.

Pass condition everywhere: every accepted booking ends with exactly one event in its latest
state; zero duplicates; zero lost.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

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


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


def start_worker(settings: Settings, log: Path, concurrency: int = 4) -> Process:
    proc = Process(worker_argv(concurrency), bookwire_env(settings_env(settings)), log).start()
    wait_for(lambda: "ready" in proc.output(), timeout=30)
    return proc


def post(ingress: ServerThread, body: dict[str, object]) -> httpx.Response:
    raw, headers = signed(body)
    return httpx.post(
        f"{ingress.url}/webhooks/generic/acme", content=raw, headers=headers, timeout=10
    )


def settled(runtime: Runtime) -> bool:
    with runtime.store.transaction() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.applied_version < Booking.version)
        )
        return waiting == 0


def test_a_signed_booking_becomes_one_event_within_seconds(
    runtime: Runtime,
    settings: Settings,
    ingress: ServerThread,
    sandbox: ServerThread,
    tmp_path: Path,
) -> None:
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        started = time.monotonic()
        assert post(ingress, booking("e2e-1")).status_code == 202
        [event] = wait_for(lambda: gomry_events(sandbox.url), timeout=10)
        assert time.monotonic() - started < 5
        assert event["name"] == "Zoë Ångström – Summer Launch Party"
        assert event["start"]["utc"] == "2026-07-15T22:00:00.000Z"

        same = booking("e2e-1")
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda _: post(ingress, same), range(5)))
        assert all(a.status_code == 202 for a in answers)
        time.sleep(1.0)
        wait_for(lambda: settled(runtime))
        assert len(gomry_events(sandbox.url)) == 1
    finally:
        worker.stop()
    assert "zoe@example.com" not in worker.output()


def test_sigkill_workers_mid_stream_loses_nothing_and_duplicates_nothing(
    runtime: Runtime,
    settings: Settings,
    ingress: ServerThread,
    sandbox: ServerThread,
    tmp_path: Path,
) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 80})
    beat = Process(
        beat_argv(tmp_path), bookwire_env(settings_env(settings)), tmp_path / "beat.log"
    ).start()
    worker = start_worker(settings, tmp_path / "worker-1.log")
    bookings = [booking(f"kill-{i}", title=f"Party {i}") for i in range(60)]
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda b: post(ingress, b), bookings[:30]))
            time.sleep(0.5)
            worker.kill()  # SIGKILL with tasks in flight
            worker = start_worker(settings, tmp_path / "worker-2.log")
            answers += list(pool.map(lambda b: post(ingress, b), bookings[30:]))
            time.sleep(0.5)
            worker.kill()  # and again
            worker = start_worker(settings, tmp_path / "worker-3.log")
        assert all(a.status_code == 202 for a in answers)
        wait_for(lambda: settled(runtime), timeout=90, every=0.5)
    finally:
        worker.stop()
        beat.stop()
    events = gomry_events(sandbox.url)
    names = sorted(e["name"] for e in events)
    assert names == sorted(f"Zoë Ångström – Party {i}" for i in range(60))
