"""Failure records: every permanent problem is a row ops can list, read and replay."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker.store.models import Failure


def record(
    session: Session,
    *,
    tenant: str,
    source: str,
    stage: str,
    reason: str,
    now: datetime,
    booking_id: int | None = None,
    delivery_id: int | None = None,
    attempts: int = 1,
) -> Failure:
    """Open (or bump) the unresolved failure of this booking/delivery at this stage."""
    query = select(Failure).where(Failure.stage == stage, Failure.resolved_at.is_(None))
    if booking_id is not None:
        query = query.where(Failure.booking_id == booking_id)
    else:
        query = query.where(Failure.delivery_id == delivery_id)
    failure = session.scalar(query)
    if failure is None:
        failure = Failure(
            tenant=tenant,
            source=source,
            booking_id=booking_id,
            delivery_id=delivery_id,
            stage=stage,
            reason=reason[:2000],
            attempts=attempts,
            first_seen=now,
            last_seen=now,
        )
        session.add(failure)
    else:
        failure.reason = reason[:2000]
        failure.attempts += attempts
        failure.last_seen = now
    session.flush()
    return failure


def resolve(
    session: Session,
    *,
    now: datetime,
    booking_id: int | None = None,
    delivery_id: int | None = None,
) -> None:
    """Mark the open failures of a booking or delivery resolved (it has since succeeded)."""
    query = update(Failure).where(Failure.resolved_at.is_(None)).values(resolved_at=now)
    if booking_id is not None:
        query = query.where(Failure.booking_id == booking_id)
    elif delivery_id is not None:
        query = query.where(Failure.delivery_id == delivery_id)
    else:
        return
    session.execute(query)
