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


def _key(kind: str, subject: int) -> str:
    return f"bookwire:unfinished:{kind}:{subject}"


def started(rt: Runtime, kind: str, subject: int) -> int:
    """Count a start; returns how many starts of this subject have not finished (this one too)."""
    key = _key(kind, subject)
    pipe = rt.redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, TTL_SECONDS)
    count, _ = pipe.execute()
    return int(count)


def finished(rt: Runtime, kind: str, subject: int) -> None:
    key = _key(kind, subject)
    if rt.redis.decr(key) <= 0:
        rt.redis.delete(key)


def is_poison(rt: Runtime, unfinished: int) -> bool:
    """True when earlier starts died ``poison_after`` times without finishing."""
    return unfinished - 1 >= rt.settings.poison_after


def forget(rt: Runtime, kind: str, subject: int) -> None:
    """Clear the count (a replay gives the subject a fresh start)."""
    rt.redis.delete(_key(kind, subject))
