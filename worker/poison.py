"""Poison messages: a task that keeps killing its worker is dead-lettered, not redelivered forever.

With late acks and ``reject_on_worker_lost``, a message whose task crashes the worker process
(out of memory, a native crash, SIGKILL) goes back to the queue. If it does so every time, it
would cycle forever. Each start increments a per-subject counter in Redis and each finish (any
outcome, retries included) decrements it, so only starts that never finished accumulate. After
``poison_after`` of them the subject gets a failure record and stops until someone replays it.
"""

from __future__ import annotations

from worker.runtime import Runtime

TTL_SECONDS = 7 * 24 * 3600


# DECR, and DEL at zero: one round trip when a task finishes.
FINISH = """
local left = redis.call('decr', KEYS[1])
if left <= 0 then redis.call('del', KEYS[1]) end
return left
"""


def _key(kind: str, subject: int | str) -> str:
    return f"bookwire:unfinished:{kind}:{subject}"


def started(rt: Runtime, kind: str, subject: int | str) -> int:
    """Count a start; returns how many starts of this subject have not finished (this one too)."""
    key = _key(kind, subject)
    pipe = rt.redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, TTL_SECONDS)
    count, _ = pipe.execute()
    return int(count)


def finished(rt: Runtime, kind: str, subject: int | str) -> None:
    rt.redis.eval(FINISH, 1, _key(kind, subject))


def is_poison(rt: Runtime, unfinished: int) -> bool:
    """True when earlier starts died ``poison_after`` times without finishing."""
    return unfinished - 1 >= rt.settings.poison_after


def forget(rt: Runtime, kind: str, subject: int | str) -> None:
    """Clear the count (a replay gives the subject a fresh start)."""
    rt.redis.delete(_key(kind, subject))
