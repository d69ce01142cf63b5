"""Replays: a quarantined delivery parsed again after a fix; a failed booking queued again;
a failed hand-off to the portal (stage ``portal``) queued again.

``bookwire replay`` takes failures (``--failure ID`` or every open one matching filters),
bookings or deliveries. Each replay works on today's code and config, so the usual order is:
fix the config, restart the workers (they load tenants at start), replay, watch.

The bodies of ``bookwire failures`` and ``bookwire replay`` live here too (the parser lives
in ``cli``)::

    bookwire failures                          # open failures, newest first
    bookwire failures --tenant acme --stage sync --since 6h --json
    bookwire replay --failure 12 --failure 13  # those two
    bookwire replay --matching --tenant acme --stage sync   # every open one that matches
    bookwire replay --matching --stage overdue --dry-run    # show what would be replayed
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update

from worker import poison
from worker.handoff import hand_off, schedule
from worker.intake import deferred
from worker.intake import record as intake
from worker.privacy import audit, personal
from worker.records import failures
from worker.runtime import Runtime
from worker.store.models import Booking, Delivery, Failure


def replay_delivery(rt: Runtime, delivery_id: int, *, now: datetime) -> intake.Receipt:
    """Parse a stored delivery with today's code and config; idempotent. A delivery whose raw
    body was erased (``bookwire erase``, retention) has nothing left to parse: LookupError."""
    with rt.store.read() as conn:
        headers = conn.execute(
            select(Delivery.headers).where(Delivery.id == delivery_id)
        ).scalar_one_or_none()
    if personal.is_erased(headers):
        raise LookupError(f"delivery {delivery_id}: its raw body was erased (personal data)")
    return deferred.replay_delivery(rt, delivery_id, now=now)


def replay_booking(rt: Runtime, booking_id: int, *, now: datetime) -> None:
    """Put a failed booking back to pending and publish it (idempotent)."""
    poison.forget(rt, "booking", booking_id)  # a replay is a fresh start
    with rt.store.transaction() as session:
        session.execute(
            update(Booking)
            .where(Booking.id == booking_id, Booking.state == "failed")
            .values(state="pending", queued_at=now)
        )
    intake.publish(rt, [booking_id])


def replay_hand_off(rt: Runtime, booking_id: int, *, now: datetime) -> str:
    """Queue a failed hand-off again (the album link that could not be handed over);
    a delivery already made is never sent twice."""
    if hand_off.replay(rt, booking_id, now=now):
        schedule.publish(rt, [booking_id])
        return f"hand-off of booking #{booking_id} queued"
    return f"booking #{booking_id}: no failed hand-off to replay"


def replay_failures(
    rt: Runtime, found: Sequence[Failure], *, now: datetime
) -> list[tuple[Failure, str]]:
    """Replay what each failure is about, once per booking or delivery; returns what happened.

    A failure with a booking queues the booking again (the sync is idempotent: one event however
    often it runs); one with only a delivery parses the stored delivery again (an older state
    never overwrites a newer one). So replaying the same failures twice does no harm."""
    done: dict[tuple[str, int], str] = {}
    results: list[tuple[Failure, str]] = []
    for failure in found:
        if failure.stage == "portal" and failure.booking_id is not None:
            key = ("portal", failure.booking_id)
            if key not in done:
                done[key] = replay_hand_off(rt, failure.booking_id, now=now)
        elif failure.booking_id is not None:
            key = ("booking", failure.booking_id)
            if key not in done:
                replay_booking(rt, failure.booking_id, now=now)
                done[key] = f"booking #{failure.booking_id} queued"
        elif failure.delivery_id is not None:
            key = ("delivery", failure.delivery_id)
            if key not in done:
                try:
                    receipt = replay_delivery(rt, failure.delivery_id, now=now)
                    outcome = f"{receipt.outcome} {receipt.reason or ''}".rstrip()
                except LookupError as exc:
                    outcome = f"not replayed: {exc}"
                done[key] = f"delivery {failure.delivery_id}: {outcome}"
        else:
            key = ("failure", failure.id)
            done[key] = "nothing to replay"
        results.append((failure, done[key]))
    return results


def filters(args: argparse.Namespace, *, now: datetime, open_only: bool = True) -> failures.Filters:
    return failures.Filters(
        tenant=args.tenant,
        source=args.source,
        stage=args.stage,
        since=failures.parse_since(args.since, now=now) if args.since else None,
        open_only=open_only,
    )


def list_failures(rt: Runtime, args: argparse.Namespace) -> int:
    """Print matching failures as a table, or as JSON lines with ``--json``."""
    chosen = filters(args, now=datetime.now(UTC), open_only=not args.all)
    with rt.store.transaction() as session:
        rows = [failures.as_dict(f) for f in failures.find(session, chosen, limit=args.limit)]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("no failures match" + ("" if args.all else " (open ones; --all for resolved too)"))
        return 0
    print(
        f"{'ID':>6}  {'LAST SEEN':<20} {'TENANT':<14} {'SOURCE':<10} {'STAGE':<8} "
        f"{'BOOKING':>8} {'INBOX':>7} {'TRIES':>5}  REASON"
    )
    for row in rows:
        booking = f"#{row['booking']}" if row["booking"] is not None else "-"
        inbox = str(row["delivery"]) if row["delivery"] is not None else "-"
        state = "" if row["resolved_at"] is None else "[resolved] "
        print(
            f"{row['id']:>6}  {row['last_seen'][:19]:<20} {row['tenant']:<14} "
            f"{row['source']:<10} {row['stage']:<8} {booking:>8} {inbox:>7} "
            f"{row['attempts']:>5}  {state}{row['reason'][:120]}"
        )
    print("\nwhy: bookwire status '#<booking>'   fix, then: bookwire replay --failure <id>")
    return 0


def run_replay(rt: Runtime, args: argparse.Namespace) -> int:
    """Replay the failures, bookings and deliveries named on the command line."""
    now = datetime.now(UTC)
    selected: list[Failure] = []
    with rt.store.transaction() as session:
        if args.failure:
            chosen = failures.Filters(ids=tuple(args.failure), open_only=False)
            selected += failures.find(session, chosen)
            missing = set(args.failure) - {f.id for f in selected}
            for failure_id in sorted(missing):
                print(f"failure {failure_id}: no such failure")
        if args.matching:
            selected += failures.find(session, filters(args, now=now), limit=args.limit)
    if not (selected or args.delivery or args.booking):
        print("nothing to replay (give --failure ID, --booking ID, --delivery ID or --matching)")
        return 1 if (args.failure and not args.matching) else 0
    if args.dry_run:
        for failure in selected:
            print(f"would replay failure {failure.id} ({failure.stage}): {_subject(failure)}")
        return 0
    counts = {"failures": 0, "deliveries": 0, "bookings": 0}
    for failure, outcome in replay_failures(rt, selected, now=now):
        print(f"failure {failure.id} ({failure.stage}): {outcome}")
        counts["failures"] += 1
    for delivery_id in args.delivery:
        try:
            receipt = replay_delivery(rt, delivery_id, now=now)
        except LookupError as exc:
            print(f"delivery {delivery_id}: not replayed: {exc}")
            continue
        print(f"delivery {delivery_id}: {receipt.outcome} {receipt.reason or ''}".rstrip())
        counts["deliveries"] += 1
    for booking_id in args.booking:
        replay_booking(rt, booking_id, now=now)
        print(f"booking #{booking_id}: queued")
        counts["bookings"] += 1
    with rt.store.transaction() as session:
        audit.record(
            session,
            audit.Action.replay,
            actor=audit.Actor.cli,
            counts=counts,
            at=now,
            tenant=args.tenant,
        )
    print("watch: bookwire status '#<booking>' or Flower's task list")
    return 0


def _subject(failure: Failure) -> str:
    if failure.booking_id is not None:
        return f"booking #{failure.booking_id}"
    return f"delivery {failure.delivery_id}"
