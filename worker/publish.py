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


def send(rt: Runtime, task: str, subject: str, ids: Sequence[int]) -> int:
    """Queue ``task(id)`` for each id, shown in Flower as ``(<subject>=<id>)``; returns how
    many were sent (it stops at the first failure: the broker is down)."""
    sent = 0
    for subject_id in ids:
        try:
            rt.celery.send_task(
                task,
                args=[subject_id],
                argsrepr=f"({subject}={subject_id})",
                kwargsrepr="{}",
                retry=True,
                retry_policy=RETRY_POLICY,
            )
        except Exception as exc:  # broker down: the sweep republishes what is pending
            log.warning(
                "publish failed; the sweep will retry",
                extra={subject: subject_id, "error": type(exc).__name__},
            )
            break
        sent += 1
    return sent
