"""The shared limiter on the real Redis fixture: one budget across processes, per platform host."""

from __future__ import annotations

import time
from itertools import pairwise

import httpx
import pytest

from integrations.errors import BudgetSpent, TransientError
from integrations.ratelimit import SharedLimiter, host_scope, limits_url
from tests.integrations.platforms import client, faults
from tests.support import ServerThread


def test_two_limiters_share_one_budget_in_redis(redis_url: str) -> None:
    first = SharedLimiter("3/2 seconds", redis_url=redis_url, scope="gomry:api.test:443")
    second = SharedLimiter("3/2 seconds", redis_url=redis_url, scope="gomry:api.test:443")
    started = time.monotonic()
    for limiter in (first, second, first):
        limiter.acquire()
    assert time.monotonic() - started < 0.5  # three slots: no wait
    second.acquire()  # the fourth waits for the window to free a slot
    assert time.monotonic() - started >= 1.5


def test_a_spent_budget_beyond_max_wait_is_transient_with_retry_after(redis_url: str) -> None:
    limiter = SharedLimiter("2/10 seconds", redis_url=redis_url, scope="s", max_wait=0.2)
    limiter.acquire()
    limiter.acquire()
    with pytest.raises(TransientError, match="rate limit") as raised:
        limiter.acquire()
    assert raised.value.retry_after is not None and 5 < raised.value.retry_after <= 10.1
    other = SharedLimiter("2/10 seconds", redis_url=redis_url, scope="other-host", max_wait=0.2)
    other.acquire()  # another host has a budget of its own


def test_callers_past_a_spent_budget_get_turns_at_its_rate_on_a_line_per_tenant(
    redis_url: str,
) -> None:
    """A thousand bookings for a spent budget come back one slot apart, not all at once; a
    quiet tenant on the same host is not queued behind a busy one's line."""
    busy = SharedLimiter("2/10 seconds", redis_url=redis_url, scope="s", tenant="busy", max_wait=0)
    busy.acquire()
    busy.acquire()
    turns = []
    for _ in range(3):
        with pytest.raises(BudgetSpent) as raised:
            busy.acquire()
        turns.append(raised.value.retry_after or 0)
    # the first when the window frees a slot (10 s), then one every 10 s / 2 requests
    assert 9.5 < turns[0] <= 10.1
    assert [round(b - a) for a, b in pairwise(turns)] == [5, 5]
    quiet = SharedLimiter(
        "2/10 seconds", redis_url=redis_url, scope="s", tenant="quiet", max_wait=0
    )
    with pytest.raises(BudgetSpent) as raised:
        quiet.acquire()
    assert (raised.value.retry_after or 0) < turns[1]


def test_no_limit_configured_means_no_limiter() -> None:
    limiter = SharedLimiter(None, redis_url=None, scope="s", max_wait=0)
    for _ in range(1000):
        limiter.acquire()


def test_scope_is_the_platform_host_and_socket_urls_are_translated() -> None:
    assert host_scope("gomry", "https://www.gomry.com/api/v1") == "gomry:www.gomry.com:"
    assert host_scope("gomry", "http://127.0.0.1:8700/api/v1") == "gomry:127.0.0.1:8700"
    assert limits_url("unix:///var/valkey.sock") == "redis+unix:///var/valkey.sock"
    assert limits_url("redis://127.0.0.1:6379/3") == "redis://127.0.0.1:6379/3"


def test_two_gomry_workers_together_never_exceed_the_platform_limit(
    sandbox: ServerThread, redis_url: str
) -> None:
    """The sandbox answers 429 past 4 requests per 10 s; two clients sharing a 4-per-window
    budget in Redis stay under it (the window is short here to keep the test fast)."""
    faults(sandbox, rate_limit=4)
    with httpx.Client(timeout=5) as http:
        workers = [
            client(sandbox, "gomry", http, redis_url, rate_limit="4/10 seconds") for _ in range(2)
        ]
        for worker in workers:
            worker._limiter.max_wait = 0.2
        found = [w.find_event("bw-none") for w in (workers[0], workers[1], workers[0], workers[1])]
        assert found == [None] * 4
        with pytest.raises(TransientError, match="shared rate limit"):
            workers[1].find_event("bw-none")  # our limiter refuses before Gomry would
    assert faults(sandbox)["counters"].get("rate_limited", 0) == 0
