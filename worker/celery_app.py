"""The Celery app and every setting it runs with, each with its reason.

- JSON only: task arguments are ids, nothing to pickle, nothing personal to show in Flower.
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after its task
  finishes, so a worker killed mid-task leaves it to be delivered again (syncs are idempotent).
- ``worker_prefetch_multiplier = 1``: a worker holds no more messages than it has threads, so a
  crash strands as few as possible.
- ``visibility_timeout`` (one value, from settings): Redis redelivers unacknowledged messages
  after it. Retry countdowns are capped well below half of it, so a delayed retry is never
  redelivered while it waits. Stranded work is also picked up sooner by the relay.
- ``priority_steps`` (``worker.fair_share``): two lists per queue on Redis; a tenant over its
  share of the last few seconds is published to the second, taken only when the first is empty,
  so a quiet tenant's booking never waits behind a busy tenant's backlog.
- Task events on: Flower shows what ran and what failed, with ``argsrepr`` ids only. The
  publisher's ``task-sent`` event is off: it cost the ingress a second broker round trip per
  publish, and Flower lists a task from the worker's ``task-received`` on.
- ``worker.telemetry.observe`` hooks Celery's signals: our log format, task metrics, a metrics
  server. ``worker.process.reload`` hooks ``worker_ready``: each worker reloads a changed
  tenants or secrets file without a restart.
"""

from __future__ import annotations

from celery import Celery

from config.settings import Settings
from worker import fair_share
from worker.process import reload  # noqa: F401 - every worker reloads a changed tenants file
from worker.telemetry import observe  # noqa: F401 - connects the signal handlers

QUEUE = "bookwire"


def create_celery(settings: Settings) -> Celery:
    app = Celery("bookwire", broker=settings.resolved_broker_url, include=["worker.tasks"])
    half = settings.visibility_timeout // 2
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=QUEUE,
        worker_prefetch_multiplier=1,
        worker_send_task_events=True,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
            "priority_steps": fair_share.PRIORITY_STEPS,
        },
        beat_schedule={
            "relay": {"task": "bookwire.relay", "schedule": settings.relay_interval},
            "check-outcomes": {
                "task": "bookwire.check_outcomes",
                "schedule": settings.outcome_check_interval,
            },
            "sweep-ended-events": {  # hand-offs to portals due now (docs/handoff.md)
                "task": "bookwire.sweep_ended_events",
                "schedule": settings.portal_sweep_interval,
            },
            "reconcile": {  # platform against bookings: drift (docs/operations.md)
                "task": "bookwire.reconcile",
                "schedule": settings.reconcile_interval,
            },
            "check-sources": {  # silent or disabled sources, gaps backfilled (docs/backfill.md)
                "task": "bookwire.check_sources",
                "schedule": settings.source_health_interval,
            },
            "purge-expired": {  # retention of personal data (docs/operations.md)
                "task": "bookwire.purge_expired",
                "schedule": settings.retention_interval,
            },
            "send-alerts": {  # alerts pushed to the sink, if one is set (docs/operations.md)
                "task": "bookwire.send_alerts",
                "schedule": settings.alert_interval,
            },
        },
        bookwire_max_countdown=min(settings.retry_backoff_max, half),
    )
    return app


app = create_celery(Settings())
