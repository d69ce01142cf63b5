"""The ceiling: the same number of events created straight on the platform stub, from this
process, at the same concurrency, on the same machine, in the same run.

bookwire can never be faster than a client that only creates events, so its end-to-end rate
is reported as a ratio to this one: a ratio survives a slower or busier machine where an
absolute rate does not.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

BODY = {
    "name": "Ceiling",
    "start": {"utc": "2026-07-15T18:00", "timezone": "America/New_York"},
    "end": {"utc": "2026-07-15T22:00", "timezone": "America/New_York"},
    "location": "Convention Center, New York",
    "description": "ceiling run",
}


def measure(sandbox_url: str, api_key: str, *, events: int, concurrency: int) -> dict[str, Any]:
    """Create ``events`` events directly (keyed, as bookwire creates them); events/s."""
    headers = {"X-API-KEY": api_key}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=sandbox_url, headers=headers, timeout=30, limits=limits) as http:

        def create(_: int) -> int:
            key = {"Idempotency-Key": f"ceiling-{uuid.uuid4().hex}"}
            return http.post("/api/v1/events", json=BODY, headers=key).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            statuses = list(pool.map(create, range(events)))
        elapsed = time.perf_counter() - started
    created = statuses.count(201)
    return {
        "events": created,
        "events_per_s": round(created / elapsed, 1) if elapsed else None,
        "concurrency": concurrency,
    }


def ratio(e2e: dict[str, Any], ceiling: dict[str, Any]) -> float | None:
    """bookwire's end-to-end rate as a share of the ceiling."""
    if not e2e.get("events_per_s") or not ceiling.get("events_per_s"):
        return None
    return round(e2e["events_per_s"] / ceiling["events_per_s"], 3)
