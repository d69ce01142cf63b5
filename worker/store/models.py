"""Tables. The same models serve SQLite (embedded default) and PostgreSQL (production).

- ``deliveries``: the inbox. Every verified delivery, raw bytes and all, before we answer.
- ``bookings``: the latest state each source gave a booking (``version`` counts accepted
  changes, ``applied_version`` how far the platform has caught up). Pending = version > applied.
- ``booking_aliases``: vendor ids that name an existing booking (reschedules with new ids).
- ``booking_deliveries``: which deliveries carried a booking, and whether each moved it forward
  (``accepted``) or was older than what we had (``stale``): the booking's timeline.
- ``event_links``: the one event of a booking (unique per booking): the idempotency anchor;
  ``details`` is the platform's own JSON about it (e.g. Gatsby guests' ``personId``s).
- ``failures``: permanent problems ops must see and can replay.
- ``attempts``: every outbound call, next to the booking it served.
- ``handoffs``: the album link / attendance handed to a tenant's portal once the
  event ended, one row per booking and event end (never sent twice).
- ``sync_intents``: write-ahead intents. Before any call that changes a platform, the worker
  commits what it is about to do; the outcome is written after the answer. An intent without
  an outcome is *ambiguous* (the call may or may not have happened) and drives recovery.
- ``audit_log``: what operators and the retention job did to stored data (erase, purge,
  replay, reload): when, who (cli | beat), counts and tenant; never a person's data.
- ``alerts``: one row per alert group's episode pushed to the alert sink (``worker.alerts``):
  opened once, sent once, closed when its cause is gone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("tenant", "source", "delivery_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63))
    source: Mapped[str] = mapped_column(String(63))
    delivery_key: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BookingAlias(Base):
    """A vendor id that names an existing booking (a reschedule that issued a new id)."""

    __tablename__ = "booking_aliases"
    __table_args__ = (UniqueConstraint("tenant", "source", "alias_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63))
    source: Mapped[str] = mapped_column(String(63))
    alias_id: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255))


class BookingDelivery(Base):
    """One delivery that carried a booking (``bookwire status`` shows them all)."""

    __tablename__ = "booking_deliveries"
    __table_args__ = (UniqueConstraint("booking_id", "delivery_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    booking_id: Mapped[int] = mapped_column(Id, index=True)
    delivery_id: Mapped[int] = mapped_column(Id)
    outcome: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("tenant", "source", "external_id"),
        Index("ix_bookings_pending", "state", "queued_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63))
    source: Mapped[str] = mapped_column(String(63))
    external_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    source_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    applied_version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    last_delivery_id: Mapped[int | None] = mapped_column(Id)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventLink(Base):
    __tablename__ = "event_links"

    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(63))
    event_id: Mapped[str] = mapped_column(String(255))
    event_state: Mapped[str] = mapped_column(String(20), default="active")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # what the platform keeps about the booking on the event (LinkedEvent.details: guest ids)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Failure(Base):
    __tablename__ = "failures"
    __table_args__ = (Index("ix_failures_open", "resolved_at", "stage"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63))
    source: Mapped[str] = mapped_column(String(63))
    booking_id: Mapped[int | None] = mapped_column(Id, index=True)
    delivery_id: Mapped[int | None] = mapped_column(Id)
    stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AttemptRow(Base):
    """One outbound call as stored (``integrations.http.Attempt`` is the call as made)."""

    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    booking_id: Mapped[int | None] = mapped_column(Id, index=True)
    target: Mapped[str] = mapped_column(String(63))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    excerpt: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class HandOff(Base):
    """One hand-off of an event's deliverable (album link, attendance) to the tenant's portal.

    Unique per booking and event end (``delivery_key`` is derived from both and is what the
    portal sees as ``webhook-id`` / ``Idempotency-Key``): re-running the sweep, a redelivered
    task or a replay finds this row and never sends twice. A reschedule gives the event a new
    end, hence a new row. ``state``: pending → sending (leased until ``lease_until``) →
    delivered | failed | skipped. Not a delivery: that word is the inbound webhook inbox's.
    Table ``handoffs`` (``portal_deliveries`` before migration 0006).
    """

    __tablename__ = "handoffs"
    __table_args__ = (
        UniqueConstraint("booking_id", "ends_at"),
        Index("ix_handoffs_state", "state", "queued_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    tenant: Mapped[str] = mapped_column(String(63))
    portal: Mapped[str] = mapped_column(String(63))
    platform: Mapped[str] = mapped_column(String(63))
    event_id: Mapped[str] = mapped_column(String(255))
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivery_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # what was handed over, without people: {"kind", "album_url", "attendees", "attended"}
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncIntent(Base):
    """One effect on a booking's platform event, written before the call (``worker.sync.intents``).

    ``operation``: create | update | cancel. ``finished_at`` NULL = ambiguous: the worker died
    (or the call timed out) between committing the intent and committing its outcome. A create
    intent keeps the booking ``message`` it was sent for, so a cancellation can still find (or
    replay) the event that create may have made. ``outcome``: see ``worker.intents.Outcome``.
    """

    __tablename__ = "sync_intents"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(20))
    event_id: Mapped[str | None] = mapped_column(String(255))


class AuditRecord(Base):
    """One erasure, retention purge, replay or reload (``worker.privacy.audit``): counts, no
    people."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    action: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[str | None] = mapped_column(String(63))
    counts: Mapped[dict[str, int]] = mapped_column(JSON)


class AlertRow(Base):
    """One alert group's episode (``worker.alerts``): from the first time its cause is seen
    until it is gone. ``open_key`` is the group key while the episode is open, NULL once it
    closed: unique, so one open episode per group however many runs race. ``message_key`` is
    the message that carries it to the sink (written before the send: the sink's dedupe key);
    ``sent_at`` is set after the sink's 2xx. Ids, slugs and counts only, never people."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    group_key: Mapped[str] = mapped_column(String(255))
    open_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    tenant: Mapped[str] = mapped_column(String(63))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    command: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_key: Mapped[str | None] = mapped_column(String(64), index=True)
    composed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def table(model: type[Base]) -> Table:
    """A model's table, for Core statements on the hot path (no ORM unit of work)."""
    return cast(Table, model.__table__)
