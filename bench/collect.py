"""What the pipeline did, read from the outside: the platform's events and the store's rows.

The platform stub (the sandbox) is the judge: an event exists or it does not. Events are
matched to bookings by name (the benchmark's tenant puts the booking id first) once the run
has drained and the fault knobs are off again. The store is read for progress and counts
(bookings still pending, failure records, recorded attempts) with plain read-only queries
that never take SQLite's write lock.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis
from sqlalchemy import create_engine, text


@dataclass
class Events:
    """The platform's events of this run, by booking id."""

    by_booking: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    other: int = 0  # events whose name carries none of our booking ids

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_booking.values()) + self.other


class Sandbox:
    """The sandbox's Gomry API and fault knobs over HTTP."""

    def __init__(self, url: str, api_key: str) -> None:
        self._http = httpx.Client(base_url=url, headers={"X-API-KEY": api_key}, timeout=30)

    def close(self) -> None:
        self._http.close()

    def faults(self, **knobs: Any) -> dict[str, Any]:
        """Set fault knobs (none: just read them); returns the knobs and counters."""
        if knobs:
            response = self._http.post("/_sandbox/faults", json=knobs)
        else:
            response = self._http.get("/_sandbox/faults")
        response.raise_for_status()
        return dict(response.json())

    def plant_copy(self, event_id: str) -> None:
        """A hand-made copy of the event (same description, so the same booking reference)."""
        self._http.post(f"/_sandbox/gomry/events/{event_id}/copies", json={}).raise_for_status()

    def plant_delete(self, event_id: str) -> None:
        """The event deleted by hand in the dashboard."""
        self._http.delete(f"/_sandbox/gomry/events/{event_id}").raise_for_status()

    def count(self) -> int:
        response = self._http.get("/api/v1/events", params={"page": 1, "page_size": 1})
        response.raise_for_status()
        return int(response.json()["pagination"]["total"])

    def events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self._http.get("/api/v1/events", params={"page": page, "page_size": 200})
            response.raise_for_status()
            payload = response.json()
            found += payload["data"]
            if page >= payload["pagination"]["total_pages"]:
                return found
            page += 1


def match(events: Iterable[dict[str, Any]], prefix: str) -> Events:
    """Group events by the booking id their name starts with (ids start with ``prefix``)."""
    result = Events()
    for event in events:
        first = str(event.get("name", "")).split(" ", 1)[0]
        if first.startswith(prefix + "-"):
            result.by_booking.setdefault(first, []).append(event)
        else:
            result.other += 1
    return result


def wait_drained(
    database_url: str,
    prefix: str,
    acknowledged: int,
    *,
    timeout: float,
    alive: Callable[[], None] = lambda: None,
    every: float = 0.25,
) -> tuple[bool, float]:
    """Wait until the store holds every acknowledged booking and none is still pending (a
    failed one is settled too); returns (drained, seconds waited).

    The store is polled, not the platform: the platform's fault knobs apply to every request,
    so polling it would both fail and skew its counters."""
    engine = create_engine(database_url)
    query = text(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN applied_version < version "
        "AND state != 'failed' THEN 1 ELSE 0 END), 0) FROM bookings WHERE external_id LIKE :p"
    )
    started = time.monotonic()
    try:
        while True:
            alive()
            with engine.connect() as conn:
                stored, pending = conn.execute(query, {"p": prefix + "-%"}).one()
            if stored >= acknowledged and not pending:
                return True, time.monotonic() - started
            if time.monotonic() - started > timeout:
                return False, time.monotonic() - started
            time.sleep(every)
    finally:
        engine.dispose()


def store_counts(database_url: str, prefix: str) -> dict[str, Any]:
    """This run's bookings by state, open failures and recorded platform attempts."""
    engine = create_engine(database_url)
    pattern = prefix + "-%"
    try:
        with engine.connect() as conn:
            states: dict[str, int] = dict(
                conn.execute(
                    text(
                        "SELECT state, COUNT(*) FROM bookings WHERE external_id LIKE :p "
                        "GROUP BY state"
                    ),
                    {"p": pattern},
                ).all()
            )
            pending = conn.execute(
                text(
                    "SELECT COUNT(*) FROM bookings WHERE external_id LIKE :p "
                    "AND applied_version < version"
                ),
                {"p": pattern},
            ).scalar_one()
            failures = conn.execute(
                text(
                    "SELECT COUNT(*) FROM failures f JOIN bookings b ON b.id = f.booking_id "
                    "WHERE b.external_id LIKE :p AND f.resolved_at IS NULL"
                ),
                {"p": pattern},
            ).scalar_one()
            attempts = conn.execute(
                text(
                    "SELECT a.status, COUNT(*) FROM attempts a JOIN bookings b "
                    "ON b.id = a.booking_id WHERE b.external_id LIKE :p GROUP BY a.status"
                ),
                {"p": pattern},
            ).all()
            deliveries = conn.execute(
                text(
                    "SELECT status, COUNT(*) FROM deliveries WHERE tenant = 'bench' "
                    "AND delivery_key LIKE :m GROUP BY status"
                ),
                {"m": "msg_" + pattern},
            ).all()
    finally:
        engine.dispose()
    by_status: Counter[str] = Counter()
    for status, n in attempts:
        by_status["error" if status is None else str(status)] += int(n)
    return {
        "bookings": {str(k): int(v) for k, v in states.items()},
        "pending": int(pending),
        "open_failures": int(failures),
        "attempts": dict(by_status),
        "deliveries": {str(k): int(v) for k, v in deliveries},
    }


def broker_commands(redis_url: str) -> dict[str, int]:
    """Calls per command since the broker started (``INFO commandstats``)."""
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {
        name.removeprefix("cmdstat_"): int(value["calls"])
        for name, value in stats.items()
        if isinstance(value, dict) and "calls" in value
    }
