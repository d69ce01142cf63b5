"""Outbound attempts, stored next to the booking they served (``bookwire status`` shows them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from integrations.http import Attempt
from worker.store import Store
from worker.store.models import AttemptRow


def add(
    session: Session, booking_id: int, attempts: Sequence[Attempt], *, now: datetime | None = None
) -> None:
    """Add ``attempts`` to the transaction of ``session``."""
    at = now or datetime.now(UTC)
    session.add_all(
        AttemptRow(
            booking_id=booking_id,
            target=a.target,
            method=a.method,
            path=a.path[:500],
            status=a.status,
            duration_ms=a.duration_ms,
            excerpt=a.excerpt,
            at=at,
        )
        for a in attempts
    )


def record(
    store: Store, booking_id: int, attempts: Sequence[Attempt], *, now: datetime | None = None
) -> None:
    """Store ``attempts`` in a transaction of their own (when the work itself failed)."""
    if attempts:
        with store.transaction() as session:
            add(session, booking_id, attempts, now=now)
