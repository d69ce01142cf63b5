"""What a worker process tells ops: task metrics, log context, its own ``/metrics`` server.

Connected to Celery signals when ``worker.celery_app`` is imported (every worker, beat and
Flower process imports it):

- ``setup_logging``: our formatter (``worker.telemetry.logs``) instead of Celery's, JSON when
  ``BOOKWIRE_LOG_JSON=true``.
- ``task_prerun`` / ``task_postrun``: ``bookwire_tasks_total{task, outcome}`` (outcomes from
  a bounded set; a batch's bookings in ``bookwire_batch_bookings_total{outcome}``) and
  ``bookwire_task_seconds{task}``; every log line written by the task carries its booking or
  delivery id.
- ``worker_ready``: when ``BOOKWIRE_WORKER_METRICS_PORT`` is set, the worker serves the
  Prometheus registry of its own process on that port (``/metrics``). Worker processes are
  separate from the ingress, so their counters cannot be read from the ingress's ``/metrics``;
  Prometheus scrapes each worker (one port per worker process; under compose each replica has
  its own address). State that lives in the store or the broker (queue depth, open failures,
  overdue bookings) is served by the ingress instead (``worker.ops.state_metrics``), once, not per
  worker.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import UTC, datetime
from typing import Any

from celery import signals

from config.settings import Settings
from worker.records.failures import GaveUp
from worker.telemetry import logs
from worker.telemetry.metrics import (
    BATCH_BOOKINGS,
    EVENT_LATENCY,
    TASK_OUTCOMES,
    TASK_SECONDS,
    TASKS,
)

log = logging.getLogger(__name__)

# the first positional argument of each task, named as it appears in logs
ID_ARGUMENT = {
    "bookwire.sync_booking": "booking",
    "bookwire.ingest_delivery": "delivery",
    "bookwire.hand_off": "booking",
    "bookwire.deliver_event": "booking",  # bookwire.hand_off under its old name
}
# a batch task's summary: "3 created, 1 up-to-date"
BATCH_SUMMARY = re.compile(r"\d+ [a-z-]+(, \d+ [a-z-]+)*")
BATCH_PART = re.compile(r"(\d+) ([a-z-]+)")

_running: dict[str, tuple[float, object]] = {}
_running_lock = threading.Lock()
_server_started = False


@signals.setup_logging.connect
def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    settings = Settings()
    logs.configure(json_lines=settings.log_json, level=loglevel or settings.log_level)


@signals.task_prerun.connect
def _task_started(task_id: str = "", task: Any = None, args: Any = None, **_: Any) -> None:
    name = getattr(task, "name", "?")
    context: dict[str, Any] = {"task": name, "task_id": task_id}
    key = ID_ARGUMENT.get(name)
    if key and args:
        context[key] = args[0]
    token = logs.set_context(**context)
    with _running_lock:
        _running[task_id] = (time.perf_counter(), token)


@signals.task_postrun.connect
def _task_finished(
    task_id: str = "", task: Any = None, retval: Any = None, state: str | None = None, **_: Any
) -> None:
    with _running_lock:
        started, token = _running.pop(task_id, (None, None))
    name = getattr(task, "name", "?")
    TASKS.labels(name, outcome(state, retval)).inc()
    if started is not None:
        TASK_SECONDS.labels(name).observe(time.perf_counter() - started)
    if token is not None:
        logs.reset_context(token)


def outcome(state: str | None, retval: Any) -> str:
    """A label from the bounded ``TASK_OUTCOMES``: the task's outcome, or what became of it.
    A batch's summary ("3 created, 1 up-to-date") is ``batch``, its bookings are counted by
    outcome in ``bookwire_batch_bookings_total``."""
    if state == "SUCCESS":
        if not isinstance(retval, str):
            return "ok"
        batch = BATCH_SUMMARY.fullmatch(retval)
        if batch:
            for count, name in BATCH_PART.findall(retval):
                BATCH_BOOKINGS.labels(_known(name)).inc(int(count))
            return "batch"
        if retval.startswith("split after a crash"):
            return "split"
        if retval.startswith("already ") and retval != "already settled":
            return "already-done"
        return _known(retval)
    if state == "RETRY":
        return "retry"
    if state == "FAILURE":
        return "failed" if isinstance(retval, GaveUp) else "error"
    return _known((state or "unknown").lower())


def _known(text: str) -> str:
    label = text.strip().lower().replace(" ", "-")
    return label if label in TASK_OUTCOMES else "other"


def event_created(tenant: str, received_at: datetime) -> None:
    """Observe booking received → event created, for a booking whose event was just made."""
    seconds = (datetime.now(UTC) - received_at).total_seconds()
    EVENT_LATENCY.labels(tenant).observe(max(0.0, seconds))


@signals.worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    start_metrics_server(Settings())


def start_metrics_server(settings: Settings) -> bool:
    """Serve this process's metrics on ``worker_metrics_port`` (once); False when off."""
    global _server_started
    port = settings.worker_metrics_port
    if port is None or _server_started:
        return False
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=settings.worker_metrics_host)
    except OSError as exc:
        # another worker on this host holds the port: run without metrics, loudly
        log.warning("worker metrics server not started (port %s: %s)", port, type(exc).__name__)
        return False
    _server_started = True
    log.info("worker metrics on %s:%s/metrics", settings.worker_metrics_host, port)
    return True
