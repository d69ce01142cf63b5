"""Batch policy: bookings published together sync together, and only the clean ones stay together.

A batch is the fast path only (one ingress group commit or one relay sweep, one message, one
lock round trip, one read and one write transaction). A booking that does not sync cleanly goes
on as its own ``sync_booking`` task, which retries, fails (FAILURE in Flower) and is replayed
alone. A batch whose earlier run died with its worker is split the same way, so a poison booking
is found and dead-lettered alone instead of taking its batch with it. A booking whose platform
budget is spent goes on alone at the turn it reserved (``integrations.ratelimit``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from integrations.errors import BudgetSpent
from worker import poison, publish
from worker.retry import TRANSIENT, RetryPolicy
from worker.runtime import Runtime
from worker.sync import bookings as sync


def sync_batch(
    rt: Runtime, booking_ids: Sequence[int], *, batch: str, policy: RetryPolicy, now: datetime
) -> str:
    """Sync the batch ``batch`` (its message id), hand whatever failed to its own task, and
    summarise the outcomes (``"2 created, 1 handed on"``)."""
    try:
        if poison.started(rt, "batch", batch) > 1:
            sent = publish.send(rt, "bookwire.sync_booking", "booking", booking_ids)
            return f"split after a crash: {sent} bookings queued one by one"
        try:
            results = sync.sync_bookings(rt, booking_ids, now=now)
        except TRANSIENT as exc:  # the store or the broker: every booking goes on alone
            results = dict.fromkeys(booking_ids, exc)
    finally:
        poison.finished(rt, "batch", batch)
    errors = {b: r for b, r in results.items() if isinstance(r, BaseException)}
    for booking_id, error in errors.items():
        # a spent platform budget comes back at the turn it reserved; another transient error
        # waits one backoff step, as a retry would; anything else goes straight to the
        # booking's own task, which records the failure
        delay: float | None = None
        if isinstance(error, BudgetSpent):
            delay = min(error.retry_after or 0.0, policy.cap)
        elif isinstance(error, TRANSIENT):
            delay = policy.delay(0, getattr(error, "retry_after", None))
        publish.send(rt, "bookwire.sync_booking", "booking", [booking_id], countdown=delay)
    counts = Counter(str(r.outcome) for r in results.values() if isinstance(r, sync.SyncResult))
    if errors:
        counts["handed on"] = len(errors)
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
