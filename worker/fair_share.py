"""Each tenant's share of the queue: past ``fair_share`` bookings in about 10 s, a tenant's
further bookings are published behind everyone else's, so a quiet tenant's booking is taken
before a busy tenant's backlog (an import, a backfill, a burst).

Counted in Redis per tenant in 10 s buckets, this one and the one before (one pipelined
INCRBY, EXPIRE and GET per tenant per publish call, never per booking). On Redis, kombu keeps a
list per priority step and takes from priority 0 first and ``BEHIND`` last; a message keeps its
priority when it is retried, and when it is restored after a worker was lost.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:  # the Celery app reads PRIORITY_STEPS before any runtime exists
    from worker.runtime import Runtime

WINDOW = 10  # seconds per bucket
BEHIND = 9  # the priority of a tenant over its share (kombu on Redis: 0 first, 9 last)
PRIORITY_STEPS = [0, BEHIND]  # the broker's lists: everyone, then tenants over their share


def queue_lists(queue: str) -> list[str]:
    """The Redis lists that hold ``queue``'s waiting messages, one per priority step (kombu
    names a step's list ``<queue>\\x06\\x16<step>``; step 0 is the queue's own name)."""
    return [queue] + [f"{queue}\x06\x16{step}" for step in PRIORITY_STEPS if step]


def priorities(
    rt: Runtime, counts: Mapping[str, int], *, now: float | None = None
) -> dict[str, int]:
    """Count ``counts`` (bookings per tenant about to be published) and return ``BEHIND`` for
    each tenant now over its share; the others are published as usual."""
    share = rt.settings.fair_share
    if not share or not counts:
        return {}
    bucket = int((time.time() if now is None else now) // WINDOW)
    pipe = rt.redis.pipeline(transaction=False)
    for tenant, n in counts.items():
        key = f"bookwire:share:{tenant}:{bucket}"
        pipe.incrby(key, n)
        pipe.expire(key, 2 * WINDOW)
        pipe.get(f"bookwire:share:{tenant}:{bucket - 1}")
    try:
        replies = pipe.execute()
    except redis.RedisError:  # the broker is down: the publish fails too, and the relay repeats it
        return {}
    over: dict[str, int] = {}
    for i, tenant in enumerate(counts):
        if int(replies[3 * i]) + int(replies[3 * i + 2] or 0) > share:
            over[tenant] = BEHIND
    return over
