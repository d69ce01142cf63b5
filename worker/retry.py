"""The one retry policy: exponential backoff with full jitter, a cap and a maximum.

Countdowns never exceed half the broker's visibility timeout: on Redis a message held longer
than the visibility timeout is delivered a second time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 8
    base: float = 1.0
    cap: float = 300.0

    def delay(self, retries: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retries + 1``."""
        ceiling = min(self.cap, self.base * (2**retries))
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.cap)

    def exhausted(self, retries: int) -> bool:
        return retries >= self.max_retries
