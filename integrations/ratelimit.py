"""A request budget shared by every worker process, kept in Redis by the ``limits`` package.

Gomry allows 60 requests per 10 s *per IP address*: every worker behind one egress IP draws on
one budget, so the budget lives in Redis (moving window) and is keyed by the platform's host, not
by tenant or process. A tenant turns it on with ``platform.rate_limit`` in ``limits`` syntax
(``"60/10 seconds"``); none means no limiter.

A caller that finds the budget spent takes a **turn**: the next free slot on its tenant's line
for that host, one slot every ``window / amount`` seconds from when the window frees one. A turn
within the caller's patience (``max_wait``, or less inside ``waiting_at_most``) is waited for;
a later one raises ``BudgetSpent`` with the turn as ``retry_after``, so the task gives its worker
thread back and comes back then (``worker.retry.BookwireTask``): a tenant with a thousand
bookings for a slow budget holds no thread while it waits, and its bookings come back spread at
the rate the budget allows instead of all at once. Each tenant has its own line, so a quiet
tenant on the same host is not queued behind a busy one's backlog.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from integrations.errors import BudgetSpent

KEY_PREFIX = "bookwire:ratelimit"

# The next free turn on a line (seconds since the epoch), moved on by one step per turn taken.
TAKE_TURN = """
local earliest = tonumber(ARGV[1])
local step = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local turn = tonumber(redis.call('GET', KEYS[1]) or '0')
if turn < earliest then turn = earliest end
local ttl = math.ceil((turn + step - now) * 1000) + 1000
redis.call('SET', KEYS[1], tostring(turn + step), 'PX', ttl)
return tostring(turn)
"""

_patience: ContextVar[float] = ContextVar("ratelimit_patience", default=float("inf"))


@contextmanager
def waiting_at_most(seconds: float) -> Iterator[None]:
    """Within the block, a call waits at most ``seconds`` for its turn (less than the
    limiter's own ``max_wait``): past that it raises ``BudgetSpent`` at once."""
    token = _patience.set(seconds)
    try:
        yield
    finally:
        _patience.reset(token)


class SharedLimiter:
    """``acquire()`` before every request; a no-op when ``limit`` is None."""

    def __init__(
        self,
        limit: str | None,
        *,
        redis_url: str | None,
        scope: str,
        tenant: str | None = None,
        max_wait: float = 12.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.item: RateLimitItem | None = parse(limit) if limit else None
        self.scope = scope
        self.max_wait = max_wait
        self._line = f"{KEY_PREFIX}:turns:{scope}:{tenant or '-'}"
        self._sleep = sleep
        self._limiter: MovingWindowRateLimiter | None = None
        self._take_turn: Callable[[float, float, float], float] = _LocalLines().take
        if self.item is not None:
            storage: Storage = (
                RedisStorage(limits_url(redis_url), key_prefix=KEY_PREFIX)
                if redis_url
                else MemoryStorage()
            )
            self._limiter = MovingWindowRateLimiter(storage)
            if isinstance(storage, RedisStorage):
                script = storage.get_connection().register_script(TAKE_TURN.encode())
                self._take_turn = lambda earliest, step, now: float(
                    script(keys=[self._line], args=[repr(earliest), repr(step), repr(now)])
                )

    def acquire(self) -> None:
        """Take one request from the budget, or a turn for later: wait for a turn within the
        caller's patience, else raise ``BudgetSpent`` (``retry_after``: the turn)."""
        if self._limiter is None or self.item is None:
            return
        patience = min(self.max_wait, _patience.get())
        deadline = time.monotonic() + patience
        step = self.item.get_expiry() / self.item.amount
        while not self._limiter.hit(self.item, self.scope):
            now = time.time()
            frees_at = self._limiter.get_window_stats(self.item, self.scope).reset_time
            turn = self._take_turn(max(now, frees_at), step, now)
            wait = max(0.05, turn - now) + random.uniform(0, 0.05)
            if time.monotonic() + wait > deadline:
                raise BudgetSpent(
                    f"{self.scope}: shared rate limit {self.item} spent", retry_after=wait
                )
            self._sleep(wait)


class _LocalLines:
    """Turns for a limiter without Redis (tests, one-off tools): one line per limiter."""

    def __init__(self) -> None:
        self._next = 0.0
        self._lock = threading.Lock()

    def take(self, earliest: float, step: float, now: float) -> float:
        with self._lock:
            turn = max(self._next, earliest)
            self._next = turn + step
            return turn


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
