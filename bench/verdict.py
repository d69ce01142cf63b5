"""The chaos run's verdict, read at the platform: is every booking exactly one event, in its
latest state?

Events are matched to bookings by the ``Booking reference: …`` line of their description (the
reference our Gomry client writes; ``integrations.booking.booking_reference`` of the booking's
key), never by our own database. For each booking whose first delivery was acknowledged:

- ``duplicate``: more than one event carries its reference (whatever their state);
- ``missing``: a booking that should be confirmed has no event;
- ``stale``: its event's start or end instant is not the booking's latest;
- ``closed``: a confirmed booking's event is closed or hidden;
- ``open_but_cancelled``: a cancelled booking's event is open or public (a cancelled booking
  may have no event at all: it was cancelled before its create ran).

Offenders are listed by booking id and kind, with instants: never a name or an email.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.chaos_load import Stage
from integrations.booking import booking_key, booking_reference

REFERENCE = re.compile(r"^Booking reference: (bw-[0-9a-f]{32})$", re.MULTILINE)
LOST_KINDS = ("missing", "stale", "closed", "open_but_cancelled")


@dataclass
class Verdict:
    bookings: int = 0
    events: int = 0
    confirmed: int = 0
    cancelled: int = 0
    cancelled_without_event: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    offenders: list[dict[str, Any]] = field(default_factory=list)
    foreign_events: int = 0  # events carrying no reference of this run
    lost_bookings: set[str] = field(default_factory=set)

    @property
    def duplicates(self) -> int:
        """Bookings with more than one event."""
        return self.kinds["duplicate"]

    @property
    def lost(self) -> int:
        """Bookings whose platform does not show their latest state (one or more kinds)."""
        return len(self.lost_bookings)

    def as_dict(self, *, first: int = 20) -> dict[str, Any]:
        return {
            "bookings": self.bookings,
            "events": self.events,
            "confirmed": self.confirmed,
            "cancelled": self.cancelled,
            "cancelled_without_event": self.cancelled_without_event,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "kinds": {kind: self.kinds[kind] for kind in ("duplicate", *LOST_KINDS)},
            "foreign_events": self.foreign_events,
            "offenders": self.offenders[:first],
        }


def reference_of(tenant: str, booking: str) -> str:
    return booking_reference(booking_key(tenant, "generic", booking))


def judge(tenant: str, expected: Mapping[str, Stage], events: Iterable[dict[str, Any]]) -> Verdict:
    """Compare the platform's ``events`` with each booking's ``expected`` latest stage."""
    by_reference: dict[str, list[dict[str, Any]]] = {}
    verdict = Verdict(bookings=len(expected))
    for event in events:
        verdict.events += 1
        found = REFERENCE.search(str(event.get("description") or ""))
        by_reference.setdefault(found[1] if found else "", []).append(event)
    ours = set()
    for booking, stage in sorted(expected.items()):
        reference = reference_of(tenant, booking)
        ours.add(reference)
        held = by_reference.get(reference, [])
        cancelled = stage.status == "cancelled"
        verdict.cancelled += cancelled
        verdict.confirmed += not cancelled
        for kind, detail in _problems(stage, held):
            verdict.kinds[kind] += 1
            verdict.offenders.append({"booking": booking, "kind": kind, **detail})
            if kind in LOST_KINDS:
                verdict.lost_bookings.add(booking)
        if cancelled and not held:
            verdict.cancelled_without_event += 1
    verdict.foreign_events = sum(len(v) for k, v in by_reference.items() if k not in ours)
    return verdict


def _problems(stage: Stage, held: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    cancelled = stage.status == "cancelled"
    if len(held) > 1:
        found.append(("duplicate", {"events": [e.get("id") for e in held]}))
    if not held:
        return found if cancelled else [*found, ("missing", {})]
    for event in held:
        is_open = event.get("registration_status") != "closed"
        is_open = is_open and event.get("status") != "cancelled"
        public = not event.get("is_private")
        detail = {"event": event.get("id"), "open": is_open, "public": public}
        if cancelled:
            if is_open or public:
                found.append(("open_but_cancelled", detail))
            continue
        start, end = _instant(event.get("start")), _instant(event.get("end"))
        if (start, end) != (stage.start, stage.end):
            found.append(
                (
                    "stale",
                    {
                        **detail,
                        "start": _iso(start),
                        "end": _iso(end),
                        "expected_start": _iso(stage.start),
                        "expected_end": _iso(stage.end),
                    },
                )
            )
        elif not (is_open and public):
            found.append(("closed", detail))
    return found


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, dict) or not isinstance(value.get("utc"), str):
        return None
    return datetime.fromisoformat(value["utc"].replace("Z", "+00:00"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
