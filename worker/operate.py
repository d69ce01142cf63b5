"""The bodies of ``bookwire failures`` and ``bookwire replay`` (the parser lives in ``cli``).

bookwire failures                          # open failures, newest first
bookwire failures --tenant acme --stage sync --since 6h --json
bookwire replay --failure 12 --failure 13  # those two
bookwire replay --matching --tenant acme --stage sync   # every open one that matches
bookwire replay --matching --stage overdue --dry-run    # show what would be replayed
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from worker import audit, failures, replay
from worker.runtime import Runtime
from worker.store.models import Failure


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
    for failure, outcome in replay.replay_failures(rt, selected, now=now):
        print(f"failure {failure.id} ({failure.stage}): {outcome}")
        counts["failures"] += 1
    for delivery_id in args.delivery:
        try:
            receipt = replay.replay_delivery(rt, delivery_id, now=now)
        except LookupError as exc:
            print(f"delivery {delivery_id}: not replayed: {exc}")
            continue
        print(f"delivery {delivery_id}: {receipt.outcome} {receipt.reason or ''}".rstrip())
        counts["deliveries"] += 1
    for booking_id in args.booking:
        replay.replay_booking(rt, booking_id, now=now)
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
