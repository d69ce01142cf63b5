"""Celery tasks: thin, explicitly named, ids-only arguments; the logic lives in plain modules.

Retry policy (one, declarative in ``worker.retry``): transient errors (timeouts, dropped
connections, 5xx, 429, 409 in progress, database or broker hiccups) retry with exponential
backoff and jitter up to ``max_retries``; then, like any permanent error, the booking gets a
failure record and stops retrying until it is replayed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from celery import Task
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from integrations.errors import ConfigurationError, PayloadError, PermanentError, TransientError
from worker import intake, relay, runtime, sync
from worker.celery_app import app
from worker.retry import RetryPolicy

TRANSIENT = (TransientError, OperationalError, redis.exceptions.ConnectionError)
PERMANENT = (PermanentError, ConfigurationError, PayloadError, ValidationError)


def _policy() -> RetryPolicy:
    settings = runtime.current().settings
    cap = float(app.conf.bookwire_max_countdown or settings.retry_backoff_max)
    return RetryPolicy(max_retries=settings.max_retries, cap=cap)


@app.task(name="bookwire.sync_booking", bind=True, max_retries=None)
def sync_booking(self: Task, booking_id: int) -> str:
    """Make the booking's one event match the booking's latest state."""
    rt = runtime.current()
    now = datetime.now(UTC)
    try:
        return sync.sync_booking(rt, booking_id, now=now).outcome
    except TRANSIENT as exc:
        policy = _policy()
        retries = self.request.retries or 0
        if policy.exhausted(retries):
            sync.fail(
                rt,
                booking_id,
                f"gave up after {retries} retries: {_reason(exc)}",
                now=now,
                attempts=retries + 1,
            )
            return "failed"
        countdown = policy.delay(retries, getattr(exc, "retry_after", None))
        raise self.retry(countdown=countdown, exc=TransientError(_reason(exc))) from exc
    except PERMANENT as exc:
        sync.fail(rt, booking_id, _reason(exc), now=now)
        return "failed"


@app.task(name="bookwire.ingest_delivery", bind=True, max_retries=None)
def ingest_delivery(self: Task, delivery_id: int) -> str:
    """Parse a thin vendor delivery with API look-ups, then queue its bookings' syncs."""
    rt = runtime.current()
    now = datetime.now(UTC)
    try:
        receipt = intake.ingest(rt, delivery_id, now=now)
    except TRANSIENT as exc:
        policy = _policy()
        retries = self.request.retries or 0
        if policy.exhausted(retries):
            intake.give_up(
                rt,
                delivery_id,
                f"gave up after {retries} retries: {_reason(exc)}",
                now=now,
                attempts=retries + 1,
            )
            return "failed"
        countdown = policy.delay(retries, getattr(exc, "retry_after", None))
        raise self.retry(countdown=countdown, exc=TransientError(_reason(exc))) from exc
    except (*PERMANENT, LookupError) as exc:
        intake.give_up(rt, delivery_id, _reason(exc), now=now)
        return "failed"
    return receipt.outcome if receipt else "already settled"


@app.task(name="bookwire.relay")
def relay_pending() -> int:
    """Republish bookings stored but never synced (broker outage, crash, killed worker)."""
    return relay.relay_once(runtime.current(), now=datetime.now(UTC))


def _reason(exc: Any) -> str:
    if isinstance(exc, ValidationError):
        return f"stored booking no longer validates ({exc.error_count()} errors)"
    if isinstance(exc, OperationalError):
        return "database unavailable"
    return str(exc)[:500] or type(exc).__name__
