"""A request budget shared by every worker process, kept in Redis by the ``limits`` package.

Gomry allows 60 requests per 10 s *per IP address*: every worker behind one egress IP draws on
one budget, so the budget lives in Redis (moving window) and is keyed by the platform's host, not
by tenant or process. A tenant turns it on with ``platform.rate_limit`` in ``limits`` syntax
(``"60/10 seconds"``); none means no limiter. A caller that finds the budget spent waits for the
window to free a slot, up to ``max_wait``; past that it raises ``TransientError`` so the task's
retry policy backs off instead of holding a worker thread.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from integrations.errors import TransientError

KEY_PREFIX = "bookwire:ratelimit"


class SharedLimiter:
    """``acquire()`` before every request; a no-op when ``limit`` is None."""

    def __init__(
        self,
        limit: str | None,
        *,
        redis_url: str | None,
        scope: str,
        max_wait: float = 12.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.item: RateLimitItem | None = parse(limit) if limit else None
        self.scope = scope
        self.max_wait = max_wait
        self._sleep = sleep
        self._limiter: MovingWindowRateLimiter | None = None
        if self.item is not None:
            storage: Storage = (
                RedisStorage(limits_url(redis_url), key_prefix=KEY_PREFIX)
                if redis_url
                else MemoryStorage()
            )
            self._limiter = MovingWindowRateLimiter(storage)

    def acquire(self) -> None:
        """Take one request from the budget, waiting for a free slot up to ``max_wait``."""
        if self._limiter is None or self.item is None:
            return
        deadline = time.monotonic() + self.max_wait
        while not self._limiter.hit(self.item, self.scope):
            reset_at = self._limiter.get_window_stats(self.item, self.scope).reset_time
            wait = max(0.05, reset_at - time.time()) + random.uniform(0, 0.05)
            if time.monotonic() + wait > deadline:
                raise TransientError(
                    f"{self.scope}: shared rate limit {self.item} spent", retry_after=wait
                )
            self._sleep(wait)


def limits_url(redis_url: str) -> str:
    """redis-py's ``unix://`` socket URLs are ``redis+unix://`` to ``limits``."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def host_scope(platform: str, base_url: str) -> str:
    """The budget's key: per platform host, because the vendor counts per client IP."""
    url = httpx.URL(base_url)
    return f"{platform}:{url.host}:{url.port or ''}"


def check_limit(limit: str) -> str | None:
    """Why ``limit`` is not valid ``limits`` syntax, or None."""
    try:
        parse(limit)
    except ValueError as exc:
        return str(exc)
    return None
