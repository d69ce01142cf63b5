"""Backfill: read a source's bookings from its list API and feed them through the intake.

``bookwire backfill SOURCE TENANT --since DATE`` calls the connector's backfill function
(its ``Source.backfill``), then treats each booking like a webhook delivery:
recorded in the inbox under a stable key, folded into the booking's ordered state
(``intake.accept``) and published after commit (``intake.publish``), in batches.

``--until`` bounds the window from the other side. Where ``--since`` means "modified since"
(HubSpot, Pipedrive) ``until`` bounds the modification time (``updated_at``); where it means
"dated from" (Calendly, Cal.com, Acuity, Square) it bounds the booking's start (a record with no
start is bounded by its ``updated_at``). The list APIs are read up to now and the bound is applied
here, one way for every source, so it cannot drift from a vendor's own parameter semantics.

The delivery key is ``backfill:<booking id>:<updated_at>``, so running a backfill twice records
nothing new (duplicates), and a backfill overlapping live webhooks creates nothing twice: the
booking's state only moves forward in ``updated_at`` and the sync is idempotent. Sources whose
``updated_at`` is the moment bookwire read the record (``Source.observed_updated_at``, e.g. Acuity,
which has no modification time) are keyed by a fingerprint of the content instead.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from integrations import registry
from integrations.booking import BookingMessage
from integrations.mapping import as_utc
from worker.intake import record as intake
from worker.runtime import Runtime
from worker.store.db import upsert_insert
from worker.store.models import Delivery

BATCH = 50
# what ``since`` (and ``until``) bound for each source: "modified" time or the booking's "start"
BOUNDS = {
    "calendly": "start",
    "calcom": "start",
    "pipedrive": "modified",
    "hubspot": "modified",
    "acuity": "start",
    "square": "start",
}
ORIGIN_HEADERS = {"x-bookwire-origin": "backfill", "content-type": "application/json"}


@dataclass(frozen=True)
class BackfillReport:
    """What one backfill run did; counts are deliveries (one per booking state seen)."""

    source: str
    tenant: str
    since: str
    until: str | None = None
    fetched: int = 0
    accepted: int = 0  # moved a booking forward
    stale: int = 0  # recorded, but not newer than the booking's current state
    duplicates: int = 0  # recorded by an earlier run (or an identical state)
    published: int = 0  # syncs queued


def backfill(
    rt: Runtime,
    source: str,
    tenant: str,
    *,
    since: date | datetime,
    now: datetime,
    until: date | datetime | None = None,
    batch_size: int = BATCH,
) -> BackfillReport:
    """Fetch ``source``'s bookings for ``tenant`` since ``since`` (and before ``until``, see
    the module docstring) and take them in; records past ``until`` are skipped, not counted.

    Raises LookupError for a source without a backfill or a tenant without that source, and
    the connector's errors (TransientError, ConfigurationError …) when a look-up fails; what
    was recorded before then stays recorded, and running again skips it."""
    connector = registry.connector(source)
    fetch = connector.backfill if connector is not None else None
    if connector is None or fetch is None:
        known = ", ".join(registry.backfills()) or "none"
        raise LookupError(f"source {source!r} has no backfill (sources that do: {known})")
    config = rt.tenant(tenant)
    if config is None or source not in config.sources:
        raise LookupError(f"tenant {tenant!r} has no {source!r} source configured")
    context = rt.parse_context(tenant, source, now=now, with_http=True)
    observed = connector.observed_updated_at
    counts: Counter[str] = Counter()
    batch: list[BookingMessage] = []
    bound = as_utc(until) if until is not None else None
    for message in fetch(context, since=since):
        if bound is not None and not _within(message, bound, by=BOUNDS.get(source, "modified")):
            continue
        counts["fetched"] += 1
        batch.append(message)
        if len(batch) >= batch_size:
            _take(rt, batch, observed=observed, now=now, counts=counts)
            batch = []
    if batch:
        _take(rt, batch, observed=observed, now=now, counts=counts)
    return BackfillReport(
        source=source,
        tenant=tenant,
        since=since.isoformat(),
        until=until.isoformat() if until is not None else None,
        fetched=counts["fetched"],
        accepted=counts["accepted"],
        stale=counts["stale"],
        duplicates=counts["duplicates"],
        published=counts["published"],
    )


def _within(message: BookingMessage, until: datetime, *, by: str) -> bool:
    """Whether a fetched record is inside the window's ``until`` end (exclusive)."""
    moment = message.start if by == "start" and message.start is not None else message.updated_at
    return as_utc(moment) < until


def delivery_key(message: BookingMessage, *, observed: bool = False) -> str:
    """The inbox key of one backfilled booking state (stable across runs)."""
    if observed:
        content = message.model_dump(mode="json", exclude={"updated_at", "delivery_id"})
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        key = f"backfill:{message.booking_id}:{digest[:32]}"
    else:
        key = f"backfill:{message.booking_id}:{message.updated_at.isoformat()}"
    return key if len(key) <= 255 else "backfill:" + hashlib.sha256(key.encode()).hexdigest()


def _take(
    rt: Runtime,
    batch: Sequence[BookingMessage],
    *,
    observed: bool,
    now: datetime,
    counts: Counter[str],
) -> None:
    moved: list[int] = []
    with rt.store.transaction() as session:
        for message in batch:
            delivery_id = _record(session, message, delivery_key(message, observed=observed), now)
            if delivery_id is None:
                counts["duplicates"] += 1
                continue
            stamped = message.model_copy(update={"delivery_id": delivery_id})
            forward = intake.accept(session, [stamped], now=now)
            outcome = "accepted" if forward else "stale"
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=outcome,
                    reason=None if forward else "older than the booking's current state",
                )
            )
            counts[outcome] += 1
            moved += forward
    counts["published"] += intake.publish(rt, moved)


def _record(session: Session, message: BookingMessage, key: str, now: datetime) -> int | None:
    """Insert the delivery; None when the key is already recorded (race-safe)."""
    dialect = session.get_bind().dialect.name
    insert = upsert_insert(dialect)
    stmt = (
        insert(Delivery)
        .values(
            tenant=message.tenant,
            source=message.source,
            delivery_key=key,
            received_at=now,
            queued_at=now,
            status="received",
            reason=None,
            headers=ORIGIN_HEADERS,
            body=message.model_dump_json().encode(),
        )
        .on_conflict_do_nothing(index_elements=["tenant", "source", "delivery_key"])
        .returning(Delivery.id)
    )
    return session.execute(stmt).scalar_one_or_none()
