"""Deferred deliveries: stored deliveries parsed in the worker, not at the ingress.

A thin webhook (one whose booking needs the vendor's API) is stored by the ingress and parsed
here with the look-ups (``ingest``, the ``bookwire.ingest_delivery`` task); a stored delivery is
parsed again after a fix (``replay_delivery``, ``bookwire replay``). Both settle the delivery
through the same recording as the ingress (``worker.intake.record``): latest state wins, an older
delivery changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from integrations import registry
from integrations.booking import BookingMessage
from integrations.connector import ParseContext, Source, WebhookRequest
from integrations.errors import BookwireError, PayloadError
from worker.intake.record import (
    Outcome,
    Receipt,
    publish,
    publish_deliveries,
    set_status,
    settle,
    unreadable,
)
from worker.records import failures
from worker.runtime import Runtime
from worker.store.models import Delivery


def ingest(rt: Runtime, delivery_id: int, *, now: datetime) -> Receipt | None:
    """Parse a deferred delivery in the worker (with API look-ups) and apply it.

    Raises TransientError when a look-up should be retried; returns None when the delivery
    was already settled (a redelivered task)."""
    stored = _stored(rt, delivery_id, unsettled_only=True)
    if stored is None:
        return None
    context = rt.parse_context(stored.tenant, stored.source, now=now, with_http=True)
    # look-ups that failed (a BookwireError) propagate: retried, or a failure record
    messages, error = _parse(stored, context, lookups_retry=True)
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != Outcome.received:
            return None
        receipt = settle(session, delivery_id, stored.origin, messages, error, now)
    publish(rt, receipt.bookings)
    return receipt


def replay_delivery(rt: Runtime, delivery_id: int, *, now: datetime) -> Receipt:
    """Parse a stored delivery again (after a fix) and apply it like a new one."""
    stored = _stored(rt, delivery_id, unsettled_only=False)
    assert stored is not None  # LookupError otherwise
    if stored.connector.deferred:
        with rt.store.transaction() as session:
            set_status(session, delivery_id, Outcome.received, None, queued_at=now)
            failures.resolve(session, delivery_id=delivery_id, now=now)
        publish_deliveries(rt, [delivery_id])
        return Receipt(delivery_id, Outcome.received)
    context = rt.parse_context(stored.tenant, stored.source, now=now, with_http=False)
    messages, error = _parse(stored, context, lookups_retry=False)
    with rt.store.transaction() as session:
        if error is None:
            failures.resolve(session, delivery_id=delivery_id, now=now)
        receipt = settle(session, delivery_id, stored.origin, messages, error, now)
    publish(rt, receipt.bookings)
    return receipt


@dataclass(frozen=True)
class _Stored:
    """A stored delivery as its source's connector reads it."""

    tenant: str
    source: str
    request: WebhookRequest
    connector: Source

    @property
    def origin(self) -> tuple[str, str]:
        return self.tenant, self.source


def _stored(rt: Runtime, delivery_id: int, *, unsettled_only: bool) -> _Stored | None:
    """The delivery and its connector. None when ``unsettled_only`` and it is settled (or gone);
    LookupError when it is gone otherwise, or its tenant or source is no longer configured."""
    with rt.store.transaction() as session:
        delivery = session.get(Delivery, delivery_id)
        if unsettled_only and (delivery is None or delivery.status != Outcome.received):
            return None
        if delivery is None:
            raise LookupError(f"no delivery {delivery_id}")
        tenant, source = delivery.tenant, delivery.source
        request = _stored_request(delivery)
    connector = registry.connector(source)
    if connector is None or rt.tenant(tenant) is None:
        raise LookupError(f"delivery {delivery_id}: {tenant}/{source} is no longer configured")
    return _Stored(tenant, source, request, connector)


def _parse(
    stored: _Stored, context: ParseContext, *, lookups_retry: bool
) -> tuple[list[BookingMessage], PayloadError | None]:
    """The delivery's bookings, or why it does not parse (anything the connector raises is a
    reason, except, with ``lookups_retry``, our own errors from its API look-ups)."""
    try:
        return stored.connector.parse(stored.request, context=context), None
    except PayloadError as exc:
        return [], exc
    except Exception as exc:
        if lookups_retry and isinstance(exc, BookwireError):
            raise
        return [], unreadable(exc, source=stored.source)


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


def _stored_request(delivery: Delivery) -> WebhookRequest:
    return WebhookRequest(
        "POST", delivery.headers.get("x-bookwire-url", ""), dict(delivery.headers), delivery.body
    )
