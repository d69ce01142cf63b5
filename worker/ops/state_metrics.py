"""Gauges read from the store and the broker at scrape time, served by the ingress's ``/metrics``.

These describe the whole system, not one process, so they are computed where they are scraped
(one cheap query each) instead of being counted in every worker. With several ingress instances
each reports the same values: aggregate with ``max``, not ``sum``. If the store or the broker is
unreachable its gauges are left out and ``bookwire_state_up{part=…}`` is 0.

Labels are slugs and states only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select

from worker.celery_app import QUEUE
from worker.fair_share import queue_lists
from worker.runtime import Runtime
from worker.store.models import AlertRow, Booking, Delivery, Failure


def collect(rt: Runtime, *, now: datetime | None = None) -> bytes:
    """The exposition text of every state gauge."""
    now = now or datetime.now(UTC)
    registry = CollectorRegistry()
    up = Gauge("bookwire_state_up", "1 when this part could be read.", ["part"], registry=registry)
    up.labels("broker").set(_broker(rt, registry))
    up.labels("store").set(_store(rt, registry, now))
    _drift(rt, registry)
    _source_health(rt, registry)
    _alerts(rt, registry)
    return generate_latest(registry)


def _alerts(rt: Runtime, registry: CollectorRegistry) -> None:
    """Alerts the sink has not taken yet (``worker.alerts``): ``failing`` when its last answer
    was an error (or none came), ``waiting`` otherwise (held by the rate limit, or due at the
    next run)."""
    unsent = Gauge(
        "bookwire_alerts_unsent",
        "Alert groups not yet taken by the alert sink, by state (waiting, failing).",
        ["state"],
        registry=None,
    )
    try:
        with rt.store.read() as conn:
            total, failing = conn.execute(
                select(func.count(), func.count(AlertRow.last_error)).where(
                    AlertRow.sent_at.is_(None)
                )
            ).one()
    except Exception:
        return
    unsent.labels("waiting").set(total - failing)
    unsent.labels("failing").set(failing)
    registry.register(unsent)


def _source_health(rt: Runtime, registry: CollectorRegistry) -> None:
    """What the last source health check found, by source slug (tenants stay out). Left out
    until a check has run."""
    from worker.intake.source_health import counts

    silent = Gauge(
        "bookwire_source_silent",
        "Tenants whose source sent nothing for longer than expect_delivery_within.",
        ["source"],
        registry=None,
    )
    disabled = Gauge(
        "bookwire_source_disabled",
        "Tenants whose webhook subscription the vendor has disabled.",
        ["source"],
        registry=None,
    )
    try:
        found = counts(rt)
    except Exception:
        return
    if not found:
        return
    for source, (quiet, off) in found.items():
        silent.labels(source).set(quiet)
        disabled.labels(source).set(off)
    registry.register(silent)
    registry.register(disabled)


def _broker(rt: Runtime, registry: CollectorRegistry) -> int:
    depth = Gauge(
        "bookwire_queue_depth", "Messages waiting in the broker queue.", ["queue"], registry=None
    )
    unacked = Gauge(
        "bookwire_queue_unacked",
        "Messages a worker holds but has not acknowledged (running or waiting to retry).",
        registry=None,
    )
    try:
        depth.labels(QUEUE).set(float(sum(rt.redis.llen(q) for q in queue_lists(QUEUE))))
        unacked.set(float(rt.redis.hlen("unacked")))
    except Exception:
        return 0
    registry.register(depth)
    registry.register(unacked)
    return 1


def _drift(rt: Runtime, registry: CollectorRegistry) -> None:
    """What the last ``bookwire reconcile`` of each tenant found, summed (labels: kind and
    platform kind; tenants stay out). Left out until a reconcile has run."""
    from worker.sync.reconcile import drift_counts

    items = Gauge(
        "bookwire_drift_items",
        "Drift the last reconcile found (missing, duplicate, stale, open_but_cancelled, "
        "orphan), by kind and platform kind.",
        ["kind", "platform"],
        registry=None,
    )
    checked = Gauge(
        "bookwire_drift_checked_timestamp_seconds",
        "When the least recently reconciled tenant was last reconciled.",
        registry=None,
    )
    try:
        drift = drift_counts(rt)
    except Exception:
        return
    if drift.oldest_run is None:
        return
    for (platform, kind), count in drift.by_platform_kind.items():
        items.labels(kind, platform).set(count)
    checked.set(drift.oldest_run)
    registry.register(items)
    registry.register(checked)


def _store(rt: Runtime, registry: CollectorRegistry, now: datetime) -> int:
    failures = Gauge(
        "bookwire_failures_open",
        "Unresolved failure records by tenant and stage (parse, fetch, sync, overdue, portal).",
        ["tenant", "stage"],
        registry=None,
    )
    pending = Gauge(
        "bookwire_bookings_pending",
        "Bookings whose latest state is not yet on the platform, by tenant.",
        ["tenant"],
        registry=None,
    )
    oldest = Gauge(
        "bookwire_oldest_pending_seconds",
        "Age of the longest-waiting pending booking (0 when none).",
        registry=None,
    )
    waiting = Gauge(
        "bookwire_deliveries_waiting",
        "Thin webhooks stored but not yet parsed by a worker.",
        registry=None,
    )
    try:
        with rt.store.transaction() as session:
            open_rows = session.execute(
                select(Failure.tenant, Failure.stage, func.count())
                .where(Failure.resolved_at.is_(None))
                .group_by(Failure.tenant, Failure.stage)
            ).all()
            pending_rows = session.execute(
                select(Booking.tenant, func.count(), func.min(Booking.updated_at))
                .where(Booking.state == "pending")
                .group_by(Booking.tenant)
            ).all()
            deferred = session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "received")
            )
    except Exception:
        return 0
    for tenant, stage, count in open_rows:
        failures.labels(tenant, stage).set(count)
    for tenant_id in _tenants(rt):  # 0, not absent, for a tenant with nothing pending
        pending.labels(tenant_id).set(0)
    first: datetime | None = None
    for tenant, count, since in pending_rows:
        pending.labels(tenant).set(count)
        if since is not None:
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
            first = since if first is None else min(first, since)
    oldest.set(max(0.0, (now - first).total_seconds()) if first else 0.0)
    waiting.set(float(deferred or 0))
    for gauge in (failures, pending, oldest, waiting):
        registry.register(gauge)
    return 1


def _tenants(rt: Runtime) -> list[str]:
    """The configured tenants' ids (none when the tenants file cannot be read right now)."""
    try:
        return list(rt.tenants.tenants)
    except Exception:
        return []
