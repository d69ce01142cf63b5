"""``bookwire reconcile``: what each platform really holds, against what every booking should
have; the drift reported by kind and, with ``repair``, converged.

Sync is level-triggered on *our* side (``version`` against ``applied_version``); nothing there
notices an event deleted, moved or copied by hand on the platform. This reads every event the
platform holds for a tenant (``Platform.list_events``, paged as the platform documents) and
compares it with every settled booking (synced, not pending, not failed):

- ``missing``: a booking that should have an open event has none (deleted by hand); on a
  guest-list platform (Gatsby), some of its people are no longer going on its event;
- ``duplicate``: more than one open event carries the booking's reference;
- ``stale``: the event's name, start, end, time zone or place differ from the booking, or it is
  closed though not over; on a guest-list platform, its people are still going on an event
  it left (a reschedule whose release did not hold);
- ``open_but_cancelled``: the booking is cancelled and an event carrying it is still open
  (guest lists: its people are still invited or accepted);
- ``orphan``: an open event carries one of our references but no booking of ours has it, or a
  booking has it but links another event. Reported only: nothing proves it is ours to touch.

Repairs (``repair=True``), each under the booking's lock and recorded as attempts:

- ``missing``: the link to the vanished event is dropped (guest lists keep it: the people's
  ids are still good) and the booking is made pending again, then ``sync.sync_bookings`` runs
  it: the normal create path, Idempotency-Key and all. While the platform would still replay
  the booking's last create (24 h after it, ``CREATE_KEY_WINDOW``) a re-create would only get
  the deleted event back, so the repair is deferred (reported, not repaired) to a later run;
- ``duplicate``: the event the link points at stays, the others are cancelled
  (``cancel_event``: Gomry closes and hides, guest media cancels, Gatsby releases the people);
- ``stale``: ``update_event`` (guest lists: ``cancel_event`` on the old event releases them);
- ``open_but_cancelled``: ``cancel_event``.

Drift shows in the report (ids, kinds and field names, never names or emails), as one
``reconcile`` failure record per booking (its reason lists the kinds; resolved by the next
reconcile that finds the booking clean), in ``bookwire status``, and in the
``bookwire_drift_items{kind, platform}`` gauge: each run leaves its counts in Redis
(``DRIFT_KEY``) and ``worker.ops.state_metrics`` serves them at scrape time.

Three modules: this one runs a reconcile and shows its drift; ``worker.sync.drift`` reads and
compares; ``worker.sync.repair`` converges.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from config.tenants import Tenant
from integrations.errors import BookwireError
from worker.records import failures
from worker.runtime import Runtime
from worker.sync.drift import Drift, DriftKind, Settled, all_references, compare, settled
from worker.sync.repair import converge, reason

log = logging.getLogger(__name__)
STAGE = "reconcile"
DRIFT_KEY = "bookwire:drift"  # hash "<platform>|<kind>|<tenant>" -> items found by the last run
DRIFT_AT_KEY = "bookwire:drift:at"  # hash tenant -> epoch seconds of its last run


@dataclass
class Report:
    """What one reconcile saw and did: ids, kinds and counts only."""

    bookings: int = 0
    events: int = 0
    drift: list[Drift] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # tenant -> why it was not read

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(DriftKind, 0)
        for item in self.drift:
            found[item.kind] += 1
        return {str(kind): n for kind, n in found.items()}

    @property
    def clean(self) -> bool:
        """Nothing left to do: no drift, or every item repaired, and every tenant read."""
        return not self.errors and all(item.repaired for item in self.drift)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bookings": self.bookings,
            "events": self.events,
            "counts": self.counts(),
            "drift": [{**asdict(item), "kind": str(item.kind)} for item in self.drift],
            "errors": self.errors,
            "clean": self.clean,
        }


def reconcile(
    rt: Runtime,
    *,
    now: datetime,
    tenant: str | None = None,
    since: datetime | None = None,
    repair: bool = False,
) -> Report:
    """Compare every (or one) tenant's platform with its bookings; repair if asked."""
    if tenant is not None and rt.tenant(tenant) is None:
        raise LookupError(f"no tenant {tenant!r}")
    report = Report()
    known = all_references(rt)
    chosen = [rt.tenants.tenants[tenant]] if tenant else list(rt.tenants.tenants.values())
    for config in chosen:
        try:
            platform = rt.platform(config)
            events = list(platform.list_events(since=since))
        except BookwireError as exc:
            report.errors[config.id] = reason(exc)
            log.warning("reconcile: platform not read", extra={"tenant": config.id})
            continue
        bookings = settled(rt, config.id, since)
        found = compare(rt, config, platform, bookings, events, known, now=now)
        if repair:
            converge(rt, config, platform, bookings, found, now=now)
        _record(rt, config.id, bookings, found, now=now)
        _publish(rt, config, found, now=now)
        report.bookings += len(bookings)
        report.events += len(events)
        report.drift += found
        log.info("reconciled", extra={"tenant": config.id, "count": len(found)})
    return report


def sweep(rt: Runtime, *, now: datetime) -> int:
    """The beat task's run: every tenant, events that ended within ``reconcile_lookback_hours``
    or later, repaired when ``reconcile_repair`` is on. Returns the drift found."""
    settings = rt.settings
    since = now - timedelta(hours=settings.reconcile_lookback_hours)
    report = reconcile(rt, now=now, since=since, repair=settings.reconcile_repair)
    return len(report.drift)


# -- where drift shows -----------------------------------------------------------------------


def _record(
    rt: Runtime, tenant: str, bookings: list[Settled], found: list[Drift], *, now: datetime
) -> None:
    """One open ``reconcile`` failure per booking with drift; the clean ones resolved."""
    per_booking: dict[int, list[Drift]] = defaultdict(list)
    for item in found:
        if item.booking_id is not None:
            per_booking[item.booking_id].append(item)
    sources = {b.id: b.source for b in bookings}
    with rt.store.transaction() as session:
        for booking_id, items in per_booking.items():
            failures.record(
                session,
                tenant=tenant,
                source=sources[booking_id],
                stage=STAGE,
                reason=_summary(items),
                booking_id=booking_id,
                now=now,
            )
        for booking in bookings:
            if booking.id not in per_booking:
                failures.resolve(session, booking_id=booking.id, stage=STAGE, now=now)


def _summary(items: Iterable[Drift]) -> str:
    parts = []
    for item in items:
        text = f"{item.kind} (event {item.event_id or '-'}): {item.detail}"
        parts.append(f"{text}; repair: {item.repair}" if item.repair else text)
    return "; ".join(parts)


def _publish(rt: Runtime, tenant: Tenant, found: list[Drift], *, now: datetime) -> None:
    """Leave this tenant's counts where ``/metrics`` reads them (labels: kind, platform)."""
    counts = {f"{tenant.platform.kind}|{kind}|{tenant.id}": 0 for kind in DriftKind}
    for item in found:
        counts[f"{item.platform}|{item.kind}|{tenant.id}"] += 1
    try:
        stale = [f for f in rt.redis.hkeys(DRIFT_KEY) if _text(f).endswith(f"|{tenant.id}")]
        pipe = rt.redis.pipeline(transaction=True)
        if stale:
            pipe.hdel(DRIFT_KEY, *stale)
        for name, count in counts.items():
            pipe.hset(DRIFT_KEY, name, count)
        pipe.hset(DRIFT_AT_KEY, tenant.id, now.timestamp())
        pipe.execute()
    except Exception:  # the report and the failure records stand without the gauge
        log.warning("reconcile: drift counts not published", extra={"tenant": tenant.id})


class DriftCounts(NamedTuple):
    """The drift gauges' values, summed over tenants."""

    by_platform_kind: dict[tuple[str, str], int]  # drift items
    oldest_run: float | None  # when the least recently reconciled tenant ran (epoch seconds)


def drift_counts(rt: Runtime) -> DriftCounts:
    """Drift items by (platform, kind) summed over tenants, and the oldest tenant's last run."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for name, value in rt.redis.hgetall(DRIFT_KEY).items():
        platform, kind, _tenant = _text(name).split("|", 2)
        counts[(platform, kind)] += int(value)
    runs = [float(v) for v in rt.redis.hvals(DRIFT_AT_KEY)]
    return DriftCounts(dict(counts), min(runs) if runs else None)


def render(report: Report) -> list[str]:
    """The report for a terminal: one line per drift item, then the totals."""
    lines = []
    for item in report.drift:
        booking = f"booking #{item.booking_id}" if item.booking_id is not None else "no booking"
        line = f"{item.tenant} {item.platform} {item.kind}: {booking}, event {item.event_id}"
        line += f": {item.detail}"
        if item.repair is not None:
            line += f" [{item.repair}]"
        lines.append(line)
    for tenant, why in report.errors.items():
        lines.append(f"{tenant}: platform not read: {why}")
    counts = ", ".join(f"{kind} {n}" for kind, n in report.counts().items() if n)
    lines.append(
        f"{report.bookings} bookings, {report.events} platform events: "
        f"{len(report.drift)} drift" + (f" ({counts})" if counts else "")
    )
    return lines


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
