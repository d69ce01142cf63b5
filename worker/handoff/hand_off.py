"""Hand one booking's due deliverable off to its tenant's portal: one send per event end.

1. **Claim**: the booking's pending delivery for its event's *current* end is leased (state
   ``sending``, ``lease_until``) by one conditional UPDATE; a concurrent or redelivered task
   finds it leased or done and stops. Pending deliveries for an end the event no longer has
   (rescheduled, cancelled since they were queued) are dropped: a cancelled event never
   delivers, a moved one delivers for its new end.
2. **Fetch** the deliverable from the platform. Not ready (the album is still being made):
   back to pending; the sweep asks again, and gives up ``READY_TIMEOUT`` after it was due.
3. **Push** it to the portal with the delivery key (``webhook-id``, ``Idempotency-Key``).
4. **Record**: delivered (or skipped, with why) and a summary without people; the booking's
   open ``portal`` failures resolve.

The claim is the hand-off's write-ahead intent: it commits (booking, delivery key, time) before
the portal is called, and a claim whose outcome never committed is retried with the same key once
its lease runs out. The crash-point tests kill a real process at each step
(``worker.crashpoints``).

Transient errors release the lease (back to pending, ``last_error`` set) and propagate to the
task's retry policy; permanent ones mark the delivery failed with a ``portal`` failure record
(``bookwire replay`` queues it again). A worker that dies mid-send leaves its lease to expire;
the next attempt sends the same key, which the portal uses to deduplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update

from config.tenants import Tenant
from integrations import registry
from integrations.booking import BookingMessage, booking_reference
from integrations.errors import ConfigurationError, PermanentError
from integrations.http import Attempt, recording
from integrations.platform import Deliverable, LinkedEvent
from integrations.portal import PortalMessage, PortalReceipt, summary
from worker import crashpoints
from worker.records import attempts as attempts_store
from worker.records import failures
from worker.runtime import Runtime
from worker.store.models import Booking, EventLink, HandOff
from worker.telemetry import metrics
from worker.telemetry.logs import log_context

log = logging.getLogger(__name__)
READY_TIMEOUT = timedelta(hours=24)
PERMANENT = (PermanentError, ConfigurationError)


class NotReady(Exception):
    """The platform has no deliverable yet (e.g. the album is still being made)."""


@dataclass(frozen=True)
class Claim:
    """A leased delivery and everything needed to send it (read in the claiming transaction)."""

    id: int
    booking_id: int
    key: str
    due_at: datetime
    attempts: int
    source: str
    message: BookingMessage
    link: LinkedEvent
    platform: str
    ends_at: datetime


def hand_off(rt: Runtime, booking_id: int, *, now: datetime) -> str:
    """Send the booking's due delivery once. Returns what happened: ``delivered``,
    ``skipped``, ``not-ready``, ``busy`` (another worker holds it), ``already <state>``,
    ``waiting`` (its sync is pending) or ``nothing due``. Raises TransientError to retry and
    PermanentError/ConfigurationError after recording the failure. Every log line written
    meanwhile (the portal client's too) names the booking."""
    with log_context(booking=booking_id):
        return _hand_off(rt, booking_id, now=now)


def _hand_off(rt: Runtime, booking_id: int, *, now: datetime) -> str:
    claim = _claim(rt, booking_id, now=now)
    if isinstance(claim, str):
        return claim
    crashpoints.reach("before-call")
    tenant = rt.tenant(claim.message.tenant)
    portal_kind = tenant.portal.kind if tenant is not None and tenant.portal else "none"

    def counted(result: str) -> str:
        metrics.portal_delivery(claim.message.tenant, portal_kind, result)
        return result

    attempts: list[Attempt] = []
    try:
        if tenant is None or tenant.portal is None:
            receipt = PortalReceipt("skipped", "the tenant has no portal configured")
            deliverable = None
        else:
            with recording(attempts.append):
                deliverable, receipt = _hand_over(rt, tenant, claim)
    except NotReady as exc:
        return counted(_not_ready(rt, claim, str(exc), now=now))
    except PERMANENT as exc:
        _fail(rt, claim, str(exc)[:500], now=now)
        counted("failed")
        raise
    except BaseException as exc:
        _release(rt, claim, str(exc)[:500] or type(exc).__name__, now=now)
        raise
    finally:
        attempts_store.record(rt.store, booking_id, attempts)
    _finish(rt, claim, receipt, deliverable, now=now)
    log.info(
        "portal delivery",
        extra={"booking": booking_id, "outcome": receipt.outcome, "tenant": claim.message.tenant},
    )
    return counted(receipt.outcome)


def give_up(rt: Runtime, booking_id: int, reason: str, *, now: datetime, attempts: int) -> None:
    """Retries are exhausted: the booking's pending delivery fails with a failure record."""
    with rt.store.transaction() as session:
        row = session.scalars(
            select(HandOff)
            .where(
                HandOff.booking_id == booking_id,
                HandOff.state.in_(("pending", "sending")),
            )
            .order_by(HandOff.ends_at.desc())
        ).first()
        booking = session.get(Booking, booking_id)
        if row is None or booking is None:
            return
        row.state, row.lease_until, row.last_error, row.updated_at = "failed", None, reason, now
        failures.record(
            session,
            tenant=booking.tenant,
            source=booking.source,
            stage="portal",
            reason=reason,
            booking_id=booking_id,
            attempts=attempts,
            now=now,
        )


def replay(rt: Runtime, booking_id: int, *, now: datetime) -> bool:
    """Put the booking's failed deliveries back to pending (``bookwire replay``); True if any.
    The caller queues ``bookwire.hand_off``; a delivered one is never sent again."""
    with rt.store.transaction() as session:
        result = session.execute(
            update(HandOff)
            .where(HandOff.booking_id == booking_id, HandOff.state == "failed")
            .values(state="pending", lease_until=None, queued_at=now, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _hand_over(rt: Runtime, tenant: Tenant, claim: Claim) -> tuple[Deliverable, PortalReceipt]:
    assert tenant.portal is not None
    deliverable = rt.platform(tenant).fetch_deliverable(claim.link)
    if not deliverable.ready:
        raise NotReady(f"deliverable not ready (platform status {deliverable.status})")
    portal = registry.PORTALS[tenant.portal.kind](tenant.portal, rt.http)
    message = claim.message
    handed = PortalMessage(
        key=claim.key,
        tenant=message.tenant,
        source=message.source,
        booking_id=message.booking_id,
        reference=booking_reference(message.key),
        platform=claim.platform,
        event_id=claim.link.event_id,
        starts_at=message.start,
        ends_at=claim.ends_at,
        timezone=message.timezone,
        deliverable=deliverable,
    )
    return deliverable, portal.deliver(handed)


def _claim(rt: Runtime, booking_id: int, *, now: datetime) -> Claim | str:
    lease = timedelta(seconds=max(60.0, 6 * rt.settings.http_timeout))
    with rt.store.transaction() as session:
        booking = session.get(Booking, booking_id)
        link = session.get(EventLink, booking_id)
        if booking is None:
            return "nothing due"
        if booking.applied_version < booking.version:
            return "waiting"  # its event's end is about to change; the sweep comes back
        current = link.ends_at if link is not None and link.event_state == "active" else None
        rows = session.scalars(select(HandOff).where(HandOff.booking_id == booking_id)).all()
        target = next((row for row in rows if row.ends_at == current), None)
        moved = [row.id for row in rows if row.ends_at != current]
        if moved:  # queued for an end the event no longer has (conditional: races are fine)
            session.execute(
                delete(HandOff).where(
                    HandOff.id.in_(moved),
                    or_(
                        HandOff.state == "pending",
                        and_(
                            HandOff.state == "sending",
                            or_(
                                HandOff.lease_until.is_(None),
                                HandOff.lease_until < now,
                            ),
                        ),
                    ),
                )
            )
        if target is None or link is None or current is None:
            failures.resolve(session, booking_id=booking_id, stage="portal", now=now)
            return "nothing due"
        if target.state in ("delivered", "failed", "skipped"):
            return f"already {target.state}"
        claimed = session.execute(
            update(HandOff)
            .where(
                HandOff.id == target.id,
                or_(
                    HandOff.state == "pending",
                    and_(HandOff.state == "sending", HandOff.lease_until < now),
                ),
            )
            .values(
                state="sending",
                lease_until=now + lease,
                attempts=HandOff.attempts + 1,
                updated_at=now,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return "busy"
        crashpoints.reach("before-intent-commit")
        return Claim(
            id=target.id,
            booking_id=booking_id,
            key=target.delivery_key,
            due_at=target.due_at,
            attempts=target.attempts + 1,
            source=booking.source,
            message=BookingMessage.model_validate(booking.message),
            link=LinkedEvent(link.event_id, link.details or {}),
            platform=link.platform,
            ends_at=current,
        )


def _finish(
    rt: Runtime,
    claim: Claim,
    receipt: PortalReceipt,
    deliverable: Deliverable | None,
    *,
    now: datetime,
) -> None:
    delivered = receipt.outcome == "delivered"
    with rt.store.transaction() as session:
        session.execute(
            update(HandOff)
            .where(HandOff.id == claim.id, HandOff.state == "sending")
            .values(
                state="delivered" if delivered else "skipped",
                delivered_at=now if delivered else None,
                summary=summary(deliverable) if deliverable else None,
                last_error=None if delivered else receipt.reason,
                lease_until=None,
                updated_at=now,
            )
        )
        failures.resolve(session, booking_id=claim.booking_id, stage="portal", now=now)
        crashpoints.reach("before-outcome-commit")


def _release(rt: Runtime, claim: Claim, reason: str, *, now: datetime) -> None:
    """Back to pending after a transient problem (the task retries; the sweep is the net)."""
    with rt.store.transaction() as session:
        session.execute(
            update(HandOff)
            .where(HandOff.id == claim.id, HandOff.state == "sending")
            .values(
                state="pending", lease_until=None, last_error=reason, queued_at=now, updated_at=now
            )
        )


def _not_ready(rt: Runtime, claim: Claim, reason: str, *, now: datetime) -> str:
    if now - claim.due_at < READY_TIMEOUT:
        _release(rt, claim, reason, now=now)
        return "not-ready"
    hours = READY_TIMEOUT.total_seconds() / 3600
    _fail(rt, claim, f"{reason} {hours:g} h after it was due", now=now)
    return "failed"


def _fail(rt: Runtime, claim: Claim, reason: str, *, now: datetime) -> None:
    with rt.store.transaction() as session:
        session.execute(
            update(HandOff)
            .where(HandOff.id == claim.id)
            .values(state="failed", lease_until=None, last_error=reason, updated_at=now)
        )
        failures.record(
            session,
            tenant=claim.message.tenant,
            source=claim.source,
            stage="portal",
            reason=reason,
            booking_id=claim.booking_id,
            now=now,
        )
