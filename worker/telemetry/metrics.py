"""Prometheus metrics. Labels are slugs and outcomes only: never names, emails or secrets.

Every label takes its values from a bounded set: tenant and source slugs from the tenants file,
outcomes from the lists below (anything else is counted as ``other``), so a scrape never grows
with the traffic. No ``_created`` series: a second series per counter and histogram that
only says when the process started counting (Prometheus has ``process_start_time_seconds``).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()

WEBHOOKS = Counter(
    "bookwire_webhooks_total",
    "Webhook deliveries by source, tenant and result.",
    ["source", "tenant", "result"],
)
INGEST_SECONDS = Histogram(
    "bookwire_ingest_seconds",
    "Time to verify, record and publish one webhook.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)

# Worker side: exposed by each worker's own metrics server (see worker.telemetry.observe).
TASKS = Counter(
    "bookwire_tasks_total",
    "Finished tasks by task name and outcome (one of TASK_OUTCOMES).",
    ["task", "outcome"],
)
TASK_OUTCOMES = frozenset(
    {
        # a booking's sync (worker.sync.SyncOutcome)
        *("created", "recovered", "updated", "cancelled", "up-to-date", "busy", "missing"),
        # a delivery's deferred parse (worker.intake.deferred)
        *("accepted", "stale", "ignored", "quarantined", "duplicate", "already-settled"),
        # a portal hand-over (worker.handoff.hand_off)
        *("delivered", "skipped", "not-ready", "waiting", "nothing-due", "already-done"),
        # a batch of syncs (its bookings are counted in bookwire_batch_bookings_total)
        *("batch", "split"),
        # what became of the task
        *("ok", "retry", "failed", "error", "revoked", "other"),
    }
)
BATCH_BOOKINGS = Counter(
    "bookwire_batch_bookings_total",
    "Bookings synced within batch tasks, by outcome (one of TASK_OUTCOMES).",
    ["outcome"],
)
TASK_SECONDS = Histogram(
    "bookwire_task_seconds",
    "Task run time by task name.",
    ["task"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
EVENT_LATENCY = Histogram(
    "bookwire_booking_to_event_seconds",
    "From a booking's first receipt to its event's creation on the platform.",
    ["tenant"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0),
)
PORTAL_DELIVERIES = Counter(
    "bookwire_portal_deliveries_total",
    "Deliveries to a tenant's portal after an event ended, by tenant, portal kind and result.",
    ["tenant", "portal", "result"],
)
PORTAL_RESULTS = frozenset({"delivered", "skipped", "not-ready", "failed"})

# Every process that reads the tenants file (ingress, worker): see worker.process.reload.
CONFIG_RELOADS = Counter(
    "bookwire_config_reloads_total",
    "Reloads of the tenants and secrets files by result (applied or rejected).",
    ["result"],
)
CONFIG_RELOAD_FAILING = Gauge(
    "bookwire_config_reload_failing",
    "1 while the tenants or secrets file on disk is broken and the previous config is in use.",
)
RELOAD_RESULTS = ("applied", "rejected")
for _result in RELOAD_RESULTS:  # both series exist (at 0) from the start
    CONFIG_RELOADS.labels(_result)


def portal_delivery(tenant: str, portal: str, result: str) -> None:
    """Count one hand-over attempt's result (delivered, skipped, not-ready or failed)."""
    PORTAL_DELIVERIES.labels(tenant, portal, result if result in PORTAL_RESULTS else "other").inc()
