"""A stateful property test: random interleavings of created / rescheduled / cancelled
deliveries, duplicates, reordering and injected platform failures, checked against a model.

The model is simple on purpose: the latest delivery (by the source's ``updated_at``) of each
booking wins; a booking that was ever non-cancelled has exactly one event, open with the latest
times when the latest state is live, closed when it is cancelled; a booking cancelled before
any event existed has none.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from integrations.errors import TransientError
from tests.support import ServerThread, gomry_events
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.models import Booking
from worker.sync import bookings as sync

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BASE = datetime(2026, 8, 1, 16, 0, tzinfo=UTC)


@dataclass
class Sent:
    body: dict[str, Any]
    updated: int


@dataclass
class Model:
    latest: dict[str, Sent] = field(default_factory=dict)
    ever_live_synced: set[str] = field(default_factory=set)


def test_lifecycle_matches_the_model(runtime: Runtime, sandbox: ServerThread) -> None:
    clock = itertools.count(1)

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.prefix = uuid.uuid4().hex[:6]
            self.model = Model()
            self.history: list[Sent] = []
            httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 0.0})

        def _id(self, n: int) -> str:
            return f"{self.prefix}-{n}"

        @rule(
            n=st.integers(0, 2),
            status=st.sampled_from(["confirmed", "rescheduled", "cancelled"]),
            shift=st.integers(0, 48),
        )
        def deliver_new(self, n: int, status: str, shift: int) -> None:
            tick = next(clock)
            start = BASE + timedelta(hours=shift)
            body: dict[str, Any] = {
                "booking_id": self._id(n),
                "status": status,
                "updated_at": (NOW + timedelta(seconds=tick)).isoformat(),
            }
            if status != "cancelled":
                body |= {
                    "title": f"Party {self._id(n)}",
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=3)).isoformat(),
                    "timezone": "Europe/Berlin",
                    "location": "Halle 1",
                    "customer": {"name": "Zoë"},
                }
            self._send(Sent(body, tick))

        @rule(data=st.data())
        def redeliver_old(self, data: st.DataObject) -> None:
            """A duplicate or an out-of-order retry of something sent before."""
            if self.history:
                self._send(data.draw(st.sampled_from(self.history)))

        @rule(n=st.integers(0, 2), failing=st.booleans())
        def sync_one(self, n: int, failing: bool) -> None:
            booking_id = self._booking_pk(self._id(n))
            if booking_id is None:
                return
            httpx.post(
                f"{sandbox.url}/_sandbox/faults", json={"error_rate": 1.0 if failing else 0.0}
            )
            try:
                sync.sync_booking(runtime, booking_id, now=NOW)
            except TransientError:
                assert failing
            finally:
                httpx.post(f"{sandbox.url}/_sandbox/faults", json={"error_rate": 0.0})

        @invariant()
        def never_two_events_for_one_booking(self) -> None:
            names = [e["name"] for e in self._events()]
            assert len(names) == len(set(names))

        def teardown(self) -> None:
            for n in range(3):
                booking_id = self._booking_pk(self._id(n))
                if booking_id is not None:
                    sync.sync_booking(runtime, booking_id, now=NOW)
            events = {e["name"].split("Party ", 1)[1]: e for e in self._events()}
            for booking_id, sent in self.model.latest.items():
                event = events.get(booking_id)
                if sent.body["status"] == "cancelled":
                    assert event is None or event["registration_status"] == "closed"
                else:
                    assert event is not None, booking_id
                    assert event["registration_status"] == "open"
                    expected = datetime.fromisoformat(sent.body["start"])
                    got = datetime.fromisoformat(event["start"]["utc"].replace("Z", "+00:00"))
                    assert got == expected

        def _send(self, sent: Sent) -> None:
            receipt = publish_booking(runtime, tenant="acme", booking=sent.body)
            assert receipt.outcome in ("accepted", "stale", "duplicate")
            self.history.append(sent)
            key = sent.body["booking_id"]
            current = self.model.latest.get(key)
            if current is None or sent.updated > current.updated:
                self.model.latest[key] = sent

        def _booking_pk(self, external_id: str) -> int | None:
            from sqlalchemy import select

            with runtime.store.transaction() as session:
                return session.scalar(select(Booking.id).where(Booking.external_id == external_id))

        def _events(self) -> list[dict[str, Any]]:
            return [e for e in gomry_events(sandbox.url) if self.prefix in e["name"]]

    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
