"""Crash-point fixtures: the delivery suite's tenants (Gomry with a portal, guest media with a
portal), its portal stub and its PostgreSQL runtime, and a process to kill.

The process that dies is a real child forked from a clean, single-threaded fork server that
has already imported the worker; it builds its own runtime from the same settings, runs one
effect and SIGKILLs itself at the named point (``worker.crashpoints``). The test process plays
the restarted worker afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import datetime
from multiprocessing.context import ForkServerContext

import pytest

from tests.conftest import settings_env
from tests.worker.handoff.conftest import pg_runtime, portal, secrets_file, tenants_file  # noqa: F401  (fixtures)
from worker.runtime import Runtime

_context: ForkServerContext | None = None


def _fork_server() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["tests.crashes.conftest", "worker.sync.bookings"])
    return _context


def _effect(env: dict[str, str], point: str, effect: str, booking_id: int, now: str) -> None:
    """In the child: run ``effect`` for the booking as a worker task would, dying at ``point``."""
    os.environ.update(env)
    os.environ["BOOKWIRE_CRASH_AT"] = point
    from config.settings import Settings
    from worker import crashpoints
    from worker.handoff.hand_off import hand_off
    from worker.sync import bookings as sync

    rt = Runtime(Settings())
    at = datetime.fromisoformat(now)
    if effect == "hand-off":
        hand_off(rt, booking_id, now=at)
    else:
        sync.sync_booking(rt, booking_id, now=at)
    crashpoints.reach("before-ack")  # the task's last step: the broker ack follows
    os._exit(0)


def die_at(runtime: Runtime, point: str, effect: str, booking_id: int, *, now: datetime) -> None:
    """Run ``effect`` (``sync`` or ``hand-off``) in a real process killed at ``point``."""
    env = {**settings_env(runtime.settings), "BOOKWIRE_LOG_LEVEL": "warning"}
    child = _fork_server().Process(
        target=_effect, args=(env, point, effect, booking_id, now.isoformat())
    )
    child.start()
    child.join(60)
    assert child.exitcode == -9, f"the worker was not killed at {point} (exit {child.exitcode})"
    # Its booking lock expires after booking_lock_seconds; the restarted worker finds it gone.
    runtime.redis.delete(f"bookwire:lock:booking:{booking_id}")


@pytest.fixture(scope="session", autouse=True)
def _no_crash_in_this_process() -> None:
    assert "BOOKWIRE_CRASH_AT" not in os.environ
