"""Publishing to the broker: ids only, a short retry, and never an exception to the caller.

Every publish in bookwire happens after the state it refers to is committed, and every kind of
work has a sweep that republishes what never got queued (the relay for bookings and thin
deliveries, the portal sweep for deliveries to portals). So a broker outage here is logged and
left to the sweep, never raised into the request or task that published.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from worker.runtime import Runtime

log = logging.getLogger(__name__)
RETRY_POLICY = {"max_retries": 1, "interval_start": 0.1, "interval_step": 0.1}


# Bookings published together (one ingress group commit, one relay sweep) travel as one
# ``sync_bookings`` task of at most this many ids: one message, one lock round trip, one read
# and one write transaction for all of them in the worker.
BATCH_MAX = 50


def send(
    rt: Runtime,
    task: str,
    subject: str,
    ids: Sequence[int],
    *,
    countdown: float | None = None,
    priority: int | None = None,
) -> int:
    """Queue ``task(id)`` for each id, shown in Flower as ``(<subject>=<id>)``; returns how
    many were sent (it stops at the first failure: the broker is down)."""
    sent = 0
    for subject_id in ids:
        if not _send(rt, task, [subject_id], f"({subject}={subject_id})", countdown, priority):
            break
        sent += 1
    return sent


def send_bookings(rt: Runtime, booking_ids: Sequence[int], *, priority: int | None = None) -> int:
    """Queue the syncs of ``booking_ids`` (of one tenant: a batch goes at its tenant's
    ``priority``): one ``sync_booking`` for a single booking, else ``sync_bookings`` batches of
    up to ``BATCH_MAX``. Returns how many bookings were sent."""
    ids = list(dict.fromkeys(booking_ids))
    if len(ids) == 1:
        return send(rt, "bookwire.sync_booking", "booking", ids, priority=priority)
    sent = 0
    for start in range(0, len(ids), BATCH_MAX):
        chunk = ids[start : start + BATCH_MAX]
        if not _send(rt, "bookwire.sync_bookings", [chunk], _batch_repr(chunk), None, priority):
            break
        sent += len(chunk)
    return sent


def _batch_repr(ids: Sequence[int]) -> str:
    shown = ",".join(str(i) for i in ids[:10])
    more = f",… {len(ids)} in all" if len(ids) > 10 else ""
    return f"(bookings={shown}{more})"


def _send(
    rt: Runtime,
    task: str,
    args: list[object],
    argsrepr: str,
    countdown: float | None,
    priority: int | None = None,
) -> bool:
    try:
        rt.celery.send_task(
            task,
            args=args,
            argsrepr=argsrepr,
            kwargsrepr="{}",
            countdown=countdown,
            priority=priority,
            retry=True,
            retry_policy=RETRY_POLICY,
        )
    except Exception as exc:  # broker down: the sweep republishes what is pending
        log.warning(
            "publish failed; the sweep will retry",
            extra={"task": task, "subject": argsrepr, "error": type(exc).__name__},
        )
        return False
    return True
