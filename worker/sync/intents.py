"""Write-ahead intents: what the worker is about to do to a platform, committed before the call.

Every effect outside our database (create, update or cancel a booking's event; for Gatsby these
add, move and release guests) is preceded by an intent row and followed by its outcome. The
intents of one sync round are written in one statement and one commit, whatever the batch size.

An intent with no outcome is **ambiguous**: the worker died, or the call timed out, somewhere
between committing the intent and committing the outcome, so the platform may or may not have
acted. Two kinds need recovery (see ``worker.sync.bookings``); the rest are level-triggered and
simply
run again:

- an ambiguous create: "no event link" then means "an event may exist at an unknown version",
  and it is found before anything else is decided;
- on platforms that place a booking on an event chosen by its fields (Gatsby: the event of the
  booking's date), an ambiguous create or update may have left the booking's people on the
  event of the message it was sent for: each such placement is settled first.

A create the platform refused (a 4xx answer to the POST) is finished as ``refused``. Platforms
replay a key's answer for 24 h, refusals included, so the next create for that booking uses the
next key of the booking (``idempotency_key``): still derived from the booking id alone.

A step whose very first call our own rate limiter refused (``BudgetSpent``, no attempt
recorded: nothing reached the platform) is finished as ``unsent`` and counts for nothing: the
booking comes back at its turn as if that intent had never been written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Connection, and_, bindparam, insert, or_, select, update

from worker.store.models import SyncIntent, table

# Platforms replay an Idempotency-Key for 24 h; past this age we no longer rely on it.
KEY_WINDOW = timedelta(hours=23)


class Operation(StrEnum):
    create = "create"
    update = "update"
    cancel = "cancel"


class Outcome(StrEnum):
    """How an intent ended. ``superseded``: an earlier ambiguous intent that a later step of
    the same booking converged (the platform now holds the booking's latest state)."""

    created = "created"
    recovered = "recovered"
    updated = "updated"
    cancelled = "cancelled"
    absent = "absent"  # recovery proved there was nothing to cancel
    refused = "refused"
    superseded = "superseded"
    unsent = "unsent"  # our own rate limiter refused the step's first call: nothing was sent


class Ambiguous(NamedTuple):
    """The booking's earliest-started create whose outcome was never recorded."""

    key: str
    started_at: datetime
    message: dict[str, Any] | None


@dataclass(frozen=True)
class History:
    """What earlier intents tell a round about one booking."""

    ambiguous_create: Ambiguous | None = None
    refused_creates: int = 0
    # what each unfinished create or update was sent for: on platforms that place a booking on
    # an event chosen by its fields (Gatsby), each may have left its people there
    placements: tuple[dict[str, Any], ...] = ()

    def key_for(self, reference: str) -> str:
        """The create key: the ambiguous create's own (so the platform replays it), else the
        booking's reference, moved on once per refused create."""
        if self.ambiguous_create is not None:
            return self.ambiguous_create.key
        return idempotency_key(reference, self.refused_creates)

    def in_key_window(self, now: datetime) -> bool:
        """Would the platform still replay the ambiguous create's key?"""
        ambiguous = self.ambiguous_create
        return ambiguous is not None and now - ambiguous.started_at < KEY_WINDOW


class Planned(NamedTuple):
    """One intent to write before the round's calls."""

    booking_id: int
    version: int
    operation: Operation
    key: str | None
    message: dict[str, Any] | None


class Finished(NamedTuple):
    """One intent's outcome, written with the round's results."""

    intent_id: int
    booking_id: int
    outcome: Outcome
    event_id: str | None
    converged: bool  # the booking reached its latest state: earlier ambiguous intents end too


def idempotency_key(reference: str, refused: int) -> str:
    return reference if refused == 0 else f"{reference}.{refused + 1}"


def history(conn: Connection, booking_ids: Sequence[int]) -> dict[int, History]:
    """Ambiguous and refused creates of these bookings (usually none: one indexed read)."""
    found: dict[int, History] = {}
    for row in conn.execute(_OPEN_OR_REFUSED, {"ids": list(booking_ids)}):
        known = found.get(row.booking_id, History())
        if row.finished_at is not None:  # a refused create
            known = replace(known, refused_creates=known.refused_creates + 1)
        else:
            if row.message is not None and row.message not in known.placements:
                known = replace(known, placements=(*known.placements, row.message))
            earliest = known.ambiguous_create
            if row.operation == Operation.create and (
                earliest is None or row.started_at < earliest.started_at
            ):
                ambiguous = Ambiguous(row.idempotency_key or "", row.started_at, row.message)
                known = replace(known, ambiguous_create=ambiguous)
        found[row.booking_id] = known
    return found


def write(conn: Connection, planned: Iterable[Planned], *, now: datetime) -> list[int]:
    """Insert the round's intents in one statement; their ids, in order."""
    rows = [
        {
            "booking_id": p.booking_id,
            "version": p.version,
            "operation": str(p.operation),
            "idempotency_key": p.key,
            "message": p.message,
            "started_at": now,
        }
        for p in planned
    ]
    if not rows:
        return []
    result = conn.execute(
        insert(INTENTS).returning(INTENTS.c.id, sort_by_parameter_order=True), rows
    )
    return [row.id for row in result]


def finish(conn: Connection, finished: Sequence[Finished], *, now: datetime) -> None:
    """Record outcomes; a converged booking's earlier ambiguous intents end as superseded."""
    if finished:
        conn.execute(
            _FINISH,
            [
                {
                    "i_id": f.intent_id,
                    "i_outcome": str(f.outcome),
                    "i_event": f.event_id,
                    "i_now": now,
                }
                for f in finished
            ],
        )
    converged = [f.booking_id for f in finished if f.converged]
    if converged:
        conn.execute(_SUPERSEDE, {"ids": converged, "i_now": now})


INTENTS = table(SyncIntent)
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)
_OPEN_OR_REFUSED = (
    select(
        INTENTS.c.booking_id,
        INTENTS.c.operation,
        INTENTS.c.idempotency_key,
        INTENTS.c.message,
        INTENTS.c.started_at,
        INTENTS.c.finished_at,
    )
    .where(
        INTENTS.c.booking_id.in_(_IDS),
        or_(
            INTENTS.c.finished_at.is_(None),
            and_(
                INTENTS.c.operation == str(Operation.create),
                INTENTS.c.outcome == str(Outcome.refused),
            ),
        ),
    )
    .order_by(INTENTS.c.id)
)
_FINISH = (
    update(INTENTS)
    .where(INTENTS.c.id == bindparam("i_id"))
    .values(
        finished_at=bindparam("i_now"),
        outcome=bindparam("i_outcome"),
        event_id=bindparam("i_event"),
    )
)
_SUPERSEDE = (
    update(INTENTS)
    .where(and_(INTENTS.c.booking_id.in_(_IDS), INTENTS.c.finished_at.is_(None)))
    .values(
        finished_at=bindparam("i_now"),
        outcome=str(Outcome.superseded),
    )
)
