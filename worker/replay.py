"""Replays: a quarantined delivery parsed again after a fix; a failed booking queued again;
a failed portal delivery (stage ``portal``) queued again.

``bookwire replay`` takes failures (``--failure ID`` or every open one matching filters),
bookings or deliveries. Each replay works on today's code and config, so the usual order is:
fix the config, restart the workers (they load tenants at start), replay, watch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from worker import intake, personal, poison
from worker.portal import deliver as portal_deliver
from worker.portal import schedule as portal_schedule
from worker.runtime import Runtime
from worker.store.models import Booking, Delivery, Failure


def replay_delivery(rt: Runtime, delivery_id: int, *, now: datetime) -> intake.Receipt:
    """Parse a stored delivery with today's code and config; idempotent. A delivery whose raw
    body was erased (``bookwire erase``, retention) has nothing left to parse: LookupError."""
    with rt.store.read() as conn:
        headers = conn.execute(
            select(Delivery.headers).where(Delivery.id == delivery_id)
        ).scalar_one_or_none()
    if personal.is_erased(headers):
        raise LookupError(f"delivery {delivery_id}: its raw body was erased (personal data)")
    return intake.replay_delivery(rt, delivery_id, now=now)


def replay_booking(rt: Runtime, booking_id: int, *, now: datetime) -> None:
    """Put a failed booking back to pending and publish it (idempotent)."""
    poison.forget(rt, "booking", booking_id)  # a replay is a fresh start
    with rt.store.transaction() as session:
        session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.state == "failed")
            .values(state="pending", queued_at=now)
        )
    intake.publish(rt, [booking_id])


def replay_portal(rt: Runtime, booking_id: int, *, now: datetime) -> str:
    """Queue a failed portal delivery again (the album link that could not be handed over);
    a delivery already made is never sent twice."""
    if portal_deliver.replay(rt, booking_id, now=now):
        portal_schedule.publish(rt, [booking_id])
        return f"portal delivery of booking #{booking_id} queued"
    return f"booking #{booking_id}: no failed portal delivery to replay"


def replay_failures(
    rt: Runtime, found: Sequence[Failure], *, now: datetime
) -> list[tuple[Failure, str]]:
    """Replay what each failure is about, once per booking or delivery; returns what happened.

    A failure with a booking queues the booking again (the sync is idempotent: one event however
    often it runs); one with only a delivery parses the stored delivery again (an older state
    never overwrites a newer one). So replaying the same failures twice does no harm."""
    done: dict[tuple[str, int], str] = {}
    results: list[tuple[Failure, str]] = []
    for failure in found:
        if failure.stage == "portal" and failure.booking_id is not None:
            key = ("portal", failure.booking_id)
            if key not in done:
                done[key] = replay_portal(rt, failure.booking_id, now=now)
        elif failure.booking_id is not None:
            key = ("booking", failure.booking_id)
            if key not in done:
                replay_booking(rt, failure.booking_id, now=now)
                done[key] = f"booking #{failure.booking_id} queued"
        elif failure.delivery_id is not None:
            key = ("delivery", failure.delivery_id)
            if key not in done:
                try:
                    receipt = replay_delivery(rt, failure.delivery_id, now=now)
                    outcome = f"{receipt.outcome} {receipt.reason or ''}".rstrip()
                except LookupError as exc:
                    outcome = f"not replayed: {exc}"
                done[key] = f"delivery {failure.delivery_id}: {outcome}"
        else:
            key = ("failure", failure.id)
            done[key] = "nothing to replay"
        results.append((failure, done[key]))
    return results
