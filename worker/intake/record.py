"""The one way in: record a delivery durably, fold its bookings into their latest state, publish.

Used by the HTTP ingress, the Python API / ``bookwire publish`` and replays alike. Ordering lives
here: a booking's stored state only ever moves forward in the source's ``updated_at``; an older
delivery is recorded as ``stale`` and changes nothing. Publishing happens after commit; what is
stored but not published (broker down, crash) is republished by the relay.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cache

from sqlalchemy import Connection, Executable, bindparam, select, update
from sqlalchemy.orm import Session

from integrations.booking import BookingMessage
from integrations.connector import Source, WebhookRequest
from integrations.errors import PayloadError
from worker import fair_share
from worker.publish import send, send_bookings
from worker.records import failures, history
from worker.runtime import Runtime
from worker.store.db import upsert_insert
from worker.store.models import Booking, BookingAlias, Delivery, table

log = logging.getLogger(__name__)

IGNORED = "event type not relevant"
SENSITIVE_HEADERS = ("authorization", "cookie", "x-api-key", "proxy-authorization")


class Outcome(StrEnum):
    """What happened to one delivery; all but ``duplicate`` are also its inbox row's status."""

    accepted = "accepted"  # its bookings moved to a newer state
    stale = "stale"  # older than the state we hold: changes nothing
    ignored = "ignored"  # an event type we deliberately ignore
    quarantined = "quarantined"  # verified but unusable: stored with the reason
    duplicate = "duplicate"  # recorded before (a vendor's retry): the stored one's id
    received = "received"  # a thin webhook, parsed later by the worker with API look-ups


@dataclass(frozen=True)
class Receipt:
    """What happened to one delivery."""

    delivery_id: int
    outcome: Outcome
    bookings: tuple[int, ...] = ()
    reason: str | None = None
    field: str | None = None


@dataclass(frozen=True)
class Arrival:
    """A verified delivery, parsed (or, for a thin webhook, shape-checked): ready to record.

    Built without I/O, so the ingress can prepare many and record them in one transaction."""

    tenant: str
    source: str
    request: WebhookRequest
    key: str
    now: datetime
    messages: tuple[BookingMessage, ...] = ()
    error: PayloadError | None = None
    deferred: bool = False  # a thin webhook the worker parses with API look-ups (``ingest``)


def prepare(
    rt: Runtime,
    *,
    tenant: str,
    source: str,
    request: WebhookRequest,
    connector: Source,
    now: datetime,
) -> Arrival:
    """Parse a verified delivery (deferred connectors: only shape-check it)."""
    try:
        key = connector.delivery_id(request)
    except Exception as exc:  # the body hash still dedupes a vendor's retries
        log.warning("delivery id unreadable", extra={"source": source, "error": type(exc).__name__})
        key = None
    key = key or "sha256:" + hashlib.sha256(request.body).hexdigest()
    context = rt.parse_context(tenant, source, now=now, with_http=False)
    arrival = Arrival(tenant, source, request, key[:255], now)
    try:
        if connector.check is not None:  # a thin webhook: parsed in the worker
            relevant = connector.check(request, context=context)
            return replace(arrival, deferred=bool(relevant))
        return replace(arrival, messages=tuple(connector.parse(request, context=context)))
    except PayloadError as exc:
        return replace(arrival, error=exc)
    except Exception as exc:  # signed input never gets a 500: keep it, quarantined
        return replace(arrival, error=unreadable(exc, source=source))


def unreadable(exc: Exception, *, source: str) -> PayloadError:
    """What a connector raised by surprise (a bug, or input beyond what it can handle), as
    the PayloadError it should have raised: the delivery is stored as quarantined with this
    reason and can be replayed after a fix, instead of failing where nothing is kept. The
    reason names only the exception's type (its message may quote personal data)."""
    log.warning(
        "connector could not read a delivery", extra={"source": source, "error": type(exc).__name__}
    )
    return PayloadError(
        f"the {source} connector could not read this delivery ({type(exc).__name__})"
    )


def receive(
    rt: Runtime,
    *,
    tenant: str,
    source: str,
    request: WebhookRequest,
    connector: Source,
    options: object = None,
    now: datetime,
) -> Receipt:
    """Record one verified delivery, apply its bookings and publish them."""
    arrival = prepare(
        rt, tenant=tenant, source=source, request=request, connector=connector, now=now
    )
    return record(rt, [arrival])[0]


def record(rt: Runtime, arrivals: Sequence[Arrival]) -> list[Receipt]:
    """Record deliveries in one transaction (the ingress's group commit), then publish what
    they moved. Raises if the transaction fails: then none of them is stored."""
    with rt.store.transaction() as session:
        receipts = [_record_one(session, arrival) for arrival in arrivals]
    publish_deliveries(rt, [r.delivery_id for r in receipts if r.outcome == Outcome.received])
    tenants = {b: a.tenant for a, r in zip(arrivals, receipts, strict=True) for b in r.bookings}
    publish(rt, list(tenants), tenants=tenants)
    return receipts


def _record_one(session: Session, arrival: Arrival) -> Receipt:
    conn = session.connection()
    parse_later = arrival.deferred and arrival.error is None
    # stored as what it most likely is (one statement less on the hot path); _settle corrects it
    status = Outcome.received if parse_later else Outcome.accepted
    delivery_id = conn.execute(
        _statements(conn.dialect.name).record_delivery,
        {
            "tenant": arrival.tenant,
            "source": arrival.source,
            "delivery_key": arrival.key,
            "received_at": arrival.now,
            "queued_at": arrival.now,
            "status": status,
            "reason": None,
            "headers": _safe_headers(arrival.request.headers),
            "body": arrival.request.body,
        },
    ).scalar_one_or_none()
    if delivery_id is None:  # recorded before: a vendor's retry, or a race with another copy
        existing = conn.execute(
            _FIND_DELIVERY,
            {"tenant": arrival.tenant, "source": arrival.source, "key": arrival.key},
        ).one()
        return Receipt(existing.id, Outcome.duplicate, reason=existing.reason)
    if parse_later:
        return Receipt(delivery_id, Outcome.received)
    return settle(
        session,
        delivery_id,
        (arrival.tenant, arrival.source),
        list(arrival.messages),
        arrival.error,
        arrival.now,
        stored=status,
    )


def accept(session: Session, messages: Sequence[BookingMessage], *, now: datetime) -> list[int]:
    """Fold messages into their bookings; return the ids whose state moved forward."""
    conn = session.connection()
    moved: list[int] = []
    for message in messages:
        message = _canonical(conn, message)
        booking_id = _upsert(conn, message, now)
        if booking_id is not None:
            moved.append(booking_id)
        history.remember(conn, message, booking_id, now=now)
    return moved


def publish(
    rt: Runtime, booking_ids: Sequence[int], *, tenants: Mapping[int, str] | None = None
) -> int:
    """Queue the syncs of these bookings, batched per tenant (``worker.publish``); a tenant
    over its share goes behind the others (``worker.fair_share``). ``tenants``: each booking's
    tenant, read from the store when not given. Failures are left to the relay. Returns how
    many bookings were sent."""
    if not booking_ids:
        return 0
    if tenants is None:
        with rt.store.read() as conn:
            rows = conn.execute(_TENANTS, {"ids": list(booking_ids)})
            tenants = {booking_id: tenant for booking_id, tenant in rows}
    by_tenant: dict[str, list[int]] = {}
    for booking_id in dict.fromkeys(booking_ids):
        by_tenant.setdefault(tenants.get(booking_id, ""), []).append(booking_id)
    behind = fair_share.priorities(rt, {t: len(ids) for t, ids in by_tenant.items()})
    sent = 0
    for tenant, ids in by_tenant.items():
        done = send_bookings(rt, ids, priority=behind.get(tenant))
        sent += done
        if done < len(ids):  # the broker is down: the relay publishes the rest
            break
    return sent


def publish_deliveries(rt: Runtime, delivery_ids: Sequence[int]) -> int:
    """Queue the worker-side parse of deferred deliveries; the relay covers failures."""
    return send(rt, "bookwire.ingest_delivery", "delivery", delivery_ids)


def settle(
    session: Session,
    delivery_id: int,
    origin: tuple[str, str],
    messages: list[BookingMessage],
    error: PayloadError | None,
    now: datetime,
    *,
    stored: str | None = None,
) -> Receipt:
    """Apply a parsed delivery's bookings (or its parse error) and set the delivery's status
    (unless it is ``stored`` with that status already)."""
    tenant, source = origin
    if error is not None:
        set_status(session, delivery_id, Outcome.quarantined, str(error))
        failures.record(
            session,
            tenant=tenant,
            source=source,
            delivery_id=delivery_id,
            stage="parse",
            reason=str(error),
            now=now,
        )
        return Receipt(delivery_id, Outcome.quarantined, reason=error.reason, field=error.field)
    if not messages:
        set_status(session, delivery_id, Outcome.ignored, IGNORED)
        return Receipt(delivery_id, Outcome.ignored, reason=IGNORED)
    stamped = [m.model_copy(update={"delivery_id": delivery_id}) for m in messages]
    moved = accept(session, stamped, now=now)
    status = Outcome.accepted if moved else Outcome.stale
    reason = None if moved else "older than the booking's current state"
    if status != stored:
        set_status(session, delivery_id, status, reason)
    return Receipt(delivery_id, status, tuple(moved), reason=reason)


def set_status(
    session: Session,
    delivery_id: int,
    status: str,
    reason: str | None,
    *,
    queued_at: datetime | None = None,
) -> None:
    values: dict[str, object] = {"status": status, "reason": reason}
    if queued_at is not None:
        values["queued_at"] = queued_at
    session.connection().execute(
        update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(**values)
    )


def _canonical(conn: Connection, message: BookingMessage) -> BookingMessage:
    """Rewrite a message to the booking it belongs to, recording a new id as an alias."""
    own = _resolve(conn, message.tenant, message.source, message.booking_id)
    if message.replaces is None:
        return (
            message if own == message.booking_id else message.model_copy(update={"booking_id": own})
        )
    root = _resolve(conn, message.tenant, message.source, message.replaces)
    if own != root:
        conn.execute(
            _statements(conn.dialect.name).record_alias,
            {
                "tenant": message.tenant,
                "source": message.source,
                "alias_id": message.booking_id,
                "external_id": root,
            },
        )
    return message.model_copy(update={"booking_id": root, "replaces": None})


def _resolve(conn: Connection, tenant: str, source: str, booking_id: str) -> str:
    found = conn.execute(
        _RESOLVE_ALIAS, {"tenant": tenant, "source": source, "alias": booking_id}
    ).scalar_one_or_none()
    return found or booking_id


def _upsert(conn: Connection, message: BookingMessage, now: datetime) -> int | None:
    values = {
        "tenant": message.tenant,
        "source": message.source,
        "external_id": message.booking_id,
        "status": message.status.value,
        "message": message.model_dump(mode="json"),
        "source_updated_at": message.updated_at,
        "version": 1,
        "applied_version": 0,
        "state": "pending",
        "last_delivery_id": message.delivery_id,
        "received_at": now,
        "updated_at": now,
        "queued_at": now,
    }
    return conn.execute(_statements(conn.dialect.name).upsert_booking, values).scalar_one_or_none()


def _safe_headers(headers: object) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else []
    return {
        k.lower(): v
        for k, v in items
        if k.lower() not in SENSITIVE_HEADERS
        and "secret" not in k.lower()
        and "token" not in k.lower()
    }


# The hot path's statements, built once (per dialect) and executed with bound parameters: the
# ingress records every delivery through these, so nothing is rebuilt per request.
DELIVERIES = table(Delivery)
BOOKINGS = table(Booking)
_TENANTS = select(BOOKINGS.c.id, BOOKINGS.c.tenant).where(
    BOOKINGS.c.id.in_(bindparam("ids", expanding=True))
)
ALIASES = table(BookingAlias)
_FIND_DELIVERY = select(DELIVERIES.c.id, DELIVERIES.c.reason).where(
    DELIVERIES.c.tenant == bindparam("tenant"),
    DELIVERIES.c.source == bindparam("source"),
    DELIVERIES.c.delivery_key == bindparam("key"),
)
_RESOLVE_ALIAS = select(ALIASES.c.external_id).where(
    ALIASES.c.tenant == bindparam("tenant"),
    ALIASES.c.source == bindparam("source"),
    ALIASES.c.alias_id == bindparam("alias"),
)


@dataclass(frozen=True)
class _Statements:
    record_delivery: Executable
    record_alias: Executable
    upsert_booking: Executable


@cache
def _statements(dialect: str) -> _Statements:
    insert = upsert_insert(dialect)
    delivery = (
        insert(DELIVERIES)
        .on_conflict_do_nothing(index_elements=["tenant", "source", "delivery_key"])
        .returning(DELIVERIES.c.id)
    )
    booking = insert(BOOKINGS)
    upsert = booking.on_conflict_do_update(
        index_elements=["tenant", "source", "external_id"],
        set_={
            "status": booking.excluded.status,
            "message": booking.excluded.message,
            "source_updated_at": booking.excluded.source_updated_at,
            "version": BOOKINGS.c.version + 1,
            "state": "pending",
            "last_delivery_id": booking.excluded.last_delivery_id,
            "updated_at": booking.excluded.updated_at,
            "queued_at": booking.excluded.queued_at,
        },
        where=BOOKINGS.c.source_updated_at < booking.excluded.source_updated_at,
    ).returning(BOOKINGS.c.id)
    return _Statements(
        record_delivery=delivery,
        record_alias=insert(ALIASES).on_conflict_do_nothing(),
        upsert_booking=upsert,
    )
