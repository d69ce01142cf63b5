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

from worker.store.models import Booking, Failure


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

    Its message is the one line Flower shows, to anyone who can open a task page: the subject
    with the source's own reference, what went wrong and its fix (``worker.retry.cause_of``:
    kinds, slugs and statuses, never an outside system's text or a person), and the replay."""

    @classmethod
    def of(cls, session: Session, failure: Failure, *, what: str, fix: str) -> GaveUp:
        return cls(
            f"{_subject(session, failure)}: {what} — {fix}, "
            f"then `bookwire replay --failure {failure.id}`"
        )


REFERENCE_SHOWN = 40  # characters of the source's booking id shown in Flower


def _subject(session: Session, failure: Failure) -> str:
    """``booking #42 (calendly 8f3c…, tenant acme)``: our id, the source's reference (its id
    for the booking, never a name) and the tenant; ``delivery 12 (calendly, tenant acme)``."""
    if failure.booking_id is None:
        return f"delivery {failure.delivery_id} ({failure.source}, tenant {failure.tenant})"
    booking = session.get(Booking, failure.booking_id)
    reference = booking.external_id if booking is not None else "?"
    if len(reference) > REFERENCE_SHOWN:
        reference = reference[: REFERENCE_SHOWN - 1] + "…"
    return f"booking #{failure.booking_id} ({failure.source} {reference}, tenant {failure.tenant})"
