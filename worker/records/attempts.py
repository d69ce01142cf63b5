"""Outbound attempts, stored next to the booking they served (``bookwire status`` shows them).

An attempt's ``at`` is when the call was sent (``integrations.http.Attempt.at``), not when its
row was saved: the timeline lists a call before what came of it (the event, the failure).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from integrations.http import Attempt
from worker.store import Store
from worker.store.models import AttemptRow


def add(session: Session, booking_id: int, attempts: Sequence[Attempt]) -> None:
    """Add ``attempts`` to the transaction of ``session``."""
    session.add_all(
        AttemptRow(
            booking_id=booking_id,
            target=a.target,
            method=a.method,
            path=a.path[:500],
            status=a.status,
            duration_ms=a.duration_ms,
            excerpt=a.excerpt,
            at=a.at,
        )
        for a in attempts
    )


def record(store: Store, booking_id: int, attempts: Sequence[Attempt]) -> None:
    """Store ``attempts`` in a transaction of their own (when the work itself failed)."""
    if attempts:
        with store.transaction() as session:
            add(session, booking_id, attempts)
