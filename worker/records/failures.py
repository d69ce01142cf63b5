"""Failure records: every permanent problem is a row ops can list, read and replay.

Stages: ``parse`` (a verified webhook that does not parse: quarantined), ``fetch`` (a thin
webhook whose look-ups failed for good), ``sync`` (a booking whose event could not be made:
refused, misconfigured, or out of retries), ``overdue`` (an outcome check found a booking with
no event in time), and ``portal`` (an album link that could not be delivered: resolved only
by a later delivery, never by a sync). ``source`` (a tenant's source silent for longer than
expected or its subscription disabled: one per tenant and source, no booking or delivery,
opened and resolved by ``worker.intake.source_health``; nothing to replay: the check backfills).
A record is open until the thing succeeds (then ``resolved_at`` is set); the same problem seen
again bumps ``attempts`` and ``last_seen`` on the open record instead of adding rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
    stage: str | None = None,
) -> None:
    """Mark the open failures of a booking or delivery resolved (it has since succeeded).

    ``stage`` limits it to one stage. Without it every stage but ``portal`` resolves: a sync
    that succeeds says nothing about the album link, which only a delivery resolves."""
    query = update(Failure).where(Failure.resolved_at.is_(None)).values(resolved_at=now)
    if stage is not None:
        query = query.where(Failure.stage == stage)
    else:
        query = query.where(Failure.stage != "portal")
    if booking_id is not None:
        query = query.where(Failure.booking_id == booking_id)
    elif delivery_id is not None:
        query = query.where(Failure.delivery_id == delivery_id)
    else:
        return
    session.execute(query)


def open_failure(
    session: Session,
    *,
    booking_id: int | None = None,
    delivery_id: int | None = None,
    stage: str | None = None,
) -> Failure | None:
    """The most recently seen open failure of a booking (or else a delivery), at ``stage``
    if given, else at any stage but ``overdue`` (that one never stops a task)."""
    query = select(Failure).where(Failure.resolved_at.is_(None))
    if stage is not None:
        query = query.where(Failure.stage == stage)
    else:
        query = query.where(Failure.stage != "overdue")
    if booking_id is not None:
        query = query.where(Failure.booking_id == booking_id)
    else:
        query = query.where(Failure.delivery_id == delivery_id)
    return session.scalars(query.order_by(Failure.last_seen.desc(), Failure.id.desc())).first()


@dataclass(frozen=True)
class Filters:
    """Which failures ``bookwire failures`` lists and ``bookwire replay`` replays."""

    tenant: str | None = None
    source: str | None = None
    stage: str | None = None
    since: datetime | None = None  # last seen at or after
    open_only: bool = True
    ids: tuple[int, ...] = ()


def find(session: Session, filters: Filters, *, limit: int = 1000) -> list[Failure]:
    """Failures matching ``filters``, most recently seen first."""
    query = select(Failure)
    if filters.ids:
        query = query.where(Failure.id.in_(filters.ids))
    if filters.tenant:
        query = query.where(Failure.tenant == filters.tenant)
    if filters.source:
        query = query.where(Failure.source == filters.source)
    if filters.stage:
        query = query.where(Failure.stage == filters.stage)
    if filters.since is not None:
        query = query.where(Failure.last_seen >= filters.since)
    if filters.open_only:
        query = query.where(Failure.resolved_at.is_(None))
    query = query.order_by(Failure.last_seen.desc(), Failure.id.desc()).limit(limit)
    return list(session.scalars(query))


def as_dict(failure: Failure) -> dict[str, Any]:
    """A failure as ids, times and the reason (reasons name fields and statuses, not people)."""
    return {
        "id": failure.id,
        "tenant": failure.tenant,
        "source": failure.source,
        "booking": failure.booking_id,
        "delivery": failure.delivery_id,
        "stage": failure.stage,
        "reason": failure.reason,
        "attempts": failure.attempts,
        "first_seen": failure.first_seen.isoformat(),
        "last_seen": failure.last_seen.isoformat(),
        "resolved_at": failure.resolved_at.isoformat() if failure.resolved_at else None,
    }


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime) -> datetime:
    """``30m``, ``6h``, ``7d`` (ago) or an ISO 8601 time (UTC when no offset is given)."""
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: float(match[1])})
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)


class GaveUp(Exception):
    """A task gave up for good (its failure record says why); raised so Flower shows FAILURE.

    Not an error of the outside system (that is ``integrations.errors.PermanentError``, a 4xx):
    this is the recorded end of a task, whatever stopped it.

    The message is ids only: Flower shows it to anyone who can open a task page."""

    @classmethod
    def of(cls, failure: Failure) -> GaveUp:
        subject = (
            f"booking #{failure.booking_id}"
            if failure.booking_id is not None
            else f"delivery {failure.delivery_id}"
        )
        return cls(
            f"{subject}: {failure.stage} failed permanently (failure {failure.id}, "
            f"tenant {failure.tenant}); see `bookwire failures`"
        )
