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
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

import redis
from sqlalchemy import delete, func, select, update

from config.tenants import Tenant
from integrations.booking import BookingMessage, BookingStatus, booking_key, booking_reference
from integrations.errors import BookwireError
from integrations.http import Attempt, recording
from integrations.platform import EventSpec, LinkedEvent, Platform, PlatformEvent, event_spec
from worker.records import attempts as attempts_store
from worker.records import failures
from worker.runtime import Runtime
from worker.store.models import AttemptRow, Booking, EventLink
from worker.sync import bookings as sync

log = logging.getLogger(__name__)
STAGE = "reconcile"
DRIFT_KEY = "bookwire:drift"  # hash "<platform>|<kind>|<tenant>" -> items found by the last run
DRIFT_AT_KEY = "bookwire:drift:at"  # hash tenant -> epoch seconds of its last run
CREATE_KEY_WINDOW = timedelta(hours=24)  # Gomry and guest media replay a create key this long
OUR_REFERENCE = re.compile(r"^bw-[0-9a-f]{32}$")  # what ``booking_reference`` makes
UNLOCKED = "not repaired: the broker (Redis), which holds the booking locks, is unreachable"


class DriftKind(StrEnum):
    missing = "missing"
    duplicate = "duplicate"
    stale = "stale"
    open_but_cancelled = "open_but_cancelled"
    orphan = "orphan"


@dataclass
class Drift:
    """One difference between a booking and its platform. ``repair`` says what ``--repair``
    did (``None``: not asked); ``repaired`` whether that converged it."""

    kind: DriftKind
    tenant: str
    platform: str
    booking_id: int | None
    event_id: str | None
    detail: str
    repair: str | None = None
    repaired: bool = False


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


Found = Callable[[DriftKind, "_Booking | None", str | None, str], None]  # notes one drift item


@dataclass
class _Booking:
    """A settled booking in scope, with its link and what it should look like."""

    id: int
    source: str
    version: int
    message: BookingMessage
    link: EventLink | None
    references: frozenset[str]

    @property
    def cancelled(self) -> bool:
        return self.message.status is BookingStatus.cancelled

    @property
    def on_guest_list(self) -> bool:
        """Whether its platform keeps it as people on a guest list (the link's details hold
        their platform ids, ``LinkedEvent.details["guests"]``) rather than as an event."""
        guests = (self.link.details or {}).get("guests") if self.link else None
        return isinstance(guests, Mapping)

    @property
    def people(self) -> frozenset[str]:
        """The platform ids of its people on a guest-list platform (none on event platforms)."""
        guests = (self.link.details or {}).get("guests") if self.link else None
        return frozenset(guests.values()) if isinstance(guests, Mapping) else frozenset()


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
    known = _all_references(rt)
    chosen = [rt.tenants.tenants[tenant]] if tenant else list(rt.tenants.tenants.values())
    for config in chosen:
        try:
            platform = rt.platform(config)
            events = list(platform.list_events(since=since))
        except BookwireError as exc:
            report.errors[config.id] = _reason(exc)
            log.warning("reconcile: platform not read", extra={"tenant": config.id})
            continue
        bookings = _bookings(rt, config.id, since)
        found = _compare(rt, config, platform, bookings, events, known, now=now)
        if repair:
            _repair(rt, config, platform, bookings, found, now=now)
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


# -- reading ---------------------------------------------------------------------------------


def _all_references(rt: Runtime) -> dict[str, int]:
    """Every booking's reference (of every tenant: tenants may share a platform account)."""
    with rt.store.read() as conn:
        rows = conn.execute(select(Booking.id, Booking.tenant, Booking.source, Booking.external_id))
        return {booking_reference(booking_key(t, s, e)): b for b, t, s, e in rows}


def _bookings(rt: Runtime, tenant: str, since: datetime | None) -> list[_Booking]:
    """The tenant's settled bookings whose event ends at or after ``since``."""
    query = (
        select(Booking, EventLink)
        .outerjoin(EventLink, EventLink.booking_id == Booking.id)
        .where(
            Booking.tenant == tenant,
            Booking.applied_version >= Booking.version,
            Booking.state != "failed",
        )
        .order_by(Booking.id)
    )
    found: list[_Booking] = []
    with rt.store.transaction() as session:
        for booking, link in session.execute(query).all():
            try:
                message = BookingMessage.model_validate(booking.message)
            except ValueError:
                continue  # sync reports a booking that no longer validates
            if link is None and message.status is BookingStatus.cancelled:
                continue  # cancelled before it had an event: nothing to hold
            ends = message.end or (link.ends_at if link else None)
            if since is not None and ends is not None and ends < since:
                continue
            session.expunge(booking)
            if link is not None:
                session.expunge(link)
            key = booking_key(tenant, booking.source, booking.external_id)
            refs = frozenset({booking_reference(key), booking_reference(message.key)})
            found.append(_Booking(booking.id, booking.source, booking.version, message, link, refs))
    return found


def _written(
    rt: Runtime, bookings: list[_Booking], events: Mapping[str, PlatformEvent]
) -> dict[int, set[str]]:
    """booking id -> the events a call of ours wrote to for it (their id is in the call's
    path): proof that its people there were put there by us."""
    ids = [b.id for b in bookings if b.people]
    written: dict[int, set[str]] = defaultdict(set)
    if not ids:
        return written
    with rt.store.read() as conn:
        rows = conn.execute(
            select(AttemptRow.booking_id, AttemptRow.path)
            .where(AttemptRow.booking_id.in_(ids), AttemptRow.method != "GET")
            .distinct()
        )
        for booking_id, path in rows:
            if booking_id is not None:
                written[booking_id] |= set(path.split("/")) & events.keys()
    return written


# -- comparing -------------------------------------------------------------------------------


def _compare(
    rt: Runtime,
    tenant: Tenant,
    platform: Platform,
    bookings: list[_Booking],
    events: list[PlatformEvent],
    known: Mapping[str, int],
    *,
    now: datetime,
) -> list[Drift]:
    kind = tenant.platform.kind
    by_id = {e.event_id: e for e in events}
    by_reference: dict[str, list[PlatformEvent]] = defaultdict(list)
    for event in events:  # another system's reference in the same field is not ours
        if event.reference is not None and event.open and OUR_REFERENCE.match(event.reference):
            by_reference[event.reference].append(event)
    written = _written(rt, bookings, by_id)
    claimed = {  # (event, person) pairs a confirmed booking of ours holds
        (b.link.event_id, pid) for b in bookings if b.link and not b.cancelled for pid in b.people
    }
    found: list[Drift] = []

    def drift(kind_: DriftKind, booking: _Booking | None, event_id: str | None, why: str) -> None:
        booking_id = booking.id if booking else None
        found.append(Drift(kind_, tenant.id, kind, booking_id, event_id, why))

    for booking in bookings:
        if booking.on_guest_list:
            _compare_guests(booking, by_id, written[booking.id], claimed, drift)
            continue
        spec = None if booking.cancelled else _spec(tenant, platform, booking.message)
        _compare_event(booking, spec, by_id, by_reference, drift, now=now)
    ours = {ref for b in bookings for ref in b.references}
    for reference, carrying in by_reference.items():
        if reference not in known and reference not in ours:
            for event in carrying:
                drift(DriftKind.orphan, None, event.event_id, "carries a reference we never made")
    return found


def _compare_event(
    booking: _Booking,
    spec: EventSpec | None,
    by_id: Mapping[str, PlatformEvent],
    by_reference: Mapping[str, list[PlatformEvent]],
    drift: Found,
    *,
    now: datetime,
) -> None:
    link = booking.link
    linked = by_id.get(link.event_id) if link else None
    carrying = [e for ref in booking.references for e in by_reference.get(ref, ())]
    if spec is None:  # cancelled: nothing of it may stay open
        still_open = {e.event_id for e in carrying} | (
            {linked.event_id} if linked and linked.open else set()
        )
        for event_id in sorted(still_open):
            drift(
                DriftKind.open_but_cancelled,
                booking,
                event_id,
                "open though the booking is cancelled",
            )
        return
    if linked is None:
        gone = link.event_id if link else None
        drift(DriftKind.missing, booking, gone, "its event is not on the platform")
        for event in carrying:
            why = "carries the booking's reference but is not its linked event"
            drift(DriftKind.orphan, booking, event.event_id, why)
        return
    differences = _differences(linked, spec, now=now)
    if differences:
        drift(DriftKind.stale, booking, linked.event_id, "differs: " + ", ".join(differences))
    for event in carrying:
        if event.event_id != linked.event_id:
            drift(DriftKind.duplicate, booking, event.event_id, f"copy of event {linked.event_id}")


def _compare_guests(
    booking: _Booking,
    by_id: Mapping[str, PlatformEvent],
    written: set[str],
    claimed: set[tuple[str, str]],
    drift: Found,
) -> None:
    """A guest-list booking is its people on the linked event, going, and nowhere else we put
    them (unless another booking of ours holds them there: one person, two parties)."""
    assert booking.link is not None
    target = booking.link.event_id
    people = booking.people

    def going(event_id: str) -> set[str]:
        guests = by_id[event_id].guests if event_id in by_id else None
        return {pid for pid in people if (guests or {}).get(pid)}

    others = sorted(written - {target})
    if booking.cancelled:
        for event_id in [target, *others]:
            held = going(event_id) - {pid for e, pid in claimed if e == event_id}
            if held:
                why = f"{len(held)} of its people still going though the booking is cancelled"
                drift(DriftKind.open_but_cancelled, booking, event_id, why)
        return
    absent = people - going(target)
    if absent:
        drift(DriftKind.missing, booking, target, f"{len(absent)} of its people not going")
    for event_id in others:
        held = going(event_id) - {pid for e, pid in claimed if e == event_id}
        if held:
            why = f"{len(held)} of its people still going on this old event (now {target})"
            drift(DriftKind.stale, booking, event_id, why)


def _differences(event: PlatformEvent, spec: EventSpec, *, now: datetime) -> list[str]:
    """The booking's fields the event does not hold (a field the platform has no place for,
    ``None``, is not compared). Times to the minute: Gomry keeps no seconds."""
    differences = []
    if event.name is not None and event.name != spec.name:
        differences.append("name")
    same_times = _minute(event.start) == _minute(spec.start) and (
        _minute(event.end) == _minute(spec.end)
    )
    if _minute(event.start) != _minute(spec.start):
        differences.append("start")
    if _minute(event.end) != _minute(spec.end):
        differences.append("end")
    # Gomry sends times in UTC when the booking's zone cannot name them (clocks going back)
    moved_zone = event.timezone is not None and event.timezone != spec.timezone
    if moved_zone and not (event.timezone == "UTC" and same_times):
        differences.append("timezone")
    wanted = spec.location or spec.meeting_url
    if event.location is not None and wanted and event.location != wanted:
        differences.append("location")
    if not event.open and (event.end or spec.end) > now:  # an event over is closed anyway
        differences.append("closed")
    return differences


def _minute(value: datetime | None) -> datetime | None:
    return value.replace(second=0, microsecond=0) if value else None


def _spec(tenant: Tenant, platform: Platform, message: BookingMessage) -> EventSpec:
    brand = tenant.brand_for(message.client)
    return event_spec(message, brand, name_max=platform.name_max)


# -- repairing -------------------------------------------------------------------------------


def _repair(
    rt: Runtime,
    tenant: Tenant,
    platform: Platform,
    bookings: list[_Booking],
    found: list[Drift],
    *,
    now: datetime,
) -> None:
    by_id = {b.id: b for b in bookings}
    resync: dict[int, Drift] = {}
    for item in found:
        booking = by_id.get(item.booking_id) if item.booking_id is not None else None
        if item.kind is DriftKind.orphan or booking is None:
            item.repair = "reported only: nothing proves it is ours"
            continue
        if item.kind is DriftKind.missing:
            replays_until = (
                None if booking.on_guest_list else _create_replayed_until(rt, booking.id)
            )
            if replays_until is not None and replays_until > now:
                item.repair = (
                    "deferred: the platform replays the booking's create until "
                    f"{replays_until.isoformat()} (idempotency window); a later run re-creates it"
                )
                continue
            resync[booking.id] = item
            continue
        try:
            _call_under_lock(rt, tenant, platform, booking, item, now=now)
        except redis.exceptions.RedisError:
            item.repair = UNLOCKED
    if resync:
        try:
            _resync(rt, [by_id[b] for b in resync], resync, now=now)
        except redis.exceptions.RedisError:
            for item in resync.values():  # the booking is pending again: the relay takes it
                item.repair = f"queued again ({UNLOCKED})"


def _call_under_lock(
    rt: Runtime,
    tenant: Tenant,
    platform: Platform,
    booking: _Booking,
    item: Drift,
    *,
    now: datetime,
) -> None:
    """One platform call for one drift item, while no sync can run for the booking."""
    calls: list[Attempt] = []
    with rt.booking_locks([booking.id]) as held:
        if booking.id not in held or not _unchanged(rt, booking):
            item.repair = "skipped: the booking is syncing or changed; the next run looks again"
            return
        assert item.event_id is not None
        details = booking.link.details or {} if booking.link else {}
        try:
            with recording(calls.append):
                if item.kind is DriftKind.stale and not booking.on_guest_list:
                    assert booking.link is not None
                    spec = _spec(tenant, platform, booking.message)
                    platform.update_event(LinkedEvent(booking.link.event_id, details), spec)
                    item.repair = "updated"
                else:  # duplicate, open_but_cancelled, a guest list's old event
                    platform.cancel_event(LinkedEvent(item.event_id, details))
                    item.repair = "released" if booking.on_guest_list else "cancelled"
            item.repaired = True
        except BookwireError as exc:
            item.repair = f"failed: {_reason(exc)}"
        finally:
            attempts_store.record(rt.store, booking.id, calls, now=now)


def _resync(
    rt: Runtime, bookings: list[_Booking], items: Mapping[int, Drift], *, now: datetime
) -> None:
    """Missing: forget the vanished event and let the normal sync path make it again."""
    with rt.store.transaction() as session:
        for booking in bookings:
            if not booking.on_guest_list:  # an event platform's event is gone: so is its link
                session.execute(delete(EventLink).where(EventLink.booking_id == booking.id))
            session.execute(
                update(Booking)
                .where(Booking.id == booking.id, Booking.version == booking.version)
                .values(applied_version=booking.version - 1, state="pending", queued_at=now)
            )
    results = sync.sync_bookings(rt, [b.id for b in bookings], now=now)
    for booking in bookings:
        item, result = items[booking.id], results[booking.id]
        if isinstance(result, BaseException):
            item.repair = f"queued again (sync: {_reason(result)})"
        elif (
            result.event_id is not None
            and result.event_id == item.event_id
            and not booking.on_guest_list
        ):
            item.repair = (
                "not repaired: the platform replayed its first create (idempotency window); "
                "a later run creates it"
            )
        else:
            item.repair = f"synced again ({result.outcome}, event {result.event_id})"
            item.repaired = result.outcome != "busy"


def _create_replayed_until(rt: Runtime, booking_id: int) -> datetime | None:
    """Until when the platform may still replay the booking's last create: a re-create
    before then would get the deleted event back instead of a new one."""
    with rt.store.read() as conn:
        last = conn.execute(
            select(func.max(AttemptRow.at)).where(
                AttemptRow.booking_id == booking_id, AttemptRow.method == "POST"
            )
        ).scalar()
    return last + CREATE_KEY_WINDOW if last is not None else None


def _unchanged(rt: Runtime, booking: _Booking) -> bool:
    with rt.store.read() as conn:
        row = conn.execute(
            select(Booking.version, Booking.applied_version).where(Booking.id == booking.id)
        ).first()
    return row is not None and row[0] == booking.version and row[1] >= row[0]


# -- where drift shows -----------------------------------------------------------------------


def _record(
    rt: Runtime, tenant: str, bookings: list[_Booking], found: list[Drift], *, now: datetime
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
    for tenant, reason in report.errors.items():
        lines.append(f"{tenant}: platform not read: {reason}")
    counts = ", ".join(f"{kind} {n}" for kind, n in report.counts().items() if n)
    lines.append(
        f"{report.bookings} bookings, {report.events} platform events: "
        f"{len(report.drift)} drift" + (f" ({counts})" if counts else "")
    )
    return lines


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _reason(exc: BaseException) -> str:
    return str(exc)[:300] or type(exc).__name__
