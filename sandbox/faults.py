"""Fault knobs shared by every emulated platform, turned at ``POST /_sandbox/faults``."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

KEY_REUSE = ("replay", "refuse")


@dataclass
class Faults:
    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of requests answered 5xx before doing anything
    burst_429: int = 0  # the next N requests answer 429 without Retry-After
    drop_rate: float = 0.0  # share of writes that commit, then drop the connection
    clock_offset_s: float = 0.0  # moves the platform's clock (expire idempotency keys)
    rate_limit: int = 0  # requests per 10 s per client IP; 0 = off
    key_reuse: str = "replay"  # an Idempotency-Key reused with another body: replay | refuse (422)
    seed: int | None = None
    counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._windows: dict[str, list[float]] = {}

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key == "counters" or not hasattr(self, key):
                raise KeyError(key)
            if key == "key_reuse" and value not in KEY_REUSE:
                raise ValueError(f"key_reuse must be one of {', '.join(KEY_REUSE)}")
            setattr(self, key, value)
        if "seed" in values:
            self._random = random.Random(self.seed)

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)

    def now(self) -> float:
        return time.time() + self.clock_offset_s

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    async def delay(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)

    def injected_status(self, client: str) -> int | None:
        """A status to answer instead of doing the work, or None."""
        if self.rate_limit and self._over_limit(client):
            self.count("rate_limited")
            return 429
        if self.burst_429 > 0:
            self.burst_429 -= 1
            self.count("burst_429")
            return 429
        if self.error_rate and self._random.random() < self.error_rate:
            self.count("errors_5xx")
            return 503
        return None

    def should_drop(self) -> bool:
        dropped = bool(self.drop_rate) and self._random.random() < self.drop_rate
        if dropped:
            self.count("dropped")
        return dropped

    def _over_limit(self, client: str) -> bool:
        now = time.monotonic()
        window = [t for t in self._windows.get(client, []) if now - t < 10.0]
        over = len(window) >= self.rate_limit
        if not over:
            window.append(now)
        self._windows[client] = window
        return over
