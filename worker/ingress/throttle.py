"""How many verified deliveries one route (tenant and source) may hand the inbox, per process.

``BOOKWIRE_INGRESS_RATE_LIMIT`` in ``limits`` syntax is a moving window: the default
``"10000/10 seconds"`` admits up to 10,000 deliveries in any 10 seconds, so a burst of 10,000
and 1,000 a second sustained. That is more than one ingress process takes in beside a worker on
two cores (700-800 a second, docs/benchmark.md), so no vendor, backfill or benchmark of one
route meets it, while a runaway route on a bigger machine cannot take every slot from the
others. Over it a delivery is answered 429 with ``Retry-After`` *before* anything is stored:
the vendor's retry delivers it later, so nothing is lost.

The window lives in this process's memory: N ingress processes behind a load balancer admit up
to N times the limit (a limit that guards the store and the workers against one runaway route,
not a quota). Only verified deliveries count: a flood of forged requests is answered 401 and
cannot spend a tenant's budget, so it cannot delay the real vendor's deliveries.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RouteLimiter:
    """``admit(tenant, source)`` for each verified delivery; admits everything when ``limit``
    is None (``BOOKWIRE_INGRESS_RATE_LIMIT=off``)."""

    def __init__(self, limit: str | None) -> None:
        self.item = parse(limit) if limit else None
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def admit(self, tenant: str, source: str) -> int | None:
        """None when the delivery may be recorded; otherwise whole seconds until the route's
        window has room again (the ``Retry-After``, at least 1)."""
        if self.item is None or self._limiter.hit(self.item, tenant, source):
            return None
        reset_at = self._limiter.get_window_stats(self.item, tenant, source).reset_time
        return max(1, math.ceil(reset_at - time.time()))
