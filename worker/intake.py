"""The one way in: record a delivery durably, fold its bookings into their latest state, publish.

Used by the HTTP ingress, the Python API / ``bookwire publish`` and replays alike. Ordering lives
here: a booking's stored state only ever moves forward in the source's ``updated_at``; an older
delivery is recorded as ``stale`` and changes nothing. Publishing happens after commit; what is
stored but not published (broker down, crash) is republished by the relay.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from integrations import registry
from integrations.booking import BookingMessage
from integrations.connector import Connector, WebhookRequest
from integrations.errors import PayloadError
from worker import failures, history
from worker.publish import send
from worker.runtime import Runtime
from worker.store.models import Booking, BookingAlias, Delivery

log = logging.getLogger(__name__)

SENSITIVE_HEADERS = ("authorization", "cookie", "x-api-key", "proxy-authorization")


@dataclass(frozen=True)
class Receipt:
    """What happened to one delivery."""

    delivery_id: int
    outcome: str  # accepted | stale | ignored | quarantined | duplicate
    bookings: tuple[int, ...] = ()
    reason: str | None = None
    field: str | None = None


def receive(
    rt: Runtime,
    *,
    tenant: str,
    source: str,
    request: WebhookRequest,
    connector: Connector,
    options: object,
    now: datetime,
) -> Receipt:
    """Record a verified delivery, apply its bookings and publish them.

    Deferred connectors (thin webhooks) are only shape-checked here; the worker parses them
    with API look-ups (``ingest``)."""
    key = connector.delivery_id(request) or "sha256:" + hashlib.sha256(request.body).hexdigest()
    deferred = is_deferred(connector)
    context = rt.parse_context(tenant, source, now=now, with_http=False)
    error: PayloadError | None = None
    messages: list[BookingMessage] = []
    relevant = True
    try:
        if deferred:
            relevant = connector.check(request, context=context)  # type: ignore[attr-defined]
        else:
            messages = connector.parse(request, context=context)
    except PayloadError as exc:
        error = exc
    with rt.store.transaction() as session:
        existing = session.scalar(
            select(Delivery).where(
                Delivery.tenant == tenant, Delivery.source == source, Delivery.delivery_key == key
            )
        )
        if existing is not None:
            return Receipt(existing.id, "duplicate", reason=existing.reason)
        delivery = Delivery(
            tenant=tenant,
            source=source,
            delivery_key=key[:255],
            received_at=now,
            queued_at=now,
            status="received",
            reason=None,
            headers=_safe_headers(request.headers),
            body=request.body,
        )
        session.add(delivery)
        session.flush()
        if deferred and error is None and relevant:
            receipt = Receipt(delivery.id, "received")
        else:
            receipt = _settle(session, delivery, messages, error, now)
    if receipt.outcome == "received":
        publish_deliveries(rt, [receipt.delivery_id])
    else:
        publish(rt, receipt.bookings)
    return receipt


def ingest(rt: Runtime, delivery_id: int, *, now: datetime) -> Receipt | None:
    """Parse a deferred delivery in the worker (with API look-ups) and apply it.

    Raises TransientError when a look-up should be retried; returns None when the delivery
    was already settled (a redelivered task)."""
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != "received":
            return None
        tenant, source = delivery.tenant, delivery.source
        request = _stored_request(delivery)
    connector = registry.connector(source)
    if connector is None or rt.tenant(tenant) is None:
        raise LookupError(f"delivery {delivery_id}: {tenant}/{source} is no longer configured")
    context = rt.parse_context(tenant, source, now=now, with_http=True)
    error: PayloadError | None = None
    messages: list[BookingMessage] = []
    try:
        messages = connector.parse(request, context=context)
    except PayloadError as exc:
        error = exc
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != "received":
            return None
        receipt = _settle(session, delivery, messages, error, now)
    publish(rt, receipt.bookings)
    return receipt


def replay_delivery(rt: Runtime, delivery_id: int, *, now: datetime) -> Receipt:
    """Parse a stored delivery again (after a fix) and apply it like a new one."""
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise LookupError(f"no delivery {delivery_id}")
        tenant, source = delivery.tenant, delivery.source
        request = _stored_request(delivery)
    connector = registry.connector(source)
    if connector is None or rt.tenant(tenant) is None:
        raise LookupError(f"delivery {delivery_id}: {tenant}/{source} is no longer configured")
    if is_deferred(connector):
        with rt.store.transaction() as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            delivery.status, delivery.reason, delivery.queued_at = "received", None, now
            failures.resolve(session, delivery_id=delivery_id, now=now)
        publish_deliveries(rt, [delivery_id])
        return Receipt(delivery_id, "received")
    context = rt.parse_context(tenant, source, now=now, with_http=False)
    error: PayloadError | None = None
    messages: list[BookingMessage] = []
    try:
        messages = connector.parse(request, context=context)
    except PayloadError as exc:
        error = exc
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None
        if error is None:
            failures.resolve(session, delivery_id=delivery.id, now=now)
        receipt = _settle(session, delivery, messages, error, now)
    publish(rt, receipt.bookings)
    return receipt


def give_up(
    rt: Runtime, delivery_id: int, reason: str, *, now: datetime, attempts: int = 1
) -> None:
    """A deferred delivery that cannot be parsed (look-ups exhausted or refused): a failure
    record ops can replay."""
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return
        delivery.status, delivery.reason = "failed", reason[:2000]
        failures.record(
            session,
            tenant=delivery.tenant,
            source=delivery.source,
            delivery_id=delivery_id,
            stage="fetch",
            reason=reason,
            attempts=attempts,
            now=now,
        )


def is_deferred(connector: Connector) -> bool:
    return bool(getattr(connector, "DEFERRED", False))


def _stored_request(delivery: Delivery) -> WebhookRequest:
    return WebhookRequest(
        "POST", delivery.headers.get("x-bookwire-url", ""), dict(delivery.headers), delivery.body
    )


def accept(session: Session, messages: Sequence[BookingMessage], *, now: datetime) -> list[int]:
    """Fold messages into their bookings; return the ids whose state moved forward."""
    moved: list[int] = []
    for message in messages:
        message = _canonical(session, message)
        booking_id = _upsert(session, message, now)
        if booking_id is not None:
            moved.append(booking_id)
        history.remember(session, message, booking_id, now=now)
    return moved


def publish(rt: Runtime, booking_ids: Sequence[int]) -> int:
    """Queue a sync for each booking; failures are left to the relay. Returns how many sent."""
    return send(rt, "bookwire.sync_booking", "booking", booking_ids)


def publish_deliveries(rt: Runtime, delivery_ids: Sequence[int]) -> int:
    """Queue the worker-side parse of deferred deliveries; the relay covers failures."""
    return send(rt, "bookwire.ingest_delivery", "delivery", delivery_ids)


def _settle(
    session: Session,
    delivery: Delivery,
    messages: list[BookingMessage],
    error: PayloadError | None,
    now: datetime,
) -> Receipt:
    if error is not None:
        delivery.status, delivery.reason = "quarantined", str(error)
        failures.record(
            session,
            tenant=delivery.tenant,
            source=delivery.source,
            delivery_id=delivery.id,
            stage="parse",
            reason=str(error),
            now=now,
        )
        return Receipt(delivery.id, "quarantined", reason=error.reason, field=error.field)
    if not messages:
        delivery.status, delivery.reason = "ignored", "event type not relevant"
        return Receipt(delivery.id, "ignored", reason=delivery.reason)
    stamped = [m.model_copy(update={"delivery_id": delivery.id}) for m in messages]
    moved = accept(session, stamped, now=now)
    delivery.status = "accepted" if moved else "stale"
    delivery.reason = None if moved else "older than the booking's current state"
    return Receipt(delivery.id, delivery.status, tuple(moved), reason=delivery.reason)


def _canonical(session: Session, message: BookingMessage) -> BookingMessage:
    """Rewrite a message to the booking it belongs to, recording a new id as an alias."""
    own = _resolve(session, message.tenant, message.source, message.booking_id)
    if message.replaces is None:
        return (
            message if own == message.booking_id else message.model_copy(update={"booking_id": own})
        )
    root = _resolve(session, message.tenant, message.source, message.replaces)
    if own != root:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        session.execute(
            insert(BookingAlias)
            .values(
                tenant=message.tenant,
                source=message.source,
                alias_id=message.booking_id,
                external_id=root,
            )
            .on_conflict_do_nothing()
        )
    return message.model_copy(update={"booking_id": root, "replaces": None})


def _resolve(session: Session, tenant: str, source: str, booking_id: str) -> str:
    found = session.scalar(
        select(BookingAlias.external_id).where(
            BookingAlias.tenant == tenant,
            BookingAlias.source == source,
            BookingAlias.alias_id == booking_id,
        )
    )
    return found or booking_id


def _upsert(session: Session, message: BookingMessage, now: datetime) -> int | None:
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
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Booking).values(**values)
    table = Booking.__table__
    upsert = stmt.on_conflict_do_update(
        index_elements=["tenant", "source", "external_id"],
        set_={
            "status": stmt.excluded.status,
            "message": stmt.excluded.message,
            "source_updated_at": stmt.excluded.source_updated_at,
            "version": table.c.version + 1,
            "state": "pending",
            "last_delivery_id": stmt.excluded.last_delivery_id,
            "updated_at": stmt.excluded.updated_at,
            "queued_at": stmt.excluded.queued_at,
        },
        where=table.c.source_updated_at < stmt.excluded.source_updated_at,
    ).returning(table.c.id)
    return session.execute(upsert).scalar_one_or_none()


def _safe_headers(headers: object) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else []
    return {
        k.lower(): v
        for k, v in items
        if k.lower() not in SENSITIVE_HEADERS
        and "secret" not in k.lower()
        and "token" not in k.lower()
    }
